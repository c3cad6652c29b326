package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/yrd-hcx/hcx/internal/auth"
	"github.com/yrd-hcx/hcx/internal/fixture"
)

// slowBody opens a connection, sends head and then one byte of body every
// 50 ms until an answer arrives or limit passes. It returns the answer's
// status line and headers, how long after the head they came, and whether
// the server then closed the connection although the body was not done.
func slowBody(t *testing.T, addr, head string, limit time.Duration) (status string, body []byte, after time.Duration, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got := make(chan *http.Response, 1)
	br := bufio.NewReader(c)
	go func() {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			res = nil
		}
		got <- res
	}()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case res := <-got:
			if res == nil {
				return "", nil, time.Since(start), true
			}
			after = time.Since(start)
			body, _ := io.ReadAll(res.Body)
			// The body was not finished: a server that closes answers EOF
			// (or a reset, for the bytes it left unread); one that drains
			// would wait for more.
			c.SetReadDeadline(time.Now().Add(time.Second))
			_, err := br.ReadByte()
			var ne net.Error
			return res.Status, body, after, res.Close && err != nil && !(errors.As(err, &ne) && ne.Timeout())
		case <-tick.C:
			if time.Since(start) > limit {
				return "", nil, time.Since(start), false
			}
			c.SetWriteDeadline(time.Now().Add(time.Second))
			c.Write([]byte("0"))
		}
	}
}

// TestRefusedBodiesAreNotRead: a request the server will refuse is answered
// from its headers while its body is still arriving, and its connection is
// closed rather than drained; only a token that may upload to the region in
// the path buys the long upload read timeout.
func TestRefusedBodiesAreNotRead(t *testing.T) {
	e := newEnv(t, Config{ReadTimeout: 2 * time.Second, UploadTimeout: time.Minute}, true)
	addr := strings.TrimPrefix(e.base, "http://")
	head := func(method, path, token string, extra ...string) string {
		h := method + " " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: 100000\r\n"
		if token != "" {
			h += "Authorization: Bearer " + e.tokens[token] + "\r\n"
		}
		for _, x := range extra {
			h += x + "\r\n"
		}
		return h + "\r\nid"
	}
	for _, c := range []struct {
		name, head, want string
	}{
		{"upload without a token", head("PUT", "/v1/uploads/sh/2026-11-27", ""), "401"},
		{"upload with a lookup token", head("PUT", "/v1/uploads/sh/2026-11-27", auth.Lookup), "403"},
		{"upload with another region's token", head("PUT", "/v1/uploads/sh/2026-11-27", auth.Upload("js")), "403"},
		{"upload to a path with no date", head("PUT", "/v1/uploads/sh", auth.Upload("sh")), "404"},
		{"batch without a token", head("POST", "/v1/status", ""), "401"},
		{"batch with an upload token", head("POST", "/v1/status", auth.Upload("sh")), "403"},
		{"body to an unknown path", head("POST", "/v1/nope", auth.Lookup), "404"},
		{"body to the wrong method", head("PUT", "/v1/status", auth.Lookup), "405"},
		{"upload without a token, 100-continue", head("PUT", "/v1/uploads/sh/2026-11-27", "", "Expect: 100-continue"), "401"},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, body, after, closed := slowBody(t, addr, c.head, 5*time.Second)
			if !strings.HasPrefix(status, c.want) || after > time.Second {
				t.Fatalf("%q after %v, want %s within a second", status, after, c.want)
			}
			if !closed {
				t.Fatal("connection not closed")
			}
			var m map[string]string
			if err := json.Unmarshal(body, &m); err != nil || m["error"] == "" {
				t.Fatalf("not a JSON error: %q", body)
			}
		})
	}

	// The upload token's request gets the long timeout: a body trickling in
	// for longer than the read timeout still lands.
	body := fixture.CSV(e.sh)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "PUT /v1/uploads/sh/2026-11-27 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", e.tokens[auth.Upload("sh")], len(body))
	start := time.Now()
	for i := 0; i < len(body); i += len(body)/30 + 1 {
		io.WriteString(c, body[i:min(i+len(body)/30+1, len(body))])
		time.Sleep(100 * time.Millisecond)
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("slow authorised upload: %v %v", res, err)
	}
	if d := time.Since(start); d < 2*time.Second {
		t.Fatalf("the upload took %v: not longer than the read timeout, so it proves nothing", d)
	}
}

// zeros is an endless body of zero bytes that costs no memory.
type zeros struct{ n int64 }

func (z *zeros) Read(p []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	n := min(int64(len(p)), z.n)
	clear(p[:n])
	z.n -= n
	return int(n), nil
}

func rss(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status:", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// TestUnauthenticatedMultipart: three 200 MiB multipart bodies without a
// token, at once, are neither parsed, held nor spooled to temporary files:
// the server's memory hardly moves and its temporary directory stays empty.
func TestUnauthenticatedMultipart(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where fasthttp would spool multipart files
	e := newEnv(t, Config{}, true)
	runtime.GC()
	debug.FreeOSMemory()
	base := rss(t)
	var peak int64
	var spooled []string
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if r := rss(t) - base; r > peak {
				peak = r
			}
			if ents, _ := os.ReadDir(tmp); len(ents) > 0 && spooled == nil {
				for _, d := range ents {
					spooled = append(spooled, d.Name())
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	const size = 200 << 20
	prefix := "--x\r\nContent-Disposition: form-data; name=\"f\"; filename=\"f\"\r\n\r\n"
	suffix := "\r\n--x--\r\n"
	var wg sync.WaitGroup
	answers := make([]string, 3)
	for i := range answers {
		wg.Go(func() {
			body := io.MultiReader(strings.NewReader(prefix), &zeros{size}, strings.NewReader(suffix))
			req, _ := http.NewRequest("POST", e.base+"/v1/status", body)
			req.ContentLength = int64(len(prefix) + size + len(suffix))
			req.Header.Set("Content-Type", "multipart/form-data; boundary=x")
			res, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
			if err != nil {
				answers[i] = err.Error()
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			answers[i] = res.Status
		})
	}
	wg.Wait()
	close(stop)
	<-sampled
	t.Logf("clients saw %q; server memory +%d KiB at most", answers, peak>>10)
	if len(spooled) > 0 {
		t.Errorf("temporary files while the bodies arrived: %v", spooled)
	}
	if peak > 40<<20 {
		t.Errorf("memory grew by %d MiB", peak>>20)
	}
}

// deadlineConn records the write deadline a handler sets.
type deadlineConn struct {
	net.Conn
	write time.Time
}

func (c *deadlineConn) SetWriteDeadline(t time.Time) error { c.write = t; return nil }
func (c *deadlineConn) RemoteAddr() net.Addr               { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
func (c *deadlineConn) LocalAddr() net.Addr                { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// TestLargeBodies: the snapshot file, the edge filter (plain even when
// gzip is asked for) and the web assets are sent from the published slice itself, not a copy, each
// with a write deadline of the write timeout plus its size at the minimum
// send rate.
func TestLargeBodies(t *testing.T) {
	asset := bytes.Repeat([]byte("wasm"), 1000)
	e := newEnv(t, Config{WriteTimeout: 3 * time.Second, MinSendRate: 1000, Web: fstest.MapFS{"hcx.wasm": {Data: asset}}}, true)
	st := e.srv.cur.Load()
	file, err := st.file.bytes(st.snap, e.store)
	if err != nil {
		t.Fatal(err)
	}
	pub := e.srv.edge.cur.Load()
	wasm, err := e.srv.loadAsset("hcx.wasm")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, uri, role, encoding string
		want                      []byte
	}{
		{"snapshot file", "/v1/snapshot/file", auth.Replica, "", file},
		{"edge filter", "/v1/edge/filter", auth.Replica, "", pub.file},
		{"edge filter, gzip asked", "/v1/edge/filter", auth.Replica, "gzip", pub.file},
		{"web asset", "/?asset=hcx.wasm", "", "", wasm.body},
		{"web asset, gzip", "/?asset=hcx.wasm", "", "gzip", wasm.gz},
	} {
		conn := &deadlineConn{}
		var ctx fasthttp.RequestCtx
		ctx.Init2(conn, nil, false)
		ctx.Request.SetRequestURI(c.uri)
		if c.role != "" {
			ctx.Request.Header.Set("Authorization", "Bearer "+e.tokens[c.role])
		}
		if c.encoding != "" {
			ctx.Request.Header.Set("Accept-Encoding", c.encoding)
		}
		start := time.Now()
		e.srv.handle(&ctx)
		body := ctx.Response.Body()
		if ctx.Response.StatusCode() != 200 || len(body) == 0 || len(body) != len(c.want) || &body[0] != &c.want[0] {
			t.Errorf("%s: %d, %d bytes, not the published slice", c.name, ctx.Response.StatusCode(), len(body))
			continue
		}
		want := 3*time.Second + time.Duration(len(body))*time.Millisecond // 1000 bytes a second
		if got := conn.write.Sub(start); got < want || got > want+time.Second {
			t.Errorf("%s (%d bytes): write deadline in %v, want %v", c.name, len(body), got, want)
		}
	}
}

// TestLargeBodyWriteTimeout: on a real connection, a 24 MiB asset reaches a
// client that starts reading only after the plain write timeout has passed
// (its deadline allows for its size), while a client that never reads is
// cut off once that allowance is spent.
func TestLargeBodyWriteTimeout(t *testing.T) {
	asset := bytes.Repeat([]byte("\x00asm"), 6<<20) // 24 MiB, sent as it is (no gzip asked for)
	// The allowance: 0.3 s + 24 MiB at 8 MiB/s = 3.3 s.
	e := newEnv(t, Config{WriteTimeout: 300 * time.Millisecond, MinSendRate: 8 << 20, Web: fstest.MapFS{"hcx.wasm": {Data: asset}}}, true)
	if r := e.do(t, "HEAD", "/?asset=hcx.wasm", "", nil); r.code != 200 { // loads (and gzips) the asset once, outside the timing
		t.Fatalf("HEAD: %d", r.code)
	}
	addr := strings.TrimPrefix(e.base, "http://")
	get := func(pause time.Duration) (int, time.Duration) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.(*net.TCPConn).SetReadBuffer(64 << 10) // keep the kernel from buffering it all
		start := time.Now()
		io.WriteString(c, "GET /?asset=hcx.wasm HTTP/1.1\r\nHost: x\r\n\r\n")
		time.Sleep(pause)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return 0, time.Since(start)
		}
		n, _ := io.Copy(io.Discard, res.Body)
		return int(n), time.Since(start)
	}
	if n, _ := get(700 * time.Millisecond); n != len(asset) {
		t.Fatalf("a client that paused past the write timeout got %d of %d bytes", n, len(asset))
	}
	if n, d := get(5 * time.Second); n == len(asset) {
		t.Fatalf("a client that read nothing for 5 s still got the whole body (%v)", d)
	}
}
