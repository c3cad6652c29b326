// Package server is the hcx HTTP API on fasthttp (DESIGN section 5): lookups
// for gates, uploads for regions, the snapshot for replicas, metrics.
//
// # Usage
//
//	srv, err := server.New(server.Config{Store: store, Logger: log})
//	go srv.Serve(ln) // or ListenAndServe
//	...
//	srv.Shutdown(ctx) // stop accepting, finish requests in flight
//
// # Concurrency
//
// The current snapshot sits behind an atomic pointer. A request loads it once
// and answers from it to the end, so a swap (an upload, a change on disk)
// never fails or mixes a request; the old snapshot is freed by the garbage
// collector once the last request using it is done. Uploads are serialised.
//
// # Performance
//
// The lookup path does not allocate: routing is by byte prefix, the token is
// checked by its SHA-256, metrics are pre-resolved counters, and the JSON is
// appended into a stack buffer (handler_alloc_test.go).
package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"regexp"
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
}

// state is everything a request reads, swapped as one.
type state struct {
	snap *engine.Snapshot
	view *answer.View
	file []byte // the signed snapshot file, for replicas
	etag string
	// fileInfo identifies the file the snapshot came from, so the watcher
	// can tell a new one from the one already loaded.
	fileInfo os.FileInfo
}

// Server is the HTTP service. Safe for concurrent use.
type Server struct {
	cfg     Config
	log     *slog.Logger
	http    *fasthttp.Server
	cur     atomic.Pointer[state]
	tokens  atomic.Pointer[auth.Set]
	metrics *metrics
	upload  sync.Mutex // one upload at a time in this process
	conns   atomic.Pointer[limitListener]
	replica replicaStatus
	// tokensInfo is the tokens file New loaded, for the watcher to compare.
	tokensInfo os.FileInfo

	stop chan struct{}
	wg   sync.WaitGroup
}

// New prepares a server on cfg.Store and loads its current snapshot, if any
// (without one the server runs but is not ready).
func New(cfg Config) (*Server, error) {
	cfg.defaults()
	if cfg.Store == nil {
		return nil, errors.New("server: no store")
	}
	s := &Server{cfg: cfg, log: cfg.Logger, stop: make(chan struct{})}
	s.metrics = newMetrics(s)
	if err := s.reloadTokens(); err != nil {
		return nil, err
	}
	if err := s.reloadSnapshot(); err != nil && !errors.Is(err, loader.ErrNoSnapshot) {
		return nil, err
	}
	s.http = &fasthttp.Server{
		Handler:        s.handle,
		ErrorHandler:   s.handleError,
		HeaderReceived: s.headerReceived,
		ExpectHandler:  s.expectContinue,
		// fasthttp would otherwise read and spool any multipart body, on any
		// path, before a handler could look at the token.
		DisablePreParseMultipartForm: true,
		Name:                         "hcx",
		Concurrency:                  cfg.MaxConns + 16, // limitListener refuses first, in JSON
		ReadBufferSize:               cfg.MaxHeaderSize,
		ReadTimeout:                  cfg.ReadTimeout,
		WriteTimeout:                 cfg.WriteTimeout,
		IdleTimeout:                  cfg.IdleTimeout,
		MaxRequestBodySize:           cfg.MaxBatchBody,
		StreamRequestBody:            true, // uploads are parsed as they arrive, never held whole
		NoDefaultDate:                true,
		NoDefaultContentType:         true,
		CloseOnShutdown:              true,
		SecureErrorLogMessage:        true, // fasthttp would quote request bytes (IDs) in its logs
		Logger:                       fasthttpLogger{s.log},
	}
	return s, nil
}

// refusedBody is the body limit of a request that will be refused: fasthttp
// reads at most this much of it (it cannot be 0, which means "the default")
// before the handler answers from the headers and closes the connection.
const refusedBody = 1

// headerReceived decides, from the headers alone, how much of a body fasthttp
// may read: a request with no body needs nothing; an upload whose token may
// upload to the region in its path gets the upload size limit and read
// timeout; a batch whose token may look up gets the batch limit; anything
// else will be refused (or takes no body), so nothing of it is read.
func (s *Server) headerReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	if n := h.ContentLength(); n == 0 || n == -2 { // -2: no length and not chunked, so no body
		return fasthttp.RequestConfig{}
	}
	u := fasthttp.AcquireURI()
	defer fasthttp.ReleaseURI(u)
	if u.Parse(nil, h.RequestURI()) != nil {
		return fasthttp.RequestConfig{MaxRequestBodySize: refusedBody}
	}
	switch s.bodyGrant(h, u.Path()) {
	case grantUpload:
		return fasthttp.RequestConfig{ReadTimeout: s.cfg.UploadTimeout, MaxRequestBodySize: int(min(s.cfg.MaxUploadSize, math.MaxInt))}
	case grantBatch:
		return fasthttp.RequestConfig{}
	}
	return fasthttp.RequestConfig{MaxRequestBodySize: refusedBody}
}

// expectContinue answers "Expect: 100-continue": the client is invited to
// send its body only if the body would be read; otherwise the refusal is
// the final answer and the body never leaves the client.
func (s *Server) expectContinue(ctx *fasthttp.RequestCtx) int {
	if s.bodyGrant(&ctx.Request.Header, ctx.Path()) != grantNone {
		return fasthttp.StatusContinue
	}
	s.handle(ctx) // refuses from the headers (fasthttp then closes the connection)
	return ctx.Response.StatusCode()
}

type bodyGrant uint8

const (
	grantNone   bodyGrant = iota // the body will not be read
	grantBatch                   // a batch: the batch size limit
	grantUpload                  // an upload: the upload size limit and read timeout
)

// bodyGrant is what the handler will read of a request's body: the same
// path and token checks as the handler's, from the headers alone.
func (s *Server) bodyGrant(h *fasthttp.RequestHeader, path []byte) bodyGrant {
	tok, ok := bytes.CutPrefix(h.Peek(fasthttp.HeaderAuthorization), bearer)
	if !ok {
		return grantNone
	}
	roles, known := s.tokens.Load().Roles(tok)
	switch {
	case !known:
	case string(h.Method()) == fasthttp.MethodPost && bytes.Equal(path, pathBatch):
		if roles.Has(auth.Lookup) {
			return grantBatch
		}
	case string(h.Method()) == fasthttp.MethodPut && bytes.HasPrefix(path, prefixUploads):
		region, _, ok := bytes.Cut(path[len(prefixUploads):], []byte{'/'})
		if ok && s.cfg.ReplicaOf == "" && roles.Uploads(region) {
			return grantUpload
		}
	}
	return grantNone
}

// Serve answers on ln until Shutdown; it also watches the data directory.
func (s *Server) Serve(ln net.Listener) error {
	s.wg.Add(1)
	go s.watch()
	if s.cfg.ReplicaOf != "" {
		s.wg.Add(1)
		go s.follow()
	}
	l := newLimitListener(ln, s.cfg.MaxConns)
	s.conns.Store(l)
	return s.http.Serve(l)
}

// ListenAndServe listens on addr (host:port) and serves.
func (s *Server) ListenAndServe(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.log.Info("listening", "addr", ln.Addr().String())
	return s.Serve(ln)
}

// Shutdown stops accepting connections and waits for requests in flight.
func (s *Server) Shutdown(ctx context.Context) error {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	err := s.http.ShutdownWithContext(ctx)
	s.wg.Wait()
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

// watch polls the data directory: a snapshot written by another process
// (hcx ingest from cron), a changed tokens file; and refreshes staleness.
func (s *Server) watch() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	tokInfo := s.tokensInfo
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		if fi, err := os.Stat(s.cfg.Store.SnapshotPath()); err == nil {
			if st := s.cur.Load(); s.cfg.ReplicaOf == "" && (st == nil || !sameFile(st.fileInfo, fi)) {
				// A publisher's directory may get a snapshot from hcx ingest;
				// a replica's only from its own follow loop.
				if err := s.reloadSnapshot(); err != nil {
					s.metrics.reloadFailures.Inc()
					s.log.Error("snapshot on disk refused; the live one stays", "err", err)
				}
			} else if st != nil {
				s.refreshView(st)
			}
		}
		if fi, err := os.Stat(s.cfg.Store.TokensPath()); err == nil && !sameFile(tokInfo, fi) {
			if err := s.reloadTokens(); err != nil {
				s.log.Error("tokens file refused; the previous tokens stay", "err", err)
			}
			tokInfo = fi
		}
	}
}

func sameFile(a, b os.FileInfo) bool {
	return a != nil && b != nil && os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}

func (s *Server) reloadTokens() error {
	// Stat before reading: a change after the stat is seen at the next poll.
	fi, err := os.Stat(s.cfg.Store.TokensPath())
	if err != nil {
		return err
	}
	set, err := auth.Load(s.cfg.Store.TokensPath())
	if err != nil {
		return err
	}
	s.tokens.Store(set)
	if s.tokensInfo == nil {
		s.tokensInfo = fi // what watch starts from
	}
	return nil
}

// reloadSnapshot reads, verifies and installs the snapshot on disk. A file
// that does not verify, or is older than the live one, is refused.
func (s *Server) reloadSnapshot() error {
	fi, err := os.Stat(s.cfg.Store.SnapshotPath())
	if err != nil {
		if os.IsNotExist(err) {
			return loader.ErrNoSnapshot
		}
		return err
	}
	snap, file, err := s.cfg.Store.Current()
	if err != nil {
		return err
	}
	if cur := s.cur.Load(); cur != nil && snap.Info().Version < cur.snap.Info().Version {
		// Remember the file so the refusal is logged once, not every poll.
		s.install(cur.snap, cur.file, fi)
		return fmt.Errorf("snapshot version %d on disk is older than the live %d", snap.Info().Version, cur.snap.Info().Version)
	}
	s.install(snap, file, fi)
	return nil
}

// install makes snap the live snapshot.
func (s *Server) install(snap *engine.Snapshot, file []byte, fi os.FileInfo) {
	st := &state{snap: snap, file: file, fileInfo: fi,
		etag: ETag(snap)}
	st.view = answer.NewView(snap, s.cfg.Store.Calendar.Now(), s.cfg.MaxAge, s.cfg.Store.Calendar.Location())
	old := s.cur.Swap(st)
	s.edgeSnapshotChanged(snap) // edge.go: rebuild the edge filter
	s.metrics.snapshotChanged(snap)
	if old == nil || old.snap != snap {
		s.log.Info("snapshot live", "version", snap.Info().Version, "records", snap.Len(), "stale", st.view.StaleList)
	}
}

// ETag identifies a snapshot file for HTTP caching: its version and build
// time (the file is immutable, so they name its bytes).
func ETag(snap *engine.Snapshot) string {
	return fmt.Sprintf(`"%d-%x"`, snap.Info().Version, snap.Info().Built.UnixNano())
}

// refreshView recomputes staleness, which changes with the clock alone.
func (s *Server) refreshView(st *state) {
	v := answer.NewView(st.snap, s.cfg.Store.Calendar.Now(), s.cfg.MaxAge, s.cfg.Store.Calendar.Location())
	if fmt.Sprint(v.StaleList) == fmt.Sprint(st.view.StaleList) {
		return
	}
	next := *st
	next.view = v
	s.cur.CompareAndSwap(st, &next)
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
