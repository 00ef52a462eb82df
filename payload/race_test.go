//go:build race

package payload_test

// memoryBounded says template processes have a memory bound (see limitMemory).
const memoryBounded = false
