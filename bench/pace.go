package bench

import "time"

// pacer releases the open model's send slots on time, from one goroutine:
// slot s is due at begin + s*interval, and a connection takes the next
// slot when it is free to send. A slot taken late (every connection was
// busy) still counts its latency from when it was due, so a server that
// falls behind shows it in the percentiles (no coordinated omission), and a
// slot never taken by the end of the run is counted as late
// (Result.Late) rather than forgotten.
//
// Go's timers wake a sleeping program about 1 ms late on Linux (the
// runtime waits in epoll with a millisecond timeout): slept away in each
// connection, that millisecond would be added to every latency measured.
// So the pacer sleeps on a timerfd (preciseTimer), tens of microseconds
// late (TestOpenModelSendLag).
type pacer struct {
	begin    time.Time
	interval float64 // nanoseconds between slots
	last     int64   // the last slot due by the end of the window
	slots    chan int64
	quit     <-chan struct{}
	done     chan struct{}
	next     int64 // the first slot not released; read after done
}

// pacerBacklog is how many released slots may wait for a free connection
// before the pacer itself waits (their latencies count from when they were
// due either way).
const pacerBacklog = 1 << 14

func newPacer(begin, end time.Time, rate float64, quit <-chan struct{}) *pacer {
	p := &pacer{begin: begin, interval: float64(time.Second) / rate, quit: quit,
		slots: make(chan int64, pacerBacklog), done: make(chan struct{})}
	p.last = int64(float64(end.Sub(begin)) / p.interval)
	return p
}

// at is when slot s is due.
func (p *pacer) at(s int64) time.Time {
	return p.begin.Add(time.Duration(float64(s) * p.interval))
}

func (p *pacer) run() {
	defer close(p.done)
	defer close(p.slots)
	sleep := time.Sleep
	if t, err := newPreciseTimer(); err == nil {
		defer t.close()
		sleep = t.sleep
	}
	for p.next <= p.last {
		if d := time.Until(p.at(p.next)); d > 0 {
			sleep(d)
		}
		// Release every slot due by now: after a late wake-up, the ones
		// missed go out at once, each with its own due time.
		for now := time.Now(); p.next <= p.last && !p.at(p.next).After(now); p.next++ {
			select {
			case p.slots <- p.next:
			case <-p.quit:
				return
			}
		}
		select {
		case <-p.quit:
			return
		default:
		}
	}
}

// take fills due with the due times of the next len(due) slots, waiting
// for them, and returns how many it got: fewer once the pacer has
// released its last slot.
func (p *pacer) take(due []time.Time) int {
	for k := range due {
		s, ok := <-p.slots
		if !ok {
			return k
		}
		due[k] = p.at(s)
	}
	return len(due)
}
