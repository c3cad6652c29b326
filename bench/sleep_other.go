//go:build !linux

package bench

import (
	"errors"
	"time"
)

// preciseTimer is only on Linux; elsewhere the pacer uses time.Sleep.
type preciseTimer struct{}

func newPreciseTimer() (*preciseTimer, error) { return nil, errors.New("no timerfd") }

func (*preciseTimer) sleep(d time.Duration) { time.Sleep(d) }

func (*preciseTimer) close() {}
