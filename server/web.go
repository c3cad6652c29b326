package server

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"path"
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/yrd-hcx/hcx/internal/webpage"
)

// The web verifier (docs/edge-verifier.md) is embedded from webdist: `make
// wasm` builds it into dist/web and copies it there, and `make build` embeds
// it. Only placeholder.html is committed, so a plain `go build` works and
// serves a page saying the verifier is not built; `hcx demo` then builds the
// verifier itself and serves it through Config.Web. Which files make up the
// verifier, and their types, is internal/webpage's one list.
//
// The router sends only "/" here, so the page's other files are served as
// "/?asset=NAME"; the page learns that, and the pinned public key, from the
// configuration this handler writes into it. A static copy of dist/web
// reads config.json instead and loads its files by plain relative names.

//go:embed webdist
var webdist embed.FS

// embedded is the web verifier as built into this binary.
var embedded = func() fs.FS {
	sub, err := fs.Sub(webdist, "webdist")
	if err != nil {
		panic(err)
	}
	return sub
}()

const (
	webIndex       = webpage.Index
	webPlaceholder = "placeholder.html"
	// configMarker is the page's empty configuration, replaced when served.
	configMarker = `<script id="hcx-config" type="application/json">null</script>`
	appScript    = `src="app.js"`
	// webCSP allows the page's own scripts, WebAssembly compilation, its
	// inline style, and fetches from this origin only.
	webCSP = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'unsafe-inline'; " +
		"connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

// webAsset is a file ready to serve, gzipped once.
type webAsset struct {
	body, gz []byte
	etag     string
}

// webCache holds the assets read so far from Config.Web.
type webCache struct {
	assets sync.Map // name -> *webAsset
}

func (s *Server) loadAsset(name string) (*webAsset, error) {
	if a, ok := s.web.assets.Load(name); ok {
		return a.(*webAsset), nil
	}
	body, err := fs.ReadFile(s.cfg.Web, name)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	a := &webAsset{body: body, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	zw.Write(body)
	zw.Close()
	a.gz = b.Bytes()
	v, _ := s.web.assets.LoadOrStore(name, a)
	return v.(*webAsset), nil
}

// webPage serves GET /: the verifier page, or one of its files.
func (s *Server) webPage(ctx *fasthttp.RequestCtx, _ []byte) {
	h := &ctx.Response.Header
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer") // an old link may still carry ?id=
	h.Set(fasthttp.HeaderCacheControl, "no-cache")
	if name := ctx.QueryArgs().Peek("asset"); len(name) > 0 {
		s.webAsset(ctx, path.Base(string(name)))
		return
	}
	page, err := fs.ReadFile(s.cfg.Web, webIndex)
	if err != nil {
		page, err = fs.ReadFile(s.cfg.Web, webPlaceholder)
		if err != nil {
			s.fail(ctx, fasthttp.StatusNotFound, "not_found", "no web page in this build")
			return
		}
	} else {
		// The pinned key is the publisher's own (its signing key's public
		// half; a replica's data directory holds the publisher's).
		cfg := `<script id="hcx-config" type="application/json">{"publicKey":"` + s.cfg.Store.PublicHex() +
			`","filter":"/v1/edge/filter","assets":"/?asset="}</script>`
		page = bytes.Replace(page, []byte(configMarker), []byte(cfg), 1)
		page = bytes.Replace(page, []byte(appScript), []byte(`src="/?asset=app.js"`), 1)
	}
	h.Set("Content-Security-Policy", webCSP)
	h.Set("X-Frame-Options", "DENY")
	ctx.SetContentType("text/html; charset=utf-8")
	ctx.SetBody(page)
}

func (s *Server) webAsset(ctx *fasthttp.RequestCtx, name string) {
	f, ok := webpage.Lookup(name)
	if !ok || name == webIndex { // the page itself only as "/", with its configuration
		s.fail(ctx, fasthttp.StatusNotFound, "not_found", "no such asset")
		return
	}
	a, err := s.loadAsset(name)
	if err != nil {
		s.fail(ctx, fasthttp.StatusNotFound, "not_found", "the web verifier is not in this build (make build)")
		return
	}
	h := &ctx.Response.Header
	h.Set(fasthttp.HeaderETag, a.etag)
	h.Set(fasthttp.HeaderVary, "Accept-Encoding")
	if etagMatch(ctx.Request.Header.Peek(fasthttp.HeaderIfNoneMatch), a.etag) {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return
	}
	ctx.SetContentType(f.Type)
	if ctx.Request.Header.HasAcceptEncoding("gzip") {
		h.Set(fasthttp.HeaderContentEncoding, "gzip")
		s.sendImmutable(ctx, a.gz)
		return
	}
	s.sendImmutable(ctx, a.body)
}

// WebFiles returns the web verifier's files (webpage.Files) as embedded in
// this build, or only placeholder.html when it was built without `make wasm`.
func WebFiles() fs.FS { return embedded }

// HasWebVerifier reports whether this build embeds the verifier, not only
// the placeholder.
func HasWebVerifier() bool {
	_, err := fs.Stat(embedded, webIndex)
	return err == nil
}
