//go:build !linux

package loader

// processCPU is not measured here (see cputime_linux_test.go).
func processCPU() int64 { return 0 }
