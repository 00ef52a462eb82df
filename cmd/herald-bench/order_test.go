package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/loki-interceptor/herald/webhook"
)

func TestOutOfOrder(t *testing.T) {
	cases := []struct {
		name  string
		ranks []int
		want  int
	}{
		{"in order", []int{1, 2, 3, 4}, 0},
		{"other publishers' events between", []int{2, 5, 9}, 0},
		{"two swapped", []int{1, 3, 2, 4}, 1},
		{"the last first", []int{2, 3, 4, 1}, 1},
		{"the first last: every other came before it", []int{4, 1, 2, 3}, 3},
		{"reversed", []int{3, 2, 1}, 2},
		{"missing events are not judged", []int{1, 0, 3, 2}, 1},
		{"none arrived", []int{0, 0}, 0},
		{"none published", nil, 0},
	}
	for _, c := range cases {
		if got := outOfOrder(c.ranks); got != c.want {
			t.Errorf("%s: outOfOrder(%v) = %d, want %d", c.name, c.ranks, got, c.want)
		}
	}
}

// TestOrderedWebhookChecks sends an ordered webhook requests as a faulty
// ordered mode would: the figures must count what went wrong and fail.
func TestOrderedWebhookChecks(t *testing.T) {
	inOrder := func(t *testing.T, r *receiver, h *hook, evs []*sent, order ...int) {
		for _, i := range order {
			deliver(t, r, h, evs[i], h.secret, nil)
		}
	}
	cases := []struct {
		name                 string
		publishers           []int // the publisher of each event, in publish order
		send                 func(t *testing.T, r *receiver, h *hook, evs []*sent)
		overlaps, outOfOrder int
	}{
		{"one at a time, in order", []int{0, 1, 0, 1},
			func(t *testing.T, r *receiver, h *hook, evs []*sent) { inOrder(t, r, h, evs, 0, 1, 2, 3) }, 0, 0},
		{"another publisher's event may pass", []int{0, 1, 0, 1},
			func(t *testing.T, r *receiver, h *hook, evs []*sent) { inOrder(t, r, h, evs, 1, 0, 3, 2) }, 0, 0},
		{"a publisher's events swapped", []int{0, 0, 1},
			func(t *testing.T, r *receiver, h *hook, evs []*sent) { inOrder(t, r, h, evs, 1, 0, 2) }, 0, 1},
		{"two in flight at once", []int{0, 1},
			func(t *testing.T, r *receiver, h *hook, evs []*sent) { whileInFlight(t, r, h, evs[0], evs[1]) }, 1, 0},
		{"a later event while the earlier is in flight", []int{0, 0},
			func(t *testing.T, r *receiver, h *hook, evs []*sent) { whileInFlight(t, r, h, evs[0], evs[1]) }, 1, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &receiver{hooks: map[string]*hook{}, hosts: []string{"127.0.0.1:1"}}
			sc := scenario{key: "ordered", eventType: webhook.ValidationCompleted, fanOut: 1, ordered: true}
			p := newPhase(sysOrdered, sc, 0)
			p.hooks = r.newHooks(p, 1, 0)
			var evs []*sent
			for i, pub := range c.publishers {
				s := p.begin(fmt.Sprintf("evt-%d", i), i+1, pub, sc.payload(i+1))
				p.answered(s, http.StatusAccepted, time.Now().UTC().Truncate(time.Millisecond), "")
				evs = append(evs, s)
			}
			c.send(t, r, p.hooks[0], evs)
			f := p.figures(time.Now())
			clean := c.overlaps == 0 && c.outOfOrder == 0
			if !f.OrderChecked || f.Overlaps != c.overlaps || f.OutOfOrder != c.outOfOrder || f.correct() != clean || f.Delivered != len(evs) {
				t.Errorf("figures %+v", f)
			}
		})
	}
}

// whileInFlight delivers first, holds it at the receiver until second has
// been delivered, then lets it finish.
func whileInFlight(t *testing.T, r *receiver, h *hook, first, second *sent) {
	req := signedRequest(t, h, first, h.secret, nil)
	release := make(chan struct{})
	req.Body = io.NopCloser(gated{release, req.Body})
	var wg sync.WaitGroup
	wg.Go(func() { r.ServeHTTP(httptest.NewRecorder(), req) })
	for h.inFlight.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	deliver(t, r, h, second, h.secret, nil)
	close(release)
	wg.Wait()
}

// gated is a body that cannot be read until its gate opens.
type gated struct {
	open <-chan struct{}
	body io.Reader
}

func (g gated) Read(b []byte) (int, error) {
	<-g.open
	return g.body.Read(b)
}
