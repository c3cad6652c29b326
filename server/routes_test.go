package server

import (
	"bytes"
	"strings"
	"testing"

	"github.com/yrd-hcx/hcx/internal/auth"
)

// TestRouteTable: every line of the table is routed to its handler, with
// its metric label; its other methods get a 405 naming the ones it takes.
func TestRouteTable(t *testing.T) {
	e := newEnv(t, Config{}, true)
	concrete := strings.NewReplacer("{id}", e.sh[0], "{region}", "sh", "{date}", "2026-11-27")
	for j, r := range routes {
		path := concrete.Replace(r.path)
		i, rest, found := match([]byte(r.method), []byte(path))
		if !found || i != j {
			t.Errorf("%s %s: routed to %d", r.method, r.path, i)
			continue
		}
		if p, isPrefix := r.prefix(); isPrefix && string(rest) != path[len(p):] {
			t.Errorf("%s %s: rest %q", r.method, r.path, rest)
		}
		wrong := "DELETE"
		res := e.do(t, wrong, path, auth.Admin, nil)
		if res.code != 405 || !strings.Contains(res.hdr.Get("Allow"), r.method) || res.json(t)["error"] != "method_not_allowed" {
			t.Errorf("%s %s: %d, Allow %q", wrong, r.path, res.code, res.hdr.Get("Allow"))
		}
		if r.method == "GET" && !strings.Contains(res.hdr.Get("Allow"), "HEAD") {
			t.Errorf("%s: Allow %q lacks HEAD", r.path, res.hdr.Get("Allow"))
		}
	}
	// Two methods on one path: the Allow header names both.
	if r := e.do(t, "DELETE", "/v1/status", auth.Lookup, nil); r.hdr.Get("Allow") != "POST" {
		t.Errorf("Allow for /v1/status: %q", r.hdr.Get("Allow"))
	}
	if _, _, found := match([]byte("GET"), []byte("/v1/nope")); found {
		t.Error("an unknown path matched")
	}
	metrics := e.do(t, "GET", "/metrics", "", nil).body
	for _, r := range routes {
		if !bytes.Contains(metrics, []byte(`route="`+r.metric+`"`)) {
			t.Errorf("no metrics for route %q", r.metric)
		}
	}
	if !bytes.Contains(metrics, []byte(`hcx_requests_total{code="405",route="status"}`)) {
		t.Error("the 405 to /v1/status/{id} is not counted under its route")
	}
}
