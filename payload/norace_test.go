//go:build !race

package payload_test

const memoryBounded = true
