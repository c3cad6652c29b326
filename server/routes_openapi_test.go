package server

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestRoutesAreTheOpenAPIPaths: the route table and docs/openapi.yaml name
// the same endpoints, so an endpoint added to one and not the other fails
// here (and TestOpenAPI then holds each to its description).
func TestRoutesAreTheOpenAPIPaths(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "docs", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var described, served []string
	for path, ops := range doc.Paths {
		for method := range ops {
			switch method {
			case "get", "put", "post", "delete", "options", "head", "patch", "trace":
				described = append(described, strings.ToUpper(method)+" "+path)
			}
		}
	}
	for _, r := range routes {
		served = append(served, r.method+" "+r.path)
	}
	slices.Sort(described)
	slices.Sort(served)
	for _, e := range served {
		if !slices.Contains(described, e) {
			t.Errorf("%s is served but not in docs/openapi.yaml", e)
		}
	}
	for _, e := range described {
		if !slices.Contains(served, e) {
			t.Errorf("%s is in docs/openapi.yaml but not in the route table", e)
		}
	}
}
