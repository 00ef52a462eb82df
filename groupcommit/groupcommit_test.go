package groupcommit_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/loki-interceptor/herald/groupcommit"
)

// Items added while a group runs form the next group, in order, each at
// most Max long; a lone item runs at once.
func TestGroupsFormWhileAGroupRuns(t *testing.T) {
	var mu sync.Mutex
	var groups [][]int
	release := make(chan struct{})
	q := &groupcommit.Queue[int]{Max: 3, Run: func(g []int) {
		mu.Lock()
		groups = append(groups, slices.Clone(g))
		first := len(groups) == 1
		mu.Unlock()
		if first {
			<-release // hold the first group while more arrive
		}
	}}
	q.Add(0)
	for eventually := time.Now().Add(time.Second); ; time.Sleep(time.Millisecond) {
		mu.Lock()
		n := len(groups)
		mu.Unlock()
		if n == 1 || time.Now().After(eventually) {
			break
		}
	}
	for i := 1; i <= 5; i++ {
		q.Add(i)
	}
	close(release)
	for eventually := time.Now().Add(time.Second); time.Now().Before(eventually); time.Sleep(time.Millisecond) {
		mu.Lock()
		n := len(groups)
		mu.Unlock()
		if n == 3 {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if want := [][]int{{0}, {1, 2, 3}, {4, 5}}; !slices.EqualFunc(groups, want, slices.Equal) {
		t.Fatalf("groups %v, want %v", groups, want)
	}
}

// With several workers, groups run side by side.
func TestWorkersRunGroupsAtOnce(t *testing.T) {
	var wg sync.WaitGroup
	wg.Add(2)
	both := make(chan struct{})
	q := &groupcommit.Queue[int]{Max: 1, Workers: 2, Run: func([]int) {
		wg.Done()
		<-both
	}}
	q.Add(1)
	q.Add(2)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("the second group waited for the first")
	}
	close(both)
}
