package server

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yrd-hcx/hcx/internal/auth"
	"github.com/yrd-hcx/hcx/internal/fixture"
)

// TestScreening: ?only=listed answers only the people who are not green,
// each at its position, in both body forms; invalid IDs are answered as
// such; an all-green manifest answers nothing.
func TestScreening(t *testing.T) {
	e := newEnv(t, Config{}, true)
	ids := fixture.IDs(20, 50) // nobody lists them
	want := map[int]string{}
	for _, p := range []int{0, 7, 49} {
		ids[p] = e.sh[p] // red, yellow, yellow by fixture.Color
		want[p] = fixture.Color(p)
	}
	ids[12], want[12] = e.ah[1], "yellow"
	ids[30], want[30] = "110105194912310021", "invalid" // bad check digit
	ids[31], want[31] = "12345", "invalid"
	check := func(name string, items []map[string]any) {
		t.Helper()
		if len(items) != len(want) {
			t.Fatalf("%s: %d items, want %d: %v", name, len(items), len(want), items)
		}
		for _, m := range items {
			i, ok := m["i"].(float64)
			if !ok || want[int(i)] != m["status"] {
				t.Errorf("%s: item %v, want %v at its position", name, m, want[int(i)])
				continue
			}
			if id := ids[int(i)]; len(id) == 18 && m["id"] != mask(id) {
				t.Errorf("%s: item %d id %v, want %s", name, int(i), m["id"], mask(id))
			}
			if m["status"] == "invalid" && m["error"] == nil {
				t.Errorf("%s: invalid item without a reason: %v", name, m)
			}
		}
	}

	r := e.do(t, "POST", "/v1/status?only=listed", auth.Lookup, []byte(strings.Join(ids, "\n")), "Content-Type", "text/plain")
	if r.code != 200 || r.hdr.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("text: %d %s", r.code, r.body)
	}
	var items []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(string(r.body)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		items = append(items, m)
	}
	check("text", items)

	body, _ := json.Marshal(map[string]any{"ids": ids})
	r = e.do(t, "POST", "/v1/status?only=listed", auth.Lookup, body, "Content-Type", "application/json")
	var out struct {
		Results []map[string]any
		Count   *int
	}
	if err := json.Unmarshal(r.body, &out); err != nil || r.code != 200 || out.Count == nil || *out.Count != len(ids) {
		t.Fatalf("json: %d %s", r.code, r.body)
	}
	check("json", out.Results)

	green := strings.Join(fixture.IDs(21, 100), "\n")
	if r := e.do(t, "POST", "/v1/status?only=listed", auth.Lookup, []byte(green), "Content-Type", "text/plain"); r.code != 200 || len(r.body) != 0 {
		t.Fatalf("all green, text: %d %q", r.code, r.body)
	}
	body, _ = json.Marshal(map[string]any{"ids": fixture.IDs(21, 100)})
	if r := e.do(t, "POST", "/v1/status?only=listed", auth.Lookup, body, "Content-Type", "application/json"); r.code != 200 || string(r.body) != `{"results":[],"count":100}`+"\n" {
		t.Fatalf("all green, json: %d %s", r.code, r.body)
	}
	// The batch's limits hold; another filter is refused.
	if r := e.do(t, "POST", "/v1/status?only=listed", auth.Lookup, []byte(strings.Repeat(ids[1]+"\n", 10001))); r.code != 413 {
		t.Fatalf("10,001 IDs: %d", r.code)
	}
	if r := e.do(t, "POST", "/v1/status?only=red", auth.Lookup, []byte(ids[0])); r.code != 400 || r.json(t)["error"] != "bad_request" {
		t.Fatalf("only=red: %d %s", r.code, r.body)
	}
	if r := e.do(t, "POST", "/v1/status?only=listed", auth.Upload("sh"), []byte(ids[0])); r.code != 403 {
		t.Fatalf("upload token: %d", r.code)
	}
}

// TestPipelinedBatches: batches pipelined on eight connections at once,
// each answer sent from a pooled buffer without a copy, each the one its own
// IDs get alone; a screening among them. (With the buffer put back in the
// pool when the handler returns rather than once the answer is written,
// 7 or 8 of the 8 connections got another's bytes.)
func TestPipelinedBatches(t *testing.T) {
	e := newEnv(t, Config{}, true)
	const n = 12
	reqs, want := make([]string, n), make([]string, n)
	for i := range n {
		ids := append(fixture.IDs(uint64(100+i), 1000+i), e.sh[i], e.ah[i])
		path := "/v1/status"
		if i%5 == 4 {
			path += "?only=listed"
		}
		body := strings.Join(ids, "\n")
		r := e.do(t, "POST", path, auth.Lookup, []byte(body), "Content-Type", "text/plain")
		if r.code != 200 {
			t.Fatalf("batch %d alone: %d %s", i, r.code, r.body)
		}
		want[i] = string(r.body)
		reqs[i] = fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", path, e.tokens[auth.Lookup], len(body), body)
	}
	// Eight connections at once, with small socket buffers on both ends and
	// slow to start reading, so that writing an answer waits: a buffer back
	// in the pool before its answer was written would be another
	// connection's by then. Each connection sends the batches from another
	// start, so that another connection's answer is not the same bytes.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go e.srv.Serve(smallBuffers{ln})
	var wg sync.WaitGroup
	for k := range 8 {
		wg.Go(func() {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.(*net.TCPConn).SetReadBuffer(16 << 10)
			c.SetDeadline(time.Now().Add(20 * time.Second))
			var req strings.Builder
			for i := range n {
				req.WriteString(reqs[(k+i)%n])
			}
			go c.Write([]byte(req.String()))
			time.Sleep(100 * time.Millisecond) // the server's writes fill the socket's buffers and wait
			br := bufio.NewReader(c)
			for i := range n {
				res, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Errorf("answer %d: %v", i, err)
					return
				}
				got, _ := io.ReadAll(res.Body)
				if w := want[(k+i)%n]; string(got) != w {
					t.Errorf("answer %d (%d bytes) differs from the batch sent alone (%d bytes):\n got %.300s\nwant %.300s", (k+i)%n, len(got), len(w), got, w)
					return
				}
			}
		})
	}
	wg.Wait()
}

// smallBuffers gives the connections it accepts small send buffers.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		c.(*net.TCPConn).SetWriteBuffer(16 << 10)
	}
	return c, err
}
