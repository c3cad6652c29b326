// Package servertest starts an hcx server on a loopback port for the tests
// of other packages (the server's own tests, inside the package, have
// startServer).
package servertest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/yrd-hcx/hcx/server"
)

// Start serves cfg on 127.0.0.1 until the test ends (then shuts it down,
// waiting up to 5 s) and returns the server and its base URL.
func Start(t testing.TB, cfg server.Config) (*server.Server, string) {
	t.Helper()
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv, "http://" + ln.Addr().String()
}
