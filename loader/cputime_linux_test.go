package loader

import "syscall"

// processCPU is the CPU time the test process has used (user and system),
// in nanoseconds. Benchmarks report it per operation beside wall time: on
// a machine shared with other work, wall time measures the contention,
// CPU time the code.
func processCPU() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
