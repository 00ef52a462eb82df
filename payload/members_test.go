package payload_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/loki-interceptor/herald/payload"
)

func TestMembersInTheOrderWritten(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"order kept, not sorted", `{"z": 1, "a": {"b": [1, 2]}, "m": "x"}`, []string{`z=1`, `a={"b": [1, 2]}`, `m="x"`}},
		{"empty object", `{}`, nil},
		{"not an object", `[1, 2]`, nil},
		{"a scalar", `"text"`, nil},
		{"nothing", ``, nil},
		{"stops at what it cannot read", `{"a": 1, "b": }`, []string{`a=1`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for name, raw := range payload.Members(json.RawMessage(tc.in)) {
				got = append(got, name+"="+string(raw))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Members(%s) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestMembersStopsWhenTheLoopBreaks(t *testing.T) {
	n := 0
	for range payload.Members(json.RawMessage(`{"a": 1, "b": 2, "c": 3}`)) {
		n++
		if n == 2 {
			break
		}
	}
	if n != 2 {
		t.Errorf("loop ran %d times, want 2", n)
	}
}
