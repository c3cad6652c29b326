package server

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yrd-hcx/hcx/internal/auth"
)

// countingConn counts the deadline changes that reach a real socket.
type countingConn struct {
	net.Conn
	moves *atomic.Int64
}

func (c countingConn) SetReadDeadline(t time.Time) error {
	c.moves.Add(1)
	return c.Conn.SetReadDeadline(t)
}

func (c countingConn) SetWriteDeadline(t time.Time) error {
	c.moves.Add(1)
	return c.Conn.SetWriteDeadline(t)
}

type countingListener struct {
	net.Listener
	moves atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{c, &l.moves}, nil
}

// TestDeadlinesCoalesced: 300 pipelined lookups on one connection, each of
// which has fasthttp ask for three deadlines, move the socket's deadlines a
// handful of times, not 900; and every answer still comes.
func TestDeadlinesCoalesced(t *testing.T) {
	e := newEnv(t, Config{}, true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	go e.srv.Serve(cl)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	const n = 300
	var req strings.Builder
	for i := range n {
		req.WriteString("GET /v1/status/" + e.sh[i%len(e.sh)] + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + e.tokens[auth.Lookup] + "\r\n\r\n")
	}
	go c.Write([]byte(req.String()))
	br := bufio.NewReader(c)
	for i := range n {
		res, err := http.ReadResponse(br, nil)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("answer %d: %v %v", i, err, res)
		}
		res.Body.Close()
	}
	if m := cl.moves.Load(); m > 20 {
		t.Fatalf("%d lookups moved the socket's deadlines %d times", n, m)
	} else {
		t.Logf("%d lookups, %d deadline moves", n, m)
	}
}

// TestLazyDeadlineFires: a deadline earlier than the socket's is given to
// it before the next read; one later by less than the slack is not, and
// the socket's fires instead (at most the slack early); none clears it.
func TestLazyDeadlineFires(t *testing.T) {
	a, b := tcpPair(t)
	var moves atomic.Int64
	c := &lazyConn{Conn: countingConn{a, &moves}, slack: int64(time.Second)}
	c.SetReadDeadline(time.Now().Add(time.Hour))
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond)) // replaces the hour before any read
	t0 := time.Now()
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v", err)
	}
	if d := time.Since(t0); d < 80*time.Millisecond || d > 2*time.Second {
		t.Fatalf("the deadline fired after %v, want 100ms", d)
	}
	if moves.Load() != 1 {
		t.Fatalf("%d deadline moves, want 1", moves.Load())
	}

	c.SetReadDeadline(time.Time{})
	b.Write([]byte("x"))
	if _, err := c.Read(make([]byte, 1)); err != nil {
		t.Fatalf("no deadline: %v", err)
	}
	d0 := time.Now().Add(200 * time.Millisecond)
	c.SetReadDeadline(d0)
	b.Write([]byte("y"))
	if _, err := c.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(d0.Add(500 * time.Millisecond)) // within the slack: the socket keeps d0
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) || time.Now().After(d0.Add(400*time.Millisecond)) {
		t.Fatalf("read with a deadline within the slack: %v at %v past the socket's", err, time.Since(d0))
	}
	if moves.Load() != 3 {
		t.Fatalf("%d deadline moves, want 3 (the first, none, d0)", moves.Load())
	}
}

// tcpPair is two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	b, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// TestTokenCacheFollowsTokens: on one keep-alive connection (a refused GET
// has no body to skip, so it keeps the connection open), a token
// switched for an unknown one is refused and the known one served again;
// and once the tokens file drops a token, its next request on the same
// connection is refused (the connection's cache is not a way around a
// revocation).
func TestTokenCacheFollowsTokens(t *testing.T) {
	e := newEnv(t, Config{}, true)
	c, err := net.Dial("tcp", strings.TrimPrefix(e.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	n := 0
	ask := func(tok string) int {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		name := []string{"Authorization", "authorization", "AUTHORIZATION"}[n%3] // any case is the same header
		n++
		if _, err := c.Write([]byte("GET /v1/status/" + e.sh[0] + " HTTP/1.1\r\nHost: x\r\n" + name + ": Bearer " + tok + "\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	tok := e.tokens[auth.Lookup]
	for i, want := range []struct {
		tok  string
		code int
	}{{tok, 200}, {tok, 200}, {"hcx_" + strings.Repeat("0", 64), 401}, {tok, 200}, {tok[:len(tok)-1] + "x", 401}, {tok, 200}} {
		if got := ask(want.tok); got != want.code {
			t.Fatalf("request %d: %d, want %d", i, got, want.code)
		}
	}
	// Keep every token but the lookup one, as hcx token revoke would.
	b, err := os.ReadFile(e.store.TokensPath())
	if err != nil {
		t.Fatal(err)
	}
	h := auth.Hash(tok)
	var kept []string
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if !strings.HasPrefix(line, fmt.Sprintf("%x", h[:])) {
			kept = append(kept, line)
		}
	}
	if err := os.WriteFile(e.store.TokensPath(), []byte(strings.Join(kept, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return ask(tok) == 401 })
}
