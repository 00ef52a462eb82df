//go:build !unix || race

package payload

// limitMemory cannot bound memory here (the race detector's shadow memory
// needs more address space than any bound would leave); the render's time
// bound still ends a template that runs on.
func limitMemory(uint64) {}
