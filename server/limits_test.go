package server

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/yrd-hcx/hcx/internal/auth"
)

// rawRequest sends bytes on a fresh connection and returns what comes back
// until the server closes it or timeout passes.
func rawRequest(t *testing.T, addr, req string, timeout time.Duration) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(c)
	return string(b)
}

func TestHeaderTooLarge(t *testing.T) {
	e := newEnv(t, Config{MaxHeaderSize: 4096}, true)
	addr := strings.TrimPrefix(e.base, "http://")
	got := rawRequest(t, addr, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 8000)+"\r\n\r\n", 3*time.Second)
	if !strings.HasPrefix(got, "HTTP/1.1 431") || !strings.Contains(got, `"error":"headers_too_large"`) {
		t.Fatalf("got %.200q", got)
	}
}

// TestSlowClient: a client that sends half a request and stalls is cut off
// at the read timeout, and does not hold up anyone else meanwhile.
func TestSlowClient(t *testing.T) {
	e := newEnv(t, Config{ReadTimeout: 300 * time.Millisecond, IdleTimeout: 300 * time.Millisecond}, true)
	addr := strings.TrimPrefix(e.base, "http://")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /v1/status/"+e.sh[0]+" HTTP/1.1\r\nHost: x\r\n")
	start := time.Now()
	if r := e.do(t, "GET", "/v1/status/"+e.sh[1], auth.Lookup, nil); r.code != 200 {
		t.Fatalf("another client: %d", r.code)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	io.ReadAll(c) // returns when the server closes the connection
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("stalled connection held for %v", d)
	}
}

// TestMaxConns: past the connection limit a client gets a JSON 503; once a
// connection closes, a new one is served.
func TestMaxConns(t *testing.T) {
	e := newEnv(t, Config{MaxConns: 2}, true)
	addr := strings.TrimPrefix(e.base, "http://")
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		// A served request proves the connection was accepted and counted.
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("connection within the limit: %v", err)
		}
		held = append(held, c)
	}
	got := rawRequest(t, addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 3*time.Second)
	if !strings.HasPrefix(got, "HTTP/1.1 503") || !strings.Contains(got, `"error":"too_many_connections"`) {
		t.Fatalf("over the limit: %.200q", got)
	}
	held[0].Close()
	waitFor(t, func() bool {
		return strings.HasPrefix(rawRequest(t, addr, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", time.Second), "HTTP/1.1 200")
	})
	held[1].Close()
}
