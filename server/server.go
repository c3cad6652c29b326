package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/internal/answer"
	"github.com/yrd-hcx/hcx/internal/auth"
	"github.com/yrd-hcx/hcx/loader"
)

// Config configures a Server. Zero durations and sizes take the defaults
// named beside them.
type Config struct {
	Store  *loader.Store // the data directory: keys, tokens, snapshot
	Logger *slog.Logger  // nil: discard

	MaxAge time.Duration // a region's list older than this is stale; 0: 36h
	// Poll is how often the data directory is checked for a snapshot written
	// by another process (hcx ingest); 0: 1s.
	Poll time.Duration

	ReadTimeout time.Duration // a request's headers and small body; 0: 10s
	// UploadTimeout is the time to read an upload's body, given only to a
	// request whose token may upload to the region it names; 0: 10m.
	UploadTimeout time.Duration
	WriteTimeout  time.Duration // a response; 0: 10s
	// MinSendRate, bytes per second, sizes the write timeout of the large
	// bodies (snapshot file, edge filter, web assets): WriteTimeout plus
	// their size at this rate; 0: 128 KiB/s.
	MinSendRate   int
	IdleTimeout   time.Duration // keep-alive connections; 0: 60s
	MaxConns      int           // concurrent connections; 0: 10,000
	MaxHeaderSize int           // bytes; 0: 8 KiB
	MaxBatchBody  int           // bytes of a batch request body; 0: 1 MiB
	MaxUploadSize int64         // bytes of an upload body as sent; 0: 4 GiB
	MaxBatch      int           // IDs in one batch; 0: 10,000

	// ReplicaOf makes this server a read-only replica of a publisher: its
	// base URL, or the URL of a static copy of the snapshot file (.hcx).
	ReplicaOf    string
	ReplicaToken string        // bearer token with role replica, if the publisher needs one
	ReplicaPoll  time.Duration // 0: 10s

	// PublicEdge serves the edge filter to anyone, not only to tokens with
	// role edge or replica (hcx serve --public-edge). The filter is personal
	// data in another form (docs/edge-verifier.md): anyone with a population
	// register recovers most of the lists from it.
	PublicEdge bool

	// Web is the web verifier served at / (index.html, app.js, ...); nil:
	// the files embedded in this build (WebFiles).
	Web fs.FS
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.MaxAge, answer.DefaultMaxAge)
	def(&c.Poll, time.Second)
	def(&c.ReadTimeout, 10*time.Second)
	def(&c.UploadTimeout, 10*time.Minute)
	def(&c.WriteTimeout, 10*time.Second)
	def(&c.IdleTimeout, 60*time.Second)
	def(&c.ReplicaPoll, 10*time.Second)
	if c.MinSendRate <= 0 {
		c.MinSendRate = 128 << 10
	}
	if c.MaxConns == 0 {
		c.MaxConns = 10000
	}
	if c.MaxHeaderSize == 0 {
		c.MaxHeaderSize = 8 << 10
	}
	if c.MaxBatchBody == 0 {
		c.MaxBatchBody = 1 << 20
	}
	if c.MaxUploadSize == 0 {
		c.MaxUploadSize = loader.DefaultMaxBytes
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = 10000
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Web == nil {
		c.Web = WebFiles()
	}
}

// Server is the HTTP service. Safe for concurrent use.
type Server struct {
	cfg     Config
	log     *slog.Logger
	http    *fasthttp.Server
	metrics *metrics

	cur       atomic.Pointer[state]
	installMu sync.Mutex   // install.go: one install at a time
	uploading atomic.Int32 // uploads in flight (upload.go)
	tokens    atomic.Pointer[auth.Set]
	// snapInfo and tokensInfo identify the files New loaded, for the
	// watcher to compare.
	snapInfo, tokensInfo os.FileInfo
	conns                atomic.Pointer[limitListener]
	edge                 edgeState     // edge.go
	web                  webCache      // web.go
	replica              replicaStatus // replica.go
	issuerKeys           codeKeys      // codes.go

	mu      sync.Mutex
	tasks   []*task // in start order
	serving bool
	stopped bool
}

// A task is a goroutine the server runs beside the HTTP server.
type task struct {
	name   string
	cancel context.CancelFunc
	done   chan struct{}
}

// ErrStopped is what Serve returns on a server already shut down.
var ErrStopped = errors.New("server: shut down")

// New prepares a server on cfg.Store and loads its current snapshot, if any
// (without one the server runs but is not ready).
func New(cfg Config) (*Server, error) {
	cfg.defaults()
	if cfg.Store == nil {
		return nil, errors.New("server: no store")
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	s.metrics = newMetrics(s)
	if err := s.loadAtStart(); err != nil {
		return nil, err
	}
	s.http = &fasthttp.Server{
		Handler:        s.handle,
		ErrorHandler:   s.handleError,
		HeaderReceived: s.headerReceived, // access.go: how much of a body to read
		ExpectHandler:  s.expectContinue,
		// fasthttp would otherwise read and spool any multipart body, on any
		// path, before a handler could look at the token.
		DisablePreParseMultipartForm: true,
		Name:                         "hcx",
		Concurrency:                  cfg.MaxConns + 16, // limitListener refuses first, in JSON
		ReadBufferSize:               cfg.MaxHeaderSize,
		// The read, write and idle timeouts are the connections' own
		// (deadline.go), which fasthttp's hook tells where requests begin
		// and end; fasthttp's would move the deadlines on every request.
		ConnState:             connState,
		MaxRequestBodySize:    cfg.MaxBatchBody,
		StreamRequestBody:     true, // uploads are parsed as they arrive, never held whole
		NoDefaultDate:         true,
		NoDefaultContentType:  true,
		CloseOnShutdown:       true,
		SecureErrorLogMessage: true, // fasthttp would quote request bytes (IDs) in its logs
		Logger:                fasthttpLogger{s.log},
	}
	return s, nil
}

// Serve answers on ln until Shutdown. The first call also starts watching
// the data directory and, on a replica, following the publisher.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		ln.Close()
		return ErrStopped
	}
	if !s.serving {
		s.serving = true
		s.start("data directory watcher", s.watch)
		if s.cfg.ReplicaOf != "" {
			s.start("replica follower", s.follow)
		}
	}
	s.mu.Unlock()
	l := newLimitListener(ln, s.cfg.MaxConns, newTimeouts(&s.cfg))
	s.conns.Store(l)
	return s.http.Serve(l)
}

// start runs fn in a goroutine until Shutdown cancels its context; s.mu is
// held.
func (s *Server) start(name string, fn func(context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	t := &task{name: name, cancel: cancel, done: make(chan struct{})}
	s.tasks = append(s.tasks, t)
	go func() {
		defer close(t.done)
		fn(ctx)
	}()
}

// ListenAndServe listens on addr (host:port) and serves.
func (s *Server) ListenAndServe(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.log.Info("listening", "addr", ln.Addr().String(), "batch_vectors", engine.BatchVectors())
	return s.Serve(ln)
}

// Shutdown stops in the reverse of the start order: the HTTP server first
// (no new connections; requests in flight finish, until ctx ends), then the
// goroutines Serve started, last started first, each waited for. A
// snapshot being installed is installed before its goroutine ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.stopped = true
	tasks := s.tasks
	s.tasks = nil
	s.mu.Unlock()
	t0 := time.Now()
	err := s.http.ShutdownWithContext(ctx)
	s.log.Info("stopped", "component", "http server", "took", time.Since(t0))
	for i, t := range slices.Backward(tasks) {
		t0 := time.Now()
		t.cancel()
		select {
		case <-t.done:
			s.log.Info("stopped", "component", t.name, "took", time.Since(t0))
		case <-ctx.Done():
			for _, rest := range tasks[:i] {
				rest.cancel() // they stop on their own; nobody waits
			}
			return errors.Join(err, fmt.Errorf("stopping the %s: %w", t.name, ctx.Err()))
		}
	}
	return err
}

// Ready reports whether a snapshot is loaded.
func (s *Server) Ready() bool { return s.cur.Load() != nil }

// Snapshot returns the live snapshot (nil before the first).
func (s *Server) Snapshot() *engine.Snapshot {
	if st := s.cur.Load(); st != nil {
		return st.snap
	}
	return nil
}

// fasthttpLogger sends fasthttp's own messages to slog. Some quote the
// request they could not parse (its request line, a header), which may
// hold an ID or a token: runs of digits long enough to be most of an ID,
// and anything shaped like a token, are cut out.
type fasthttpLogger struct{ l *slog.Logger }

var idLike = regexp.MustCompile(`hcx_[0-9a-fA-F]+|[0-9]{6,}[0-9Xx]*`)

func (f fasthttpLogger) Printf(format string, args ...any) {
	f.l.Warn(idLike.ReplaceAllString(fmt.Sprintf(format, args...), "[redacted]"))
}
