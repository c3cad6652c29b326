package server

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// limitListener caps concurrent connections. fasthttp's own cap answers in
// plain text; past this one a client gets the API's JSON 503 and a closed
// connection, and the server keeps its workers for the connections it has.
// The connections it accepts set their deadlines lazily (deadline.go).
type limitListener struct {
	net.Listener
	free    chan struct{}
	refused atomic.Int64
	t       *timeouts // deadline.go
}

var busyResponse = []byte("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\nRetry-After: 1\r\nContent-Length: 75\r\n\r\n" +
	`{"error":"too_many_connections","detail":"connection limit reached; retry"}`)

func newLimitListener(ln net.Listener, n int, t *timeouts) *limitListener {
	l := &limitListener{Listener: ln, free: make(chan struct{}, n), t: t}
	for range n {
		l.free <- struct{}{}
	}
	return l
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case <-l.free:
			// A new connection's wait for its first request has the read timeout.
			lc := &limitConn{lazyConn: lazyConn{Conn: c, t: l.t, rFresh: true, wFresh: true}}
			lc.release = func() { l.free <- struct{}{} }
			return lc, nil
		default:
			l.refused.Add(1)
			go func() { // never block Accept on a slow client
				c.SetWriteDeadline(time.Now().Add(time.Second))
				c.Write(busyResponse)
				c.Close()
			}()
		}
	}
}

type limitConn struct {
	lazyConn
	tokens  tokenCache // access.go
	written *batchBuf  // the answer being written, put back in the pool once it is (batch.go)
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}
