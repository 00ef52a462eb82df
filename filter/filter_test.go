package filter_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/loki-interceptor/herald/filter"
	"github.com/loki-interceptor/herald/webhook"
)

func alert(level string, docs ...string) *webhook.Event {
	p, _ := json.Marshal(map[string]any{"alert_level": level, "alert_type": "gdpr_violation", "message": "Personal data found",
		"affected_documents": docs, "score": 0.92, "count": 3, "tags": []string{"pii", "eu"}, "big": json.Number("12345678901234567890123"),
		"counts": []any{json.Number("1.0"), json.Number("2")}, "huge": json.Number("1e999999")})
	return &webhook.Event{EventID: "evt_1", EventType: "compliance.alert", Source: "validator", SourceID: "doc_1",
		Payload: p, CreatedAt: time.Now()}
}

func alertWith(payload string) *webhook.Event {
	return &webhook.Event{EventID: "evt_1", EventType: "compliance.alert", Source: "validator", Payload: json.RawMessage(payload), CreatedAt: time.Now()}
}

func TestOperators(t *testing.T) {
	cases := []struct {
		filter string
		want   bool
	}{
		{`{}`, true},
		{`{"event_type": "compliance.alert"}`, true},
		{`{"event_type": "system.error"}`, false},
		{`{"data.alert_level": "critical"}`, true},
		{`{"alert_level": "critical"}`, true}, // bare names are under data
		{`{"data": {"alert_level": "critical", "alert_type": "gdpr_violation"}}`, true},
		{`{"data": {"alert_level": "low"}}`, false},
		{`{"data.alert_level": {"$eq": "critical"}}`, true},
		{`{"data.alert_level": {"$neq": "critical"}}`, false},
		{`{"data.alert_level": {"$neq": "low"}}`, true},
		{`{"data.alert_level": {"$in": ["high", "critical"]}}`, true},
		{`{"data.alert_level": {"$nin": ["high", "critical"]}}`, false},
		{`{"data.score": {"$gt": 0.9}}`, true},
		{`{"data.score": {"$gte": 0.92, "$lte": 0.92}}`, true},
		{`{"data.score": {"$lt": 0.5}}`, false},
		{`{"data.score": {"$gte": 0.92}}`, true},
		{`{"data.score": {"$gte": 0.93}}`, false},
		{`{"data.score": {"$lte": 0.91}}`, false},
		{`{"data.count": 3.0}`, true}, // numbers by value
		{`{"data.big": 12345678901234567890123}`, true},
		{`{"data.big": 12345678901234567890124}`, false}, // exactly, past float64
		{`{"data.huge": {"$gt": 1e300}}`, true},          // past float64 (stored before the API refused it), compared as +Inf
		{`{"data.huge": 5}`, false},
		{`{"data.tags": ["pii", "eu"]}`, true},
		{`{"data.counts": [1, 2.0]}`, true},     // a whole list, numbers by value
		{`{"data.count": {"$gt": "2"}}`, false}, // a number is not ordered against a string
		{`{"source_id": {"$gte": "doc_0"}}`, true},
		{`{"data.message": {"$regex": "(?i)personal"}}`, true},
		{`{"data.message": {"$regex": "^Data"}}`, false},
		{`{"data.affected_documents": {"$exist": true}}`, true},
		{`{"data.missing": {"$exist": false}}`, true},
		{`{"data.missing": {"$exist": true}}`, false},
		{`{"data.missing": {"$neq": "x"}}`, true},
		{`{"data.tags": "pii"}`, true}, // an element of a list
		{`{"data.tags": {"$in": ["us", "eu"]}}`, true},
		{`{"data.tags": {"$nin": ["eu"]}}`, false},
		{`{"data.tags.1": "eu"}`, true},
		{`{"data.affected_documents": ["doc_1", "doc_2"]}`, true}, // the whole list
		{`{"$or": [{"data.alert_level": "low"}, {"source": "validator"}]}`, true},
		{`{"$or": [{"data.alert_level": "low"}, {"source": "other"}]}`, false},
		{`{"$and": [{"data.alert_level": "critical"}, {"data.score": {"$gt": 0.5}}]}`, true},
		{`{"data": {"$or": [{"alert_level": "low"}, {"alert_type": "gdpr_violation"}]}}`, true},
		{`{"event_type": "compliance.alert", "data.alert_level": "low"}`, false}, // every key must match
	}
	ev := alert("critical", "doc_1", "doc_2")
	for _, c := range cases {
		got, err := filter.Match(json.RawMessage(c.filter), ev)
		if err != nil {
			t.Errorf("%s: %v", c.filter, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s: match = %v, want %v", c.filter, got, c.want)
		}
	}
}

func TestInvalidFiltersNameWhere(t *testing.T) {
	cases := []struct{ filter, field, want string }{
		{`[1]`, "filter", "JSON object"},
		{`{"data.level": {"$like": "x"}}`, "filter.data.level.$like", "is not an operator"},
		{`{"$where": "1"}`, "filter.$where", "not an operator here"},
		{`{"data.level": {"$in": "high"}}`, "filter.data.level.$in", "list"},
		{`{"data.level": {"$gt": true}}`, "filter.data.level.$gt", "number or a string"},
		{`{"data.level": {"$exist": 1}}`, "filter.data.level.$exist", "true or false"},
		{`{"data.level": {"$regex": "("}}`, "filter.data.level.$regex", "missing closing )"},
		{`{"$or": []}`, "filter.$or", "non-empty list"},
		{`{"data.n": {"$in": [1, 2e401]}}`, "filter.data.n.$in[1]", "number out of range"},
		{`{"$or": [1]}`, "filter.$or[0]", "object"},
		{`{"a..b": 1}`, "filter.a..b", "empty segment"},
		{`{"data": ` + strings.Repeat(`{"a": `, 12) + `1` + strings.Repeat(`}`, 13), "filter.data.a.a.a.a.a.a.a.a", "deeper"},
	}
	for _, c := range cases {
		_, fe := filter.Parse(json.RawMessage(c.filter), "filter")
		if len(fe) == 0 || fe[0].Field != c.field || !strings.Contains(fe[0].Message, c.want) {
			t.Errorf("%s: errors %+v, want one on %s mentioning %q", c.filter, fe, c.field, c.want)
		}
	}
}

func TestSplitLeavesOutWhatFiltersRefuse(t *testing.T) {
	all := &webhook.Webhook{ID: 1}
	critical := &webhook.Webhook{ID: 2, Filter: json.RawMessage(`{"data.alert_level": "critical"}`)}
	low := &webhook.Webhook{ID: 3, Filter: json.RawMessage(`{"data.alert_level": "low"}`)}
	broken := &webhook.Webhook{ID: 4, Filter: json.RawMessage(`{"x": {"$nope": 1}}`)}
	pass, out := filter.Split(alert("critical"), []*webhook.Webhook{all, critical, low, broken})
	if len(pass) != 2 || pass[0] != all || pass[1] != critical || len(out) != 2 || out[0] != low || out[1] != broken {
		t.Fatalf("pass %v, out %v", pass, out)
	}
}

func BenchmarkMatch(b *testing.B) {
	raw := json.RawMessage(`{"event_type": "compliance.alert", "data.alert_level": {"$in": ["high", "critical"]},
		"$or": [{"data.score": {"$gte": 0.9}}, {"data.tags": "urgent"}], "data.message": {"$regex": "(?i)personal"}}`)
	ev := alert("critical", "doc_1")
	for b.Loop() {
		if ok, err := filter.Match(raw, ev); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
