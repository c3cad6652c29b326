package main

import (
	"context"
	"errors"
	"flag"
	"net"
	"os"
	"strings"
	"time"

	"github.com/yrd-hcx/hcx/internal/answer"
	"github.com/yrd-hcx/hcx/loader"
	"github.com/yrd-hcx/hcx/server"
)

// serveFlags are the flags of serve (and demo).
type serveFlags struct {
	listen *string
	maxAge *time.Duration
	watch  *time.Duration
	token  *string
	cfg    server.Config
	tz     *zone
}

func addServeFlags(fs *flag.FlagSet) *serveFlags {
	f := &serveFlags{
		listen: fs.String("listen", "127.0.0.1:8080", "address to listen on"),
		maxAge: fs.Duration("max-age", answer.DefaultMaxAge, "a region whose newest list is older than this is reported stale"),
		watch:  fs.Duration("watch", time.Second, "how often to look in the data directory for a snapshot written by another process (hcx ingest)"),
		tz:     zoneFlag(fs),
	}
	fs.DurationVar(&f.cfg.ReadTimeout, "read-timeout", 10*time.Second, "time to read a request (not an upload's body)")
	fs.DurationVar(&f.cfg.UploadTimeout, "upload-timeout", 10*time.Minute, "time to read an upload's body")
	fs.DurationVar(&f.cfg.WriteTimeout, "write-timeout", 10*time.Second, "time to write a response (the large files get more: see --min-send-rate)")
	fs.IntVar(&f.cfg.MinSendRate, "min-send-rate", 128<<10, "bytes per second: the snapshot file, edge filter and web assets get --write-timeout plus their size at this rate")
	fs.DurationVar(&f.cfg.IdleTimeout, "idle-timeout", 60*time.Second, "keep-alive connection idle time")
	fs.IntVar(&f.cfg.MaxConns, "max-conns", 10000, "concurrent connections")
	fs.IntVar(&f.cfg.MaxBatch, "max-batch", 10000, "IDs in one batch request")
	fs.StringVar(&f.cfg.ReplicaOf, "replica-of", "", "follow this publisher (base URL, or URL of a static .hcx copy) as a read-only replica")
	f.token = fs.String("token-file", "", "file holding the bearer token (role replica) for --replica-of: it fetches the snapshot and the edge filter")
	fs.DurationVar(&f.cfg.ReplicaPoll, "poll", 10*time.Second, "how often a replica polls its publisher")
	fs.BoolVar(&f.cfg.PublicEdge, "public-edge", false, "serve the edge filter to anyone, not only to tokens with role edge or replica (the filter is personal data in another form: docs/edge-verifier.md)")
	return f
}

// start opens the store and the listener and serves until ctx ends; ready
// is called once the listener is up.
func (f *serveFlags) start(ctx context.Context, e *env, dir string, ready func(addr string)) error {
	cal := f.tz.calendar()
	st, err := loader.Open(dir, cal)
	if err != nil {
		return err
	}
	cfg := f.cfg
	cfg.Store, cfg.Logger, cfg.MaxAge, cfg.Poll = st, e.log, *f.maxAge, *f.watch
	if *f.token != "" {
		if cfg.ReplicaOf == "" {
			return usagef("--token-file goes with --replica-of")
		}
		b, err := os.ReadFile(*f.token)
		if err != nil {
			return err
		}
		cfg.ReplicaToken = strings.TrimSpace(string(b))
	}
	srv, err := server.New(cfg)
	if err != nil {
		return err
	}
	if cfg.PublicEdge {
		e.log.Warn("the edge filter is served without a token (--public-edge); with a population register it gives away most of the red and yellow lists (docs/edge-verifier.md)")
	}
	if !srv.Ready() {
		e.log.Warn("no snapshot yet: not ready until a daily file is ingested or uploaded", "dir", dir)
	}
	ln, err := net.Listen("tcp", *f.listen)
	if err != nil {
		return err
	}
	e.log.Info("serving", "addr", ln.Addr().String(), "data", dir)
	if ready != nil {
		ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	e.log.Info("shutting down: finishing requests in flight")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return <-errc
}

func cmdServe(ctx context.Context, e *env, args []string) error {
	fs := e.flags("serve", "--data DIR [--listen ADDR] [--public-edge] [--replica-of URL --token-file F [--poll 10s]]", "Serve the HTTP API (docs/http-api.md) from the data directory; hot-swaps snapshots written by uploads or by hcx ingest, or, as a replica, followed from a publisher. SIGTERM finishes requests in flight, then exits 0")
	dir := fs.String("data", defaultData, "data directory")
	f := addServeFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("serve takes no arguments")
	}
	return f.start(ctx, e, *dir, nil)
}
