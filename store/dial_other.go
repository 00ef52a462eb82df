//go:build !linux

package store

import (
	"syscall"
	"time"
)

// userTimeout is Linux's TCP_USER_TIMEOUT; elsewhere keepalive alone
// bounds a partitioned connection.
func userTimeout(time.Duration) func(network, address string, c syscall.RawConn) error { return nil }
