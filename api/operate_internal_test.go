package api

import (
	"slices"
	"testing"
	"time"
)

// Held deliveries are released in the order they fell due: a retry planned
// before a later event's arrival goes first, whatever its event's age.
func TestOrderByDue(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	runs := []heldRun{
		{id: "event/a", due: t0},                      // retry planned for t0+10m
		{id: "event/b", due: t0.Add(time.Minute)},     // first attempt, due at its start
		{id: "event/c", due: t0.Add(2 * time.Minute)}, // retry planned for t0+5m
		{id: "event/d", due: t0.Add(3 * time.Minute)}, // first attempt
	}
	retries := map[string]time.Time{"a": t0.Add(10 * time.Minute), "c": t0.Add(5 * time.Minute)}
	orderByDue(runs, retries)
	var got []string
	for _, r := range runs {
		got = append(got, r.id)
	}
	if want := []string{"event/b", "event/d", "event/c", "event/a"}; !slices.Equal(got, want) {
		t.Fatalf("release order %v, want %v", got, want)
	}
}
