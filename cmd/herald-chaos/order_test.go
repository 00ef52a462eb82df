package main

import (
	"testing"
	"time"
)

func TestInterleaved(t *testing.T) {
	a := func(id, answer string) arrival { return arrival{EventID: id, Answer: answer} }
	tests := []struct {
		name string
		log  []arrival
		want int
	}{
		{"one at a time", []arrival{a("1", answer503), a("1", answerOK), a("2", answerOK), a("3", answerReset), a("3", answerOK)}, 0},
		{"a repeat of a delivered event is a duplicate", []arrival{a("1", answerOK), a("2", answer503), a("1", answerOK), a("2", answerOK)}, 0},
		{"next before the head was delivered", []arrival{a("1", answer503), a("2", answerOK), a("1", answerOK)}, 1},
		{"a slow answer is not a delivery", []arrival{a("1", answerSlow), a("2", answerOK)}, 1},
	}
	for _, tt := range tests {
		if got := interleaved(tt.log); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestOutOfOrder(t *testing.T) {
	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	asked := map[string]time.Time{"a": at(0), "b": at(100), "c": at(105), "d": at(300)}
	accepted := map[string]time.Time{"a": at(10), "b": at(110), "c": at(112), "d": at(310)}
	// b and c were published while each other's answer was on its way: no
	// order between them. d was published after both were accepted.
	inOrder := map[string]time.Time{"a": at(20), "b": at(130), "c": at(120), "d": at(320)}
	if n := outOfOrder(inOrder, asked, accepted); n != 0 {
		t.Fatalf("in order: %d violations", n)
	}
	late := map[string]time.Time{"a": at(400), "b": at(130), "c": at(120), "d": at(320)}
	if n := outOfOrder(late, asked, accepted); n != 3 {
		t.Fatalf("a delivered after b, c and d, which were published after it was accepted: %d violations, want 3", n)
	}
}
