package bench

import (
	"syscall"
	"time"
)

// prSetTimerSlack is prctl's PR_SET_TIMERSLACK: how late the kernel may
// wake this thread to merge wake-ups (50 µs by default).
const prSetTimerSlack = 29

// preciseSleepInit sets the calling thread's timer slack to 1 µs; the
// pacer calls it on its own locked thread. It reports whether preciseSleep
// is available.
func preciseSleepInit() bool {
	_, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerSlack, 1000, 0)
	return errno == 0
}

// preciseSleep blocks the calling thread (not just the goroutine) for d.
func preciseSleep(d time.Duration) {
	ts := syscall.NsecToTimespec(d.Nanoseconds())
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
	}
}
