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
	"strings"
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
		"HorizontalPodAutoscaler/hcx", "Ingress/hcx", "Ingress/hcx-lookups", "ConfigMap/hcx-regions"} {
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
	for _, name := range []string{"Ingress/hcx", "Ingress/hcx-lookups"} {
		if get(objs[name], "spec", "tls", 0, "secretName") == nil {
			t.Errorf("%s must terminate TLS", name)
		}
	}
}

// TestIngressLogsNoIDs: every route that carries a resident ID in its URL
// (the paths with an {id} in docs/openapi.yaml, and the page, which an old
// link may open with ?id=) goes through an Ingress whose access log is
// off, by the ingress's longest-match rule across both objects; uploads go
// to the publisher.
func TestIngressLogsNoIDs(t *testing.T) {
	objs := load(t)
	type route struct {
		ingress, path, typ, service string
		quiet                       bool
	}
	var routes []route
	for _, name := range []string{"Ingress/hcx", "Ingress/hcx-lookups"} {
		o := objs[name]
		quiet := get(o, "metadata", "annotations", "nginx.ingress.kubernetes.io/enable-access-log") == "false"
		paths, _ := get(o, "spec", "rules", 0, "http", "paths").([]any)
		for _, p := range paths {
			path, _ := get(p, "path").(string)
			typ, _ := get(p, "pathType").(string)
			svc, _ := get(p, "backend", "service", "name").(string)
			routes = append(routes, route{name, path, typ, svc, quiet})
		}
	}
	// match is Kubernetes' rule: Exact is the whole path; Prefix matches
	// element by element; the longest match wins.
	match := func(urlPath string) (best route, ok bool) {
		for _, r := range routes {
			hit := r.typ == "Exact" && urlPath == r.path ||
				r.typ == "Prefix" && (r.path == "/" || urlPath == strings.TrimSuffix(r.path, "/") || strings.HasPrefix(urlPath, strings.TrimSuffix(r.path, "/")+"/"))
			if hit && (!ok || len(r.path) > len(best.path) || len(r.path) == len(best.path) && r.typ == "Exact") {
				best, ok = r, true
			}
		}
		return best, ok
	}
	b, err := os.ReadFile(filepath.Join("..", "docs", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	withID := []string{"/"}
	for p := range doc.Paths {
		if strings.Contains(p, "{id}") {
			withID = append(withID, p)
		}
	}
	if len(withID) < 3 {
		t.Fatalf("openapi.yaml has %d paths with an {id}; want the lookups", len(withID)-1)
	}
	sample := strings.NewReplacer("{id}", "11010519491231002X", "{region}", "sh")
	for _, p := range withID {
		r, ok := match(sample.Replace(p))
		if !ok || !r.quiet || r.service != "hcx" {
			t.Errorf("%s goes to %+v: it must reach the replicas through an Ingress with its access log off", p, r)
		}
	}
	if r, _ := match("/v1/uploads/sh/2026-11-27"); r.service != "hcx-publisher" {
		t.Errorf("uploads go to %+v, not the publisher", r)
	}
	for _, p := range []string{"/v1/snapshot", "/v1/edge/filter", "/metrics", "/v1/status"} {
		if r, ok := match(p); !ok || r.service != "hcx" {
			t.Errorf("%s goes to %+v, not the replicas", p, r)
		}
	}
}
