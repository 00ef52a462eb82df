package filter

import (
	"cmp"
	"encoding/json"
	"errors"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/loki-interceptor/herald/memo"
	"github.com/loki-interceptor/herald/payload"
	"github.com/loki-interceptor/herald/webhook"
)

// filters are parsed filters by their JSON: a subscriber's filter is
// matched against every event.
var filters = &memo.Table[*Filter]{Max: 1024}

// Compiled parses a stored filter once per distinct text.
func Compiled(raw json.RawMessage) (*Filter, error) {
	return filters.Get(string(raw), func(text string) (*Filter, error) {
		f, fe := Parse(json.RawMessage(text), "filter")
		if len(fe) > 0 {
			return nil, fe.Err("filter")
		}
		return f, nil
	})
}

// Empty says the filter lets every event through.
func (f *Filter) Empty() bool { return len(f.all) == 0 }

// Match says whether an event passes. A filter that cannot be read (stored
// some other way than through the API) lets nothing through: delivering
// what the subscriber asked not to get is the worse mistake.
func Match(raw json.RawMessage, ev *webhook.Event) (bool, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return true, nil
	}
	f, err := Compiled(raw)
	if err != nil {
		return false, err
	}
	if f.Empty() {
		return true, nil
	}
	doc, err := payload.Document(ev)
	if err != nil {
		return false, err
	}
	return f.Matches(doc), nil
}

// Matches tests a decoded envelope (payload.Document).
func (f *Filter) Matches(doc any) bool {
	for _, c := range f.all {
		if !c.matches(doc) {
			return false
		}
	}
	return true
}

func (c cond) matches(doc any) bool {
	switch {
	case c.and != nil:
		for _, f := range c.and {
			if !f.Matches(doc) {
				return false
			}
		}
		return true
	case c.or != nil:
		for _, f := range c.or {
			if f.Matches(doc) {
				return true
			}
		}
		return false
	}
	found := c.path.Lookup(doc)
	for _, o := range c.ops {
		if !o.test(found) {
			return false
		}
	}
	return true
}

// test applies an operator to the values a path reached (none when it is
// absent; several when it crossed an array, or reached one): positive
// operators pass when any value passes, negative ones when none fails.
func (o op) test(found []any) bool {
	vals := flatten(found)
	switch o.name {
	case "$exist":
		return (len(found) > 0) == o.value.(bool)
	case "$neq":
		return !anyOf(vals, func(v any) bool { return equal(v, o.value) })
	case "$nin":
		return !anyOf(vals, func(v any) bool { return in(v, o.value.([]any)) })
	}
	return anyOf(vals, func(v any) bool { return o.pass(v) })
}

func (o op) pass(v any) bool {
	switch o.name {
	case "$eq":
		return equal(v, o.value)
	case "$in":
		return in(v, o.value.([]any))
	case "$regex":
		s, ok := v.(string)
		return ok && o.re.MatchString(s)
	}
	c, ok := compare(v, o.value)
	if !ok {
		return false
	}
	switch o.name {
	case "$gt":
		return c > 0
	case "$gte":
		return c >= 0
	case "$lt":
		return c < 0
	}
	return c <= 0 // $lte
}

// flatten adds each element of an array reached to the values tested, so
// that {"data.tags": "urgent"} matches a tags list holding "urgent".
func flatten(found []any) []any {
	out := found
	for _, v := range found {
		if a, ok := v.([]any); ok {
			out = append(out, a...)
		}
	}
	return out
}

func anyOf(vals []any, f func(any) bool) bool {
	for _, v := range vals {
		if f(v) {
			return true
		}
	}
	return false
}

func in(v any, list []any) bool {
	for _, w := range list {
		if equal(v, w) {
			return true
		}
	}
	return false
}

// equal compares JSON values, numbers by value (1 equals 1.0).
func equal(a, b any) bool {
	if c, ok := compare(a, b); ok {
		return c == 0
	}
	al, aList := a.([]any)
	bl, bList := b.([]any)
	if aList && bList {
		return slices.EqualFunc(al, bl, equal)
	}
	return reflect.DeepEqual(a, b)
}

// compare orders two numbers or two strings.
func compare(a, b any) (int, bool) {
	an, aNum := a.(json.Number)
	bn, bNum := b.(json.Number)
	if aNum && bNum {
		if !payload.Tame(an) || !payload.Tame(bn) {
			return compareFloats(an, bn)
		}
		// Exactly, as written: ids past 2^53 stay apart.
		x, okA := new(big.Rat).SetString(string(an))
		y, okB := new(big.Rat).SetString(string(bn))
		if !okA || !okB {
			return 0, false
		}
		return x.Cmp(y), true
	}
	as, aStr := a.(string)
	bs, bStr := b.(string)
	if aStr && bStr {
		return strings.Compare(as, bs), true
	}
	return 0, false
}

// compareFloats orders numbers too large to compare exactly in little
// time, as float64 (±Inf past its range).
func compareFloats(a, b json.Number) (int, bool) {
	x, errA := strconv.ParseFloat(string(a), 64)
	y, errB := strconv.ParseFloat(string(b), 64)
	if errA != nil && !errors.Is(errA, strconv.ErrRange) || errB != nil && !errors.Is(errB, strconv.ErrRange) {
		return 0, false
	}
	return cmp.Compare(x, y), true
}

// Split divides an event's subscribers into those its filters let through
// and those they leave out, reading the event's payload once.
func Split(ev *webhook.Event, subs []*webhook.Webhook) (pass, out []*webhook.Webhook) {
	var doc map[string]any
	for _, w := range subs {
		if len(w.Filter) == 0 || string(w.Filter) == "null" {
			pass = append(pass, w)
			continue
		}
		f, err := Compiled(w.Filter)
		if err == nil && !f.Empty() && doc == nil {
			doc, err = payload.Document(ev)
		}
		if err != nil || !f.Empty() && !f.Matches(doc) {
			out = append(out, w)
			continue
		}
		pass = append(pass, w)
	}
	return pass, out
}
