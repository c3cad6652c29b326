package server

import (
	"net"
	"time"
)

// fasthttp moves a connection's deadlines on every request: the idle
// deadline before it waits for a request, the read deadline once one
// begins, the write deadline before the answer. Each move is a call into
// the runtime's poller that takes its locks and resets a timer, and on a
// busy keep-alive or pipelined connection it costs more than the lookup
// (BENCHMARKS.md, serving cost: the pipelined profile). lazyConn keeps
// the deadlines fasthttp asks for and gives one to the socket only when
// a read or write is about to use it, and only when it differs from the
// one the socket has by more than a hundredth of the shortest timeout:
// with answers a few milliseconds apart the socket's deadlines barely
// ever move.
//
// What a client sees is unchanged but for that slack: a deadline that
// comes earlier than the socket's is given to it before the next read or
// write; a later one is skipped while it is within the slack of the
// socket's, which then fires that much early at most (1% of a timeout).
// A deadline is only ever read by the I/O it bounds, so one set and then
// replaced before any I/O never mattered. fasthttp and the handlers set
// deadlines from the connection's own goroutine (fasthttp's
// RequestCtx.SetReadDeadline from another goroutine would race here: no
// handler does that).
type lazyConn struct {
	net.Conn
	slack  int64 // nanoseconds
	rd, wd deadline
}

// deadline is one direction's: what was asked for and what the socket
// has, in Unix nanoseconds; 0 is none.
type deadline struct{ want, set int64 }

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// due reports whether the socket's deadline must change before the next
// I/O: to none, from none, earlier, or later by more than slack.
func (d *deadline) due(slack int64) bool {
	switch {
	case d.want == d.set:
		return false
	case d.want == 0 || d.set == 0 || d.want < d.set:
		return true
	}
	return d.want-d.set > slack
}

func (d *deadline) wanted() time.Time {
	if d.want == 0 {
		return time.Time{}
	}
	return time.Unix(0, d.want)
}

func (c *lazyConn) SetReadDeadline(t time.Time) error {
	c.rd.want = unixNano(t)
	return nil
}

func (c *lazyConn) SetWriteDeadline(t time.Time) error {
	c.wd.want = unixNano(t)
	return nil
}

func (c *lazyConn) SetDeadline(t time.Time) error {
	c.rd.want = unixNano(t)
	c.wd.want = c.rd.want
	return nil
}

func (c *lazyConn) Read(p []byte) (int, error) {
	if c.rd.due(c.slack) {
		if err := c.Conn.SetReadDeadline(c.rd.wanted()); err != nil {
			return 0, err
		}
		c.rd.set = c.rd.want
	}
	return c.Conn.Read(p)
}

func (c *lazyConn) Write(p []byte) (int, error) {
	if c.wd.due(c.slack) {
		if err := c.Conn.SetWriteDeadline(c.wd.wanted()); err != nil {
			return 0, err
		}
		c.wd.set = c.wd.want
	}
	return c.Conn.Write(p)
}

// deadlineSlack is how far a socket's deadline may lag the one asked for:
// a hundredth of the shortest timeout (never 0: that would move the
// deadline on every request again).
func (c *Config) deadlineSlack() int64 {
	d := min(c.ReadTimeout, c.UploadTimeout, c.WriteTimeout, c.IdleTimeout) / 100
	return max(int64(d), 1)
}
