//go:build unix && !linux

package payload

import "runtime"

// yield lets other goroutines run first; this system's sched_yield is not
// in package syscall.
func yield() { runtime.Gosched() }
