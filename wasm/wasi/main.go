// Command wasi is the edge verifier for WASI runtimes (GOOS=wasip1
// GOARCH=wasm; `make wasm` writes dist/hcx-wasi.wasm). It builds natively
// too, which is how its tests compare the module with the native verifier.
//
//	hcx-wasi --pubkey HEX FILTER < ids > answers
//
// FILTER is the signed edge filter (`hcx edge export`, or GET
// /v1/edge/filter) at a path the runtime maps; HEX is the publisher's
// public key as `hcx init` printed it. IDs are read one a line from stdin
// (blank lines skipped) and answered one JSON object a line on stdout, in
// order (wasm/verifier.AppendAnswer has the shape); a line starting HCX1:
// is a health code, verified against the filter's trust list and answered
// as docs/health-codes.md says (wasm/verifier.AppendCodeAnswer). Output is
// flushed whenever stdin has nothing more buffered, so it works
// interactively too.
//
// Exit status: 0 answered everything; 1 the filter is unreadable, corrupt,
// unsigned, signed by another key, or a read or write failed; 2 usage.
package main

import (
	"errors"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/wasm/verifier"
)

const usage = "usage: hcx-wasi --pubkey HEX FILTER  (IDs or HCX1: health codes one a line on stdin; one JSON answer a line on stdout)\n"

func main() {
	os.Exit(run(os.Args[1:], retry{os.Stdin}, retry{os.Stdout}, os.Stderr))
}

// retry waits out EAGAIN: some runtimes (Node's WASI) hand the module
// non-blocking pipes, and Go's wasip1 os.File reports a full or empty pipe
// as an error rather than waiting.
type retry struct{ f *os.File }

func (r retry) Read(p []byte) (int, error) {
	for {
		n, err := r.f.Read(p)
		if n > 0 || !errors.Is(err, syscall.EAGAIN) {
			return n, err
		}
		time.Sleep(time.Millisecond)
	}
}

func (r retry) Write(p []byte) (int, error) {
	done := 0
	for {
		n, err := r.f.Write(p[done:])
		done += n
		if done == len(p) || !errors.Is(err, syscall.EAGAIN) {
			return done, err
		}
		if n == 0 {
			time.Sleep(time.Millisecond)
		}
	}
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var pubHex, path string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-h" || a == "--help" || a == "-help":
			io.WriteString(stdout, usage)
			return 0
		case a == "--pubkey" || a == "-pubkey":
			if i+1 >= len(args) {
				io.WriteString(stderr, usage)
				return 2
			}
			i++
			pubHex = args[i]
		case strings.HasPrefix(a, "--pubkey="):
			pubHex = a[len("--pubkey="):]
		case strings.HasPrefix(a, "-") && a != "-":
			io.WriteString(stderr, "hcx-wasi: unknown flag "+a+"\n"+usage)
			return 2
		case path == "":
			path = a
		default:
			io.WriteString(stderr, "hcx-wasi: one filter file only\n"+usage)
			return 2
		}
	}
	if pubHex == "" || path == "" {
		io.WriteString(stderr, usage)
		return 2
	}
	pub, err := verifier.ParsePublicKey(pubHex)
	if err != nil {
		io.WriteString(stderr, "hcx-wasi: "+err.Error()+"\n")
		return 2
	}
	file, err := os.ReadFile(path)
	if err != nil {
		io.WriteString(stderr, "hcx-wasi: "+err.Error()+"\n")
		return 1
	}
	f, err := engine.OpenEdge(file, engine.EdgeOpenOptions{PublicKey: pub})
	if err != nil {
		io.WriteString(stderr, "hcx-wasi: "+path+": "+err.Error()+"\n")
		return 1
	}
	if err := verifier.Stream(f, stdin, stdout); err != nil {
		io.WriteString(stderr, "hcx-wasi: "+err.Error()+"\n")
		return 1
	}
	return 0
}
