// Command nethttpmap is the net/http baseline of make compare: GET
// /v1/status/{id} and POST /v1/status (newline-separated IDs, NDJSON
// answers) over a Go map of a generated day. No auth, no metrics.
package main

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/yrd-hcx/hcx/bench/baseline"
)

func main() {
	f := baseline.ParseFlags("nethttpmap")
	m, err := baseline.Load(f.Data)
	if err != nil {
		fmt.Fprintln(os.Stderr, "nethttpmap:", err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status/{id}", func(w http.ResponseWriter, r *http.Request) {
		var buf [128]byte
		b, err := baseline.Append(buf[:0], m, []byte(strings.TrimPrefix(r.URL.Path, "/v1/status/")))
		if err != nil {
			http.Error(w, `{"error":"invalid_id"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	})
	mux.HandleFunc("POST /v1/status", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		out := make([]byte, 0, 64*(len(body)/19+1))
		for line := range bytes.SplitSeq(body, []byte{'\n'}) {
			if line = bytes.TrimSpace(line); len(line) == 0 {
				continue
			}
			if out, err = baseline.Append(out, m, line); err != nil {
				out = append(out, `{"status":"invalid"}`+"\n"...)
			}
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Write(out)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ready\n") })
	ln, err := net.Listen("tcp", f.Listen)
	if err != nil {
		log.Fatal(err)
	}
	baseline.Ready("nethttpmap", ln.Addr().String(), len(m))
	log.Fatal(http.Serve(ln, mux))
}
