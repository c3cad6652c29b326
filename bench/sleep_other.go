//go:build !linux

package bench

import "time"

// preciseSleepInit reports that only time.Sleep is available here.
func preciseSleepInit() bool { return false }

func preciseSleep(d time.Duration) { time.Sleep(d) }
