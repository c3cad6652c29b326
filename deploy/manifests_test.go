// Package deploy holds the Kubernetes manifests of docs/deploy.md; this test
// keeps them valid: parseable, with the fields Kubernetes requires and the
// wiring the guide promises (probes, selectors, the replica flags).
package deploy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"gopkg.in/yaml.v3"
)

type object = map[string]any

func get(o any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := o.(map[string]any)
			o = m[k]
		case int:
			s, _ := o.([]any)
			if k >= len(s) {
				return nil
			}
			o = s[k]
		}
	}
	return o
}

func load(t *testing.T) map[string]object {
	t.Helper()
	files, _ := filepath.Glob("k8s/*.yaml")
	if len(files) == 0 {
		t.Fatal("no manifests")
	}
	out := map[string]object{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var o object
			if err := dec.Decode(&o); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			kind, _ := get(o, "kind").(string)
			name, _ := get(o, "metadata", "name").(string)
			if get(o, "apiVersion") == nil || kind == "" || name == "" {
				t.Fatalf("%s: an object without apiVersion, kind or metadata.name", f)
			}
			out[kind+"/"+name] = o
		}
	}
	return out
}

func TestManifests(t *testing.T) {
	objs := load(t)
	for _, want := range []string{"StatefulSet/hcx-publisher", "Service/hcx-publisher", "Deployment/hcx", "Service/hcx",
		"HorizontalPodAutoscaler/hcx", "Ingress/hcx", "ConfigMap/hcx-regions"} {
		if objs[want] == nil {
			t.Errorf("missing %s", want)
		}
	}
	// Every workload: selector matches its pod labels, probes on the hcx
	// endpoints, and a Service selecting its pods.
	for _, name := range []string{"StatefulSet/hcx-publisher", "Deployment/hcx"} {
		o := objs[name]
		sel, _ := get(o, "spec", "selector", "matchLabels").(map[string]any)
		labels, _ := get(o, "spec", "template", "metadata", "labels").(map[string]any)
		if len(sel) == 0 {
			t.Errorf("%s: no selector", name)
		}
		for k, v := range sel {
			if labels[k] != v {
				t.Errorf("%s: selector %s=%v does not match the pod labels", name, k, v)
			}
		}
		c := get(o, "spec", "template", "spec", "containers", 0)
		if get(c, "readinessProbe", "httpGet", "path") != "/readyz" || get(c, "livenessProbe", "httpGet", "path") != "/healthz" {
			t.Errorf("%s: probes must be /readyz and /healthz", name)
		}
		if get(c, "image") == nil || get(c, "args", 0) != "serve" {
			t.Errorf("%s: the container must run hcx serve", name)
		}
		matched := false
		for key, svc := range objs {
			if s, _ := get(svc, "spec", "selector").(map[string]any); key[:8] == "Service/" && len(s) > 0 {
				ok := true
				for k, v := range s {
					ok = ok && labels[k] == v
				}
				matched = matched || ok
			}
		}
		if !matched {
			t.Errorf("%s: no Service selects its pods", name)
		}
	}
	args, _ := get(objs["Deployment/hcx"], "spec", "template", "spec", "containers", 0, "args").([]any)
	for _, flag := range []string{"--replica-of", "--token-file", "--poll"} {
		if !slices.Contains(args, any(flag)) {
			t.Errorf("replicas lack %s", flag)
		}
	}
	if get(objs["StatefulSet/hcx-publisher"], "spec", "volumeClaimTemplates", 0, "metadata", "name") != "data" {
		t.Error("the publisher needs its data volume")
	}
	if get(objs["HorizontalPodAutoscaler/hcx"], "spec", "scaleTargetRef", "name") != "hcx" {
		t.Error("the autoscaler must target the replicas")
	}
	if get(objs["Ingress/hcx"], "spec", "tls", 0, "secretName") == nil {
		t.Error("the ingress must terminate TLS")
	}
}
