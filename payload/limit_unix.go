//go:build unix && !race

package payload

import "syscall"

// limitMemory bounds this process's address space: an allocation past it
// fails, and a Go program that cannot allocate ends.
func limitMemory(bytes uint64) {
	syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: bytes, Max: bytes})
}
