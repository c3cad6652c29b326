package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/yrd-hcx/hcx/internal/auth"
)

// FuzzAppendJSONString: the error writer's strings are what encoding/json
// writes, byte for byte, whatever the input.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "\x00\"\\", "\x7f<>&", "\u2028\u2029", "\xff\xfe", "日本\xe6\x97", "\b\f\n\r\t\x1f", strings.Repeat("\\", 40)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendJSONString(nil, s)
		want, _ := json.Marshal(s)
		if !bytes.Equal(got, want) {
			t.Fatalf("%q: got %s, encoding/json %s", s, got, want)
		}
	})
}

// raw sends one request as bytes on a fresh connection and reads the answer.
func raw(t *testing.T, addr, req string) (*http.Response, []byte) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%.60q: %v", req, err)
	}
	b, _ := io.ReadAll(res.Body)
	return res, b
}

// TestHostileRequestsJSON: paths, bodies and headers with NUL, quotes,
// backslashes, invalid UTF-8 and worse each get an error answer that is
// valid JSON with an error code and a detail, and that names none of the
// server's own paths or URLs.
func TestHostileRequestsJSON(t *testing.T) {
	e := newEnv(t, Config{MaxHeaderSize: 4096}, true)
	addr := strings.TrimPrefix(e.base, "http://")
	tok := func(role string) string { return "Authorization: Bearer " + e.tokens[role] + "\r\n" }
	get := func(path, hdr string) string { return "GET " + path + " HTTP/1.1\r\nHost: x\r\n" + hdr + "\r\n" }
	send := func(method, path, hdr, body string) string {
		return fmt.Sprintf("%s %s HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n%s", method, path, hdr, len(body), body)
	}
	for _, c := range []struct {
		name, req string
		code      int
	}{
		{"status path NUL quote backslash", get("/v1/status/%00%22%5C", tok(auth.Lookup)), 400},
		{"status path raw quote and backslash", get(`/v1/status/"\"`, tok(auth.Lookup)), 400},
		{"status path invalid UTF-8", get("/v1/status/%FF%FE%FD1234567890123", tok(auth.Lookup)), 400},
		{"status path 18 bytes of UTF-8", get("/v1/status/%E6%97%A5%E6%9C%AC%E6%97%A5%E6%9C%AC%E6%97%A5%E6%9C%AC", tok(auth.Lookup)), 400},
		{"region NUL quote backslash", get("/v1/regions/%00%22%5C/status/11010519491231002X", tok(auth.Lookup)), 404},
		{"region path without status", get("/v1/regions/sh%00", tok(auth.Lookup)), 404},
		{"upload region NUL quote backslash, lookup token", send("PUT", "/v1/uploads/%00%22%5C/2026-11-27", tok(auth.Lookup), "id,color\n"), 403},
		{"upload region NUL quote backslash, admin token", send("PUT", "/v1/uploads/%00%22%5C/2026-11-27", tok(auth.Admin), "id,color\n"), 422},
		{"upload date NUL", send("PUT", "/v1/uploads/sh/%00%22", tok(auth.Upload("sh")), "id,color\n"), 400},
		{"upload maxInvalid quote", send("PUT", "/v1/uploads/sh/2026-11-27?maxInvalid=%22%00", tok(auth.Upload("sh")), "id,color\n"), 400},
		{"upload body NUL and invalid UTF-8", send("PUT", "/v1/uploads/sh/2026-11-27", tok(auth.Upload("sh")), "id,color\n\x00\xff\"\\,red\n"), 422},
		{"upload bad gzip", send("PUT", "/v1/uploads/sh/2026-11-27", tok(auth.Upload("sh"))+"Content-Encoding: gzip\r\n", "\x1f\x8b\x08\x00garbage"), 422},
		{"unknown path NUL", get("/v1/nope%00%22", ""), 404},
		{"unknown path invalid UTF-8", get("/%FF%FE", ""), 404},
		{"batch JSON with NUL", send("POST", "/v1/status", tok(auth.Lookup)+"Content-Type: application/json\r\n", "{\"ids\":[\x00]}"), 400},
		{"batch JSON invalid UTF-8 key", send("POST", "/v1/status", tok(auth.Lookup)+"Content-Type: application/json\r\n", "{\"\xff\":1,"), 400},
		{"batch JSON wrong type", send("POST", "/v1/status", tok(auth.Lookup)+"Content-Type: application/json\r\n", `{"ids":"\"\\"}`), 400},
		{"batch too large", send("POST", "/v1/status", tok(auth.Lookup), strings.Repeat("\x00", 2<<20)), 413},
		{"token with control bytes", get("/v1/status/11010519491231002X", "Authorization: Bearer \x01\"\\\r\n"), 400},
		{"token with invalid UTF-8", get("/v1/status/11010519491231002X", "Authorization: Bearer \xff\xfe\r\n"), 401},
		{"header too large", get("/healthz", "X-Big: "+strings.Repeat("\"\\", 3000)+"\r\n"), 431},
		{"bad content length", "POST /v1/status HTTP/1.1\r\nHost: x\r\nContent-Length: \"12\r\n\r\n", 400},
		{"bad request line", "GET /v1/status/\x00\"\\ HTTP/1.1 x\r\nHost: x\r\n\r\n", 400},
		{"method with a quote", "PU\"T /v1/status HTTP/1.1\r\nHost: x\r\n\r\n", 400},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, body := raw(t, addr, c.req)
			if res.StatusCode != c.code {
				t.Errorf("%d, want %d: %s", res.StatusCode, c.code, body)
			}
			if !json.Valid(body) {
				t.Fatalf("not valid JSON: %q", body)
			}
			var m map[string]any
			json.Unmarshal(body, &m)
			if _, ok := m["error"].(string); !ok {
				t.Errorf("no error code: %s", body)
			}
			if _, ok := m["detail"].(string); !ok {
				t.Errorf("no detail: %s", body)
			}
			for _, leak := range []string{e.store.Dir, "http://", "127.0.0.1"} {
				if bytes.Contains(body, []byte(leak)) {
					t.Errorf("the answer names %q: %s", leak, body)
				}
			}
		})
	}
}
