package memo_test

import (
	"errors"
	"strconv"
	"testing"

	"github.com/loki-interceptor/herald/memo"
)

func TestTable(t *testing.T) {
	made := map[string]int{}
	length := func(s string) (int, error) {
		made[s]++
		if s == "bad" {
			return 0, errors.New("bad text")
		}
		return len(s), nil
	}
	tab := &memo.Table[int]{Max: 3}
	for _, c := range []struct {
		text  string
		want  int
		err   bool
		times int // how often the text has been made after this Get
	}{
		{"abc", 3, false, 1},
		{"abc", 3, false, 1}, // kept
		{"bad", 0, true, 1},
		{"bad", 0, true, 2}, // a failure is not kept
		{"de", 2, false, 1},
		{"f", 1, false, 1}, // the table is full
		{"ghij", 4, false, 1},
		{"abc", 3, false, 2}, // started afresh past Max
	} {
		got, err := tab.Get(c.text, length)
		if got != c.want || (err != nil) != c.err || made[c.text] != c.times {
			t.Fatalf("Get(%q) = %d, %v, made %d times; want %d, error %v, made %d times",
				c.text, got, err, made[c.text], c.want, c.err, c.times)
		}
	}
}

func TestTableIsSafeForConcurrentUse(t *testing.T) {
	tab := &memo.Table[string]{Max: 8}
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 1000 {
				text := strconv.Itoa((g + i) % 20)
				if v, _ := tab.Get(text, func(s string) (string, error) { return "v" + s, nil }); v != "v"+text {
					t.Errorf("Get(%q) = %q", text, v)
					return
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
}
