// Package memo keeps values made from texts (parsed filters, compiled
// templates), so that each text is made once while it is in use.
package memo

import "sync"

// Table holds values by the text they were made from, at most Max of
// them: past that it starts afresh, since the texts in use at once are
// few and making one again takes microseconds.
type Table[V any] struct {
	Max int

	mu sync.Mutex
	m  map[string]V
}

// Get returns the value made from text, calling make only when the table
// does not hold one. A failure is returned and not kept.
func (t *Table[V]) Get(text string, make func(string) (V, error)) (V, error) {
	t.mu.Lock()
	v, ok := t.m[text]
	t.mu.Unlock()
	if ok {
		return v, nil
	}
	v, err := make(text)
	if err != nil {
		return v, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil || len(t.m) >= t.Max {
		t.m = map[string]V{}
	}
	t.m[text] = v
	return v, nil
}
