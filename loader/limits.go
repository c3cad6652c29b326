package loader

// The limits of a daily file (docs/daily-files.md, "Limits") and the
// readers that enforce the size limit and count what was read.

import (
	"errors"
	"io"
)

// Limits of a daily file.
const (
	// MaxLineLength is the longest line accepted, in bytes, not counting
	// its LF or CRLF.
	MaxLineLength = 1024
	// DefaultMaxBytes is the decompressed size limit when
	// ParseOptions.MaxBytes is zero.
	DefaultMaxBytes int64 = 4 << 30
)

// inputCounter counts the bytes consumed from the caller's reader, reports
// progress, and remembers the reader's own error (to tell a broken upload
// from corrupt gzip data).
type inputCounter struct {
	r        io.Reader
	n        int64
	err      error
	progress func(int64)
	next     int64
}

func (c *inputCounter) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	if err != nil && err != io.EOF {
		c.err = err
	}
	if c.progress != nil && c.n >= c.next {
		c.progress(c.n)
		c.next = c.n + progressStep
	}
	return n, err
}

var errTooLarge = errors.New("size limit")

// outputLimiter hands on at most limit bytes of the (decompressed) stream
// and then fails with errTooLarge: a gzip bomb is never inflated further.
type outputLimiter struct {
	r     io.Reader
	n     int64
	limit int64
}

func (l *outputLimiter) Read(b []byte) (int, error) {
	if l.n >= l.limit {
		return 0, errTooLarge
	}
	if rest := l.limit - l.n; int64(len(b)) > rest {
		b = b[:rest]
	}
	n, err := l.r.Read(b)
	l.n += int64(n)
	if l.n >= l.limit {
		err = errTooLarge // even with io.EOF: the limit is one byte past MaxBytes
	}
	return n, err
}
