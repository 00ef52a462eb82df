package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/loki-interceptor/herald/webhook"
)

// TestChecksCatchWhatWentWrong feeds the receiver requests as a faulty
// system would send them and checks that the figures say so: a benchmark
// that passes whatever arrives measures nothing.
func TestChecksCatchWhatWentWrong(t *testing.T) {
	cases := []struct {
		name  string
		flaky bool // the webhook refuses each event's first request
		send  func(t *testing.T, r *receiver, h *hook, s *sent)
		check func(f *figures) bool
	}{
		{"delivered once", false, func(t *testing.T, r *receiver, h *hook, s *sent) { deliver(t, r, h, s, h.secret, nil) },
			func(f *figures) bool { return f.correct() && f.Delivered == 1 }},
		{"refused once, then delivered", true, func(t *testing.T, r *receiver, h *hook, s *sent) {
			if code := deliver(t, r, h, s, h.secret, nil); code != http.StatusServiceUnavailable {
				t.Errorf("first request answered %d", code)
			}
			deliver(t, r, h, s, h.secret, nil)
		}, func(f *figures) bool { return f.correct() && f.Delivered == 1 && f.Duplicates == 0 }},
		{"missing", false, func(*testing.T, *receiver, *hook, *sent) {},
			func(f *figures) bool { return !f.correct() && f.Missing == 1 }},
		{"duplicate", false, func(t *testing.T, r *receiver, h *hook, s *sent) {
			deliver(t, r, h, s, h.secret, nil)
			deliver(t, r, h, s, h.secret, nil)
		}, func(f *figures) bool { return f.correct() && f.Duplicates == 1 }},
		{"wrong secret", false, func(t *testing.T, r *receiver, h *hook, s *sent) { deliver(t, r, h, s, webhook.NewSecret(), nil) },
			func(f *figures) bool { return !f.correct() && f.BadSignature == 1 }},
		{"payload altered", false, func(t *testing.T, r *receiver, h *hook, s *sent) {
			deliver(t, r, h, s, h.secret, []byte(`{"document_id":"other"}`))
		}, func(f *figures) bool { return !f.correct() && f.BadBody == 1 }},
		{"event never published", false, func(t *testing.T, r *receiver, h *hook, s *sent) {
			deliver(t, r, h, s, h.secret, nil)
			deliver(t, r, h, &sent{id: "nobody", seq: 9, payload: s.payload, createdAt: s.createdAt}, h.secret, nil)
		}, func(f *figures) bool { return !f.correct() && f.Unexpected == 1 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, p := newCheckedPhase()
			p.hooks[0].flaky = c.flaky
			s := p.begin("evt-1", 1, 0, p.scenario.payload(1))
			p.answered(s, http.StatusAccepted, time.Now().UTC().Truncate(time.Millisecond), "")
			c.send(t, r, p.hooks[0], s)
			if f := p.figures(time.Now()); !c.check(f) {
				t.Errorf("figures %+v", f)
			}
		})
	}
}

// newCheckedPhase is a phase of one event type with one webhook on a
// receiver that nothing but the test calls.
func newCheckedPhase() (*receiver, *phase) {
	r := &receiver{hooks: map[string]*hook{}, hosts: []string{"127.0.0.1:1"}}
	p := newPhase("test", scenario{key: "t", eventType: webhook.ValidationCompleted, fanOut: 1}, 0)
	p.hooks = r.newHooks(p, 1, 0)
	return r, p
}

// deliver posts an event to the receiver as Herald would, signed with
// secret, with data in place of the payload published when not nil, and
// returns the receiver's answer.
func deliver(t *testing.T, r *receiver, h *hook, s *sent, secret string, data []byte) int {
	t.Helper()
	w := httptest.NewRecorder()
	r.ServeHTTP(w, signedRequest(t, h, s, secret, data))
	return w.Code
}

// signedRequest is the request that delivers s to h, as deliver describes.
func signedRequest(t *testing.T, h *hook, s *sent, secret string, data []byte) *http.Request {
	t.Helper()
	if data == nil {
		data = s.payload
	}
	ev := webhook.Event{EventID: s.id, EventType: webhook.ValidationCompleted, Source: benchSource,
		SourceID: strconv.Itoa(s.seq), Payload: data, CreatedAt: s.createdAt}
	body, err := ev.Body()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	req := httptest.NewRequest(http.MethodPost, h.path, bytes.NewReader(body))
	req.Header.Set(webhook.HeaderID, s.id)
	req.Header.Set(webhook.HeaderSignature, webhook.Sign(secret, body))
	// Set, not the lower-case keys Herald writes: a server canonicalises
	// them on the way in, and this request does not travel.
	req.Header.Set(webhook.HeaderStdID, s.id)
	req.Header.Set(webhook.HeaderStdTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(webhook.HeaderStdSignature, webhook.SignStandard(secret, s.id, now, body))
	return req
}

// TestShedPublishes: a 503 tells the publisher nothing was accepted, so
// an overloaded Herald that answers it is counted, not failed, unless the
// event arrives all the same; any other refusal fails the run.
func TestShedPublishes(t *testing.T) {
	cases := []struct {
		name      string
		status    int
		delivered bool
		check     func(f *figures) bool
	}{
		{"503, not delivered", http.StatusServiceUnavailable, false,
			func(f *figures) bool { return f.correct() && f.Shed == 1 && f.Rejected == 1 }},
		{"503, delivered all the same", http.StatusServiceUnavailable, true,
			func(f *figures) bool { return !f.correct() && f.DeliveredRejected == 1 }},
		{"500", http.StatusInternalServerError, false,
			func(f *figures) bool { return !f.correct() && f.Shed == 0 && f.Rejected == 1 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, p := newCheckedPhase()
			sc := p.scenario
			ok := p.begin("evt-1", 1, 0, sc.payload(1))
			p.answered(ok, http.StatusAccepted, time.Now().UTC().Truncate(time.Millisecond), "")
			deliver(t, r, p.hooks[0], ok, p.hooks[0].secret, nil)
			refused := p.begin("evt-2", 2, 0, sc.payload(2))
			p.answered(refused, c.status, time.Time{}, "HTTP "+strconv.Itoa(c.status))
			if c.delivered {
				refused.createdAt = time.Now().UTC().Truncate(time.Millisecond)
				deliver(t, r, p.hooks[0], refused, p.hooks[0].secret, nil)
			}
			if f := p.figures(time.Now()); !c.check(f) {
				t.Errorf("figures %+v", f)
			}
		})
	}
}
