package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteSection: only the text between the markers changes; a file
// without them gets the section appended; a missing file is created.
func TestWriteSection(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "BENCHMARKS.md")
	sec := func(body string) string { return beginMarker + "\n" + body + "\n" + endMarker + "\n" }

	if err := writeSection(p, sec("one")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != sec("one") {
		t.Fatalf("new file: %q", b)
	}
	other := "# Benchmarks\n\nEngine figures, someone else's.\n\n"
	tail := "\n\n## Loader\nMore of theirs.\n"
	os.WriteFile(p, []byte(other+strings.TrimSuffix(sec("old"), "\n")+tail), 0o644)
	if err := writeSection(p, sec("new")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != other+strings.TrimSuffix(sec("new"), "\n")+tail {
		t.Fatalf("replaced:\n%s", b)
	}
	os.WriteFile(p, []byte("# Theirs\n"), 0o644)
	if err := writeSection(p, sec("x")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "# Theirs\n\n"+sec("x") {
		t.Fatalf("appended: %q", b)
	}
	os.WriteFile(p, []byte("# Theirs\n"+beginMarker+"\n"), 0o644)
	if err := writeSection(p, sec("x")); err == nil {
		t.Fatal("one marker alone: want an error")
	}
}

func TestParseWrk(t *testing.T) {
	out := `Running 2s test @ http://127.0.0.1:1
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.23ms  650.00us  12.00ms   90.00%
  Latency Distribution
     50%  652.00us
     75%    1.00ms
     90%    2.00ms
     99%    1.01s
  90000 requests in 2.00s, 10.00MB read
  Socket errors: connect 0, read 3, write 1, timeout 2
  Non-2xx or 3xx responses: 5
Requests/sec:  45000.50
Transfer/sec:      5.00MB
`
	var r result
	if err := parseWrk(out, &r); err != nil {
		t.Fatal(err)
	}
	if r.rps != 45000.5 || r.p50 != 0.652 || r.p99 != 1010 || r.errors != 11 {
		t.Fatalf("parsed %+v", r)
	}
	if err := parseWrk("unable to connect", &r); err == nil {
		t.Fatal("no figure: want an error")
	}
}

func TestThousands(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567.4: "1,234,567"} {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%v) = %q, want %q", in, got, want)
		}
	}
}
