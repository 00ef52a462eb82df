//go:build !unix

package payload

// limitMemory cannot bound memory here; the render's time bound still
// ends a template that runs on.
func limitMemory(uint64) {}
