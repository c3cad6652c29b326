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

// TestLazyDeadlines: the timeouts and their overrides as lazyConn keeps
// them, on a real socket pair.
func TestLazyDeadlines(t *testing.T) {
	ms := func(n int64) int64 { return n * int64(time.Millisecond) }
	tt := &timeouts{read: ms(150), idle: ms(400), write: ms(1000), slack: ms(10)}
	conn := func() (*lazyConn, net.Conn, *atomic.Int64) {
		a, b := tcpPair(t)
		var moves atomic.Int64
		return &lazyConn{Conn: countingConn{a, &moves}, t: tt, rFresh: true, wFresh: true}, b, &moves
	}
	timesOut := func(c *lazyConn, lo, hi time.Duration) {
		t.Helper()
		t0 := time.Now()
		_, err := c.Read(make([]byte, 1))
		if d := time.Since(t0); !errors.Is(err, os.ErrDeadlineExceeded) || d < lo || d > hi {
			t.Fatalf("read: %v after %v, want a timeout after %v to %v", err, d, lo, hi)
		}
	}

	t.Run("a new connection waits the read timeout", func(t *testing.T) {
		c, _, moves := conn()
		timesOut(c, 130*time.Millisecond, 2*time.Second)
		if moves.Load() != 1 {
			t.Fatalf("%d deadline moves, want 1", moves.Load())
		}
	})
	t.Run("a request's bytes trickling in do not extend its read timeout", func(t *testing.T) {
		c, b, _ := conn()
		c.phase(false)
		t0 := time.Now()
		go func() {
			for range 20 {
				if _, err := b.Write([]byte("x")); err != nil {
					return
				}
				time.Sleep(30 * time.Millisecond)
			}
		}()
		for {
			if _, err := c.Read(make([]byte, 1)); err != nil {
				if d := time.Since(t0); !errors.Is(err, os.ErrDeadlineExceeded) || d > 400*time.Millisecond { // extended by each byte, it would end past 750 ms
					t.Fatalf("trickle: %v after %v", err, d)
				}
				return
			}
			if time.Since(t0) > 2*time.Second {
				t.Fatal("a trickling request was never cut off")
			}
		}
	})
	t.Run("idle waits the idle timeout, a set deadline overrides until the request ends", func(t *testing.T) {
		c, _, _ := conn()
		c.phase(true)
		timesOut(c, 380*time.Millisecond, 3*time.Second)
		c, _, _ = conn()
		c.phase(false)
		c.SetReadDeadline(time.Now().Add(600 * time.Millisecond)) // as fasthttp does for an upload's body
		timesOut(c, 580*time.Millisecond, 3*time.Second)
		c, _, _ = conn()
		c.phase(false)
		c.SetReadDeadline(time.Now().Add(time.Hour))
		c.SetReadDeadline(time.Time{}) // restores the timeouts
		timesOut(c, 130*time.Millisecond, 2*time.Second)
	})
	t.Run("a phase's reads move the socket's deadline once", func(t *testing.T) {
		c, b, moves := conn()
		c.phase(true)
		for i := range 50 {
			b.Write([]byte("y"))
			if _, err := c.Read(make([]byte, 1)); err != nil {
				t.Fatalf("read %d: %v", i, err)
			}
		}
		if moves.Load() != 1 {
			t.Fatalf("%d deadline moves for 50 reads in one phase, want 1", moves.Load())
		}
	})
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
