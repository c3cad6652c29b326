package bench

import (
	"os"
	"syscall"
	"time"
	"unsafe"
)

// timerfd constants (linux/timerfd.h).
const (
	clockMonotonic = 1
	tfdNonblock    = syscall.O_NONBLOCK
	tfdCloexec     = syscall.O_CLOEXEC
)

// preciseTimer sleeps on a timerfd read through Go's network poller: the
// kernel's high-resolution timer wakes the poller at once, where a Go timer
// waits for the poller's millisecond timeout, and the goroutine is parked
// meanwhile, so the thread and its P run the connections (a sleep in a
// system call would hold the only P of a client pinned to one CPU until
// sysmon took it back, up to 10 ms later).
type preciseTimer struct {
	f  *os.File
	fd uintptr
}

func newPreciseTimer() (*preciseTimer, error) {
	fd, _, errno := syscall.RawSyscall(syscall.SYS_TIMERFD_CREATE, clockMonotonic, tfdNonblock|tfdCloexec, 0)
	if errno != 0 {
		return nil, errno
	}
	// A non-blocking descriptor: os.NewFile registers it with the poller.
	return &preciseTimer{f: os.NewFile(fd, "timerfd"), fd: fd}, nil
}

// itimerspec is struct itimerspec: the interval (zero: one shot) and the
// first expiry.
type itimerspec struct {
	interval, value syscall.Timespec
}

func (t *preciseTimer) sleep(d time.Duration) {
	if d <= 0 {
		return // a zero expiry would disarm the timer, and the read never end
	}
	spec := itimerspec{value: syscall.NsecToTimespec(d.Nanoseconds())}
	if _, _, errno := syscall.RawSyscall6(syscall.SYS_TIMERFD_SETTIME, t.fd, 0, uintptr(unsafe.Pointer(&spec)), 0, 0, 0); errno != 0 {
		time.Sleep(d)
		return
	}
	var expirations [8]byte
	t.f.Read(expirations[:])
}

func (t *preciseTimer) close() { t.f.Close() }
