package server

import (
	"net"
	"runtime"
	"time"

	"github.com/valyala/fasthttp"
)

// The connection timeouts (docs/http-api.md, limits) are kept here, not by
// fasthttp. fasthttp would move a connection's deadlines on every request,
// each move a clock read and a call into the runtime's poller that takes
// its locks and resets a timer: on a pipelined connection that was a fifth
// of the server's CPU, more than the lookup (BENCHMARKS.md, serving cost).
// lazyConn gives the socket a deadline only when a read or write is about
// to need one, reads the clock only then, and leaves the socket's deadline
// alone while it is within a hundredth of the shortest timeout of the one
// wanted: with answers a few milliseconds apart, the deadlines barely move.
//
// The timeouts mean what fasthttp's meant, but for that slack (a deadline
// may fire up to 1% early):
//   - read: from the first read of a request (its first byte is what makes
//     fasthttp call it active) until it has been read, headers and body;
//     also a new connection's wait for its first request;
//   - idle: a keep-alive connection's wait for its next request;
//   - write: from the first write of an answer (or of a flush of pipelined
//     answers) until it is written.
//
// fasthttp's ConnState hook (connState) marks where a request begins and
// ends. Deadlines set on the connection (fasthttp's for an upload's body,
// the handlers' for a large file) override the timeouts until the request
// ends; setting a zero deadline restores them. fasthttp and the handlers do
// all of this on the connection's own goroutine, as its reads and writes
// are done (fasthttp's RequestCtx.SetReadDeadline from another goroutine
// would race here: no handler does that).
type lazyConn struct {
	net.Conn
	t      *timeouts
	idle   bool // waiting for a request on a keep-alive connection
	yield  bool // the first read of a keep-alive wait: let other connections run first
	rFresh bool // a phase (active, idle) began: its read deadline counts from the next read
	wFresh bool // likewise for writes
	rd, wd deadline
}

// timeouts are the server's, shared by its connections.
type timeouts struct {
	read, idle, write int64 // nanoseconds; 0: none
	slack             int64 // how far a socket's deadline may lag the one wanted
}

func newTimeouts(c *Config) *timeouts {
	t := &timeouts{read: int64(c.ReadTimeout), idle: int64(c.IdleTimeout), write: int64(c.WriteTimeout)}
	// A hundredth of the shortest timeout; never 0, which would move the
	// deadline on every request again.
	t.slack = max(int64(min(c.ReadTimeout, c.UploadTimeout, c.WriteTimeout, c.IdleTimeout)/100), 1)
	return t
}

// deadline is one direction's, in Unix nanoseconds (0: none): the one set
// on the connection (fasthttp's or a handler's), the current phase's from
// the timeouts, and the one the socket has.
type deadline struct{ explicit, phase, set int64 }

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// apply gives the socket want if its deadline must change first: to none,
// from none, earlier, or later by more than slack.
func (d *deadline) apply(want, slack int64, set func(time.Time) error) error {
	switch {
	case want == d.set:
		return nil
	case want != 0 && d.set != 0 && want > d.set && want-d.set <= slack:
		return nil
	}
	t := time.Time{}
	if want != 0 {
		t = time.Unix(0, want)
	}
	if err := set(t); err != nil {
		return err
	}
	d.set = want
	return nil
}

// want is the deadline the next I/O should have: the explicit one, else the
// phase's, which a new phase starts from now.
func (d *deadline) want(fresh *bool, timeout int64) int64 {
	if d.explicit != 0 {
		return d.explicit
	}
	if *fresh {
		*fresh = false
		d.phase = 0
		if timeout > 0 {
			d.phase = time.Now().UnixNano() + timeout
		}
	}
	return d.phase
}

func (c *lazyConn) Read(p []byte) (int, error) {
	if c.yield {
		// The client sends its next request only once it has our answer,
		// so a read now finds nothing: a system call for EAGAIN, then the
		// poller. Behind the other connections' work the request is most
		// often there (strace -c under 64 connections of single GETs:
		// 0.91 EAGAIN reads a request without this, 0.004 with it; the
		// server's CPU a GET 9.3-11.4 -> 8.5-9.7 us). With nothing else
		// to run it returns at once.
		c.yield = false
		runtime.Gosched()
	}
	timeout := c.t.read
	if c.idle {
		timeout = c.t.idle
	}
	if err := c.rd.apply(c.rd.want(&c.rFresh, timeout), c.t.slack, c.Conn.SetReadDeadline); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *lazyConn) Write(p []byte) (int, error) {
	if err := c.wd.apply(c.wd.want(&c.wFresh, c.t.write), c.t.slack, c.Conn.SetWriteDeadline); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

func (c *lazyConn) SetReadDeadline(t time.Time) error {
	c.rd.explicit = unixNano(t)
	return nil
}

func (c *lazyConn) SetWriteDeadline(t time.Time) error {
	c.wd.explicit = unixNano(t)
	return nil
}

func (c *lazyConn) SetDeadline(t time.Time) error {
	c.rd.explicit = unixNano(t)
	c.wd.explicit = c.rd.explicit
	return nil
}

// phase starts a request's phase (active) or a keep-alive wait (idle).
// A request's explicit deadlines end with it.
func (c *lazyConn) phase(idle bool) {
	c.idle, c.rFresh, c.wFresh, c.yield = idle, true, true, idle
	if idle {
		c.rd.explicit, c.wd.explicit = 0, 0
	}
}

// connState is fasthttp's ConnState hook: it tells the server's
// connections where requests begin and end, and so when an answer sent
// without a copy has been written.
func connState(c net.Conn, st fasthttp.ConnState) {
	lc, ok := c.(*limitConn)
	if !ok {
		return
	}
	switch st {
	case fasthttp.StateActive:
		lc.phase(false)
	case fasthttp.StateIdle:
		lc.phase(true)
		if lc.written != nil { // written (or copied into the connection's buffer) by now
			batchPool.Put(lc.written)
			lc.written = nil
		}
	}
}
