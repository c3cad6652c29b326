//go:build !race

package bench_test

import (
	"bytes"
	"context"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/yrd-hcx/hcx/bench"
)

// TestLoopAllocs: the client's hot path allocates nothing per request, in
// each mode. The server is a raw loop writing one canned answer per request
// (no allocation either), and allocations are counted between two progress
// samples, so the setup does not count.
func TestLoopAllocs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	one := `{"id":"1101**********002X","status":"green","since":null,"sources":[],"asOf":"2026-11-26","stale":[]}` + "\n"
	var batch bytes.Buffer
	for range 100 {
		batch.WriteString(one)
	}
	answer := func(body string) []byte {
		return []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + itoa(len(body)) + "\r\n\r\n" + body)
	}
	single, many := answer(one), answer(batch.String())
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					// Requests end with an empty line (GET) or with the
					// batch body's last newline after it (POST): one
					// answer per request head.
					for i := 0; i+4 <= n; i++ {
						if buf[i] == '\r' && buf[i+1] == '\n' && buf[i+2] == '\r' && buf[i+3] == '\n' {
							if buf[0] == 'P' {
								c.Write(many)
							} else {
								c.Write(single)
							}
						}
					}
				}
			}()
		}
	}()
	id, _ := bench.ParseID("11010519491231002X")
	qs := []bench.Query{{ID: id, Want: bench.Green}}
	for _, tc := range []struct {
		name            string
		pipeline, batch int
	}{{"single", 1, 0}, {"pipelined", 16, 0}, {"batch", 1, 100}} {
		t.Run(tc.name, func(t *testing.T) {
			var samples []struct{ mallocs, requests uint64 }
			res, err := bench.Run(context.Background(), bench.Config{
				URL: "http://" + ln.Addr().String(), Connections: 1, Pipeline: tc.pipeline, Batch: tc.batch,
				Duration: time.Second, Warmup: 200 * time.Millisecond, Queries: qs, SampleInterval: 200 * time.Millisecond,
				Progress: func(p bench.Progress) {
					if p.Elapsed > 0 {
						var ms runtime.MemStats
						runtime.ReadMemStats(&ms)
						samples = append(samples, struct{ mallocs, requests uint64 }{ms.Mallocs, p.Requests})
					}
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Failed() || len(samples) < 3 {
				t.Fatalf("errors %v, wrong %d, %d samples", res.ErrorsByKind, res.WrongAnswers, len(samples))
			}
			a, b := samples[0], samples[len(samples)-2]
			reqs := b.requests - a.requests
			// Each sample appends to the series and ReadMemStats
			// itself allocates: allow a few per sample.
			per := float64(b.mallocs-a.mallocs) / float64(reqs)
			t.Logf("%d requests, %.4f allocations per request", reqs, per)
			if reqs < 1000 || per > 0.01 {
				t.Fatalf("%d requests, %.4f allocations per request; want 0", reqs, per)
			}
		})
	}
}

func itoa(n int) string {
	var b []byte
	for {
		b = append([]byte{byte('0' + n%10)}, b...)
		if n /= 10; n == 0 {
			return string(b)
		}
	}
}
