package filter_test

import (
	"encoding/json"
	"testing"

	"github.com/loki-interceptor/herald/filter"
)

// Whatever a filter says, parsing it and matching an event with it never
// panics, and a filter that parses matches without error.
func FuzzFilter(f *testing.F) {
	for _, seed := range []string{`{}`, `{"event_type": "compliance.alert"}`, `{"data.tags": {"$in": ["a", 1, null]}}`,
		`{"$or": [{"a": {"$regex": "(?i)x"}}, {"b.0.c": {"$gte": 1e400}}]}`, `{"data": {"$and": [{"x": {"$exist": false}}]}}`, `[]`, `{"$nope": 1}`} {
		f.Add(seed, `{"alert_level": "critical", "tags": ["pii", 3], "n": 1e308, "deep": {"a": [{"b": null}]}}`)
	}
	f.Fuzz(func(t *testing.T, raw, payload string) {
		if !json.Valid([]byte(payload)) {
			return
		}
		_, fe := filter.Parse(json.RawMessage(raw), "filter")
		ok, err := filter.Match(json.RawMessage(raw), alertWith(payload))
		if len(fe) == 0 && err != nil && len(raw) > 0 {
			t.Fatalf("%s parses but does not match: %v", raw, err)
		}
		_ = ok
	})
}
