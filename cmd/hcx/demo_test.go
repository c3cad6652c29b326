package main

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/yrd-hcx/hcx/server"
)

// demoRun is an hcx demo started in dir, with the banner it printed up to
// its example calls.
type demoRun struct {
	base   string
	banner map[string]string
	stderr *lockedBuffer
}

// startDemo runs hcx demo in dir until the test ends.
func startDemo(t *testing.T, dir string) demoRun {
	t.Helper()
	for attempt := 1; ; attempt++ {
		addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
		d := demoRun{base: "http://" + addr, banner: map[string]string{}, stderr: &lockedBuffer{}}
		cmd := exec.Command(hcxBin, "demo", "--listen", addr, "--records", "2000")
		cmd.Dir, cmd.Stderr = dir, d.stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		t.Cleanup(func() { cmd.Process.Kill(); <-exited })
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), ":")
			d.banner[strings.TrimSpace(k)] = strings.TrimSpace(v)
			if k == "Try" {
				break
			}
		}
		go func() { io.Copy(io.Discard, stdout); cmd.Wait(); close(exited) }()
		if _, ok := d.banner["Try"]; ok {
			return d
		}
		<-exited
		if attempt < 5 && bytes.Contains(d.stderr.Bytes(), []byte("address already in use")) {
			continue
		}
		t.Fatalf("hcx demo printed %v and exited\nstderr:\n%s", d.banner, clip(string(d.stderr.Bytes())))
	}
}

func (d demoRun) get(t *testing.T, path string) (*http.Response, []byte) {
	t.Helper()
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get(d.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// TestDemoWebVerifier: the README's first command serves the web verifier
// even from a binary built without it (go run, go build: it builds the
// page from the source tree), and prints the page's address.
func TestDemoWebVerifier(t *testing.T) {
	t.Parallel()
	d := startDemo(t, ".")
	page := d.banner["web verifier"]
	if !strings.HasPrefix(page, d.base+"/#") {
		t.Errorf("the demo printed the page as %q, want %s/#...", page, d.base)
	}
	resp, body := d.get(t, "/")
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"publicKey":"`)) || bytes.Contains(body, []byte("not in this build")) {
		t.Fatalf("GET /: %d, the verifier page? %s", resp.StatusCode, clip(string(body)))
	}
	resp, body = d.get(t, "/?asset=hcx.wasm")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/wasm" || !bytes.HasPrefix(body, []byte("\x00asm")) {
		t.Fatalf("GET /?asset=hcx.wasm: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// TestDemoWithoutSource: a binary with no verifier embedded, run away from
// the source tree, says so in its banner and serves the API all the same.
func TestDemoWithoutSource(t *testing.T) {
	if server.HasWebVerifier() {
		t.Skip("this build embeds the web verifier (make build): the demo builds nothing")
	}
	t.Parallel()
	d := startDemo(t, t.TempDir())
	missing := false
	for k := range d.banner {
		missing = missing || strings.Contains(k, "NOT AVAILABLE")
	}
	if !missing {
		t.Errorf("the banner does not say the verifier is missing: %v", d.banner)
	}
	if resp, body := d.get(t, "/"); resp.StatusCode != 200 || !bytes.Contains(body, []byte("not in this build")) {
		t.Errorf("GET /: %d %s", resp.StatusCode, clip(string(body)))
	}
	if resp, _ := d.get(t, "/readyz"); resp.StatusCode != 200 {
		t.Errorf("/readyz: %d", resp.StatusCode)
	}
}
