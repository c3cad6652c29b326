package loader

import "io"

// readAhead reads its source on a goroutine of its own, a few buffers
// ahead of the reader: a gzip file's inflating then runs beside the parsing
// of the rows it inflated instead of between them. Files are parsed two at
// a time on two cores, so this changes little while two are left, and
// shortens the last file, parsed alone (BenchmarkIngest rows=1e7).
//
// Only a large input whose size is known (a file on disk, bytes in memory)
// is read ahead: its reads never wait long, so close, which waits for the
// read in progress, returns at once. A network upload rejected early is
// not kept waiting on its sender.
//
// The source (the size limit and the input counter under it) is read only
// by the goroutine until it stops: it stops after passing on an error or
// the end, or at close, which waits for it. The reader's own goroutine may
// look at the source's state after a Read has returned an error, or after
// close.
type readAhead struct {
	free chan []byte
	full chan aheadChunk
	stop chan struct{}
	done chan struct{}
	cur  []byte // what is left of the chunk being read
	buf  []byte // its whole buffer, returned to free when used up
	err  error
}

type aheadChunk struct {
	b   []byte
	err error
}

const (
	aheadBuffers = 4
	aheadSize    = 64 << 10
	aheadMinSize = 1 << 20 // compressed bytes: below, the goroutine gains nothing
)

func newReadAhead(src io.Reader) *readAhead {
	ra := &readAhead{
		free: make(chan []byte, aheadBuffers), full: make(chan aheadChunk, aheadBuffers),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	for range aheadBuffers {
		ra.free <- make([]byte, aheadSize)
	}
	go ra.fill(src)
	return ra
}

func (ra *readAhead) fill(src io.Reader) {
	defer close(ra.done)
	for {
		var b []byte
		select {
		case b = <-ra.free:
		case <-ra.stop:
			return
		}
		n, err := fillFrom(src, b)
		select {
		case ra.full <- aheadChunk{b[:n], err}:
		case <-ra.stop:
			return
		}
		if err != nil {
			return
		}
	}
}

// fillFrom reads src into b until b is full or src fails or ends, and
// returns src's error as it is (io.ReadFull would turn an end after some
// bytes into io.ErrUnexpectedEOF, which a gzip reader also gives for a
// truncated file).
func fillFrom(src io.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := src.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (ra *readAhead) Read(p []byte) (int, error) {
	for len(ra.cur) == 0 {
		if ra.err != nil {
			return 0, ra.err
		}
		if ra.buf != nil {
			ra.free <- ra.buf[:cap(ra.buf)] // never blocks: the buffers fit
		}
		c := <-ra.full
		ra.cur, ra.buf, ra.err = c.b, c.b, c.err
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	return n, nil
}

// close stops the goroutine and waits for it.
func (ra *readAhead) close() {
	close(ra.stop)
	<-ra.done
}
