// Package filter decides whether an event goes to a subscriber, by a
// filter on its envelope and payload written as JSON with the operators
// users know from Convoy and Outpost:
//
//	{"event_type": "compliance.alert",
//	 "data.alert_level": {"$in": ["high", "critical"]},
//	 "$or": [{"source": "validator"}, {"data.affected_documents": {"$exist": true}}]}
//
// Every key of an object must match (and). A key is a dot path (package
// payload: envelope fields, anything else under data, arrays crossed
// element by element) or one of $and / $or, each a list of filters. A
// path's condition is a value (equal), an object of operators ($eq $neq
// $in $nin $gt $gte $lt $lte $exist $regex), or an object of further keys
// under that path.
package filter

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/loki-interceptor/herald/payload"
	"github.com/loki-interceptor/herald/webhook"
)

// Limits on a filter.
const (
	MaxBytes = 8 << 10
	MaxDepth = 8
)

// Filter is a parsed filter; the zero Filter (no conditions) matches
// every event.
type Filter struct{ all []cond }

// cond is one condition: a path's test, or an $and / $or of filters.
type cond struct {
	path payload.Path
	ops  []op
	and  []*Filter
	or   []*Filter
}

type op struct {
	name  string
	value any
	re    *regexp.Regexp
}

var operators = []string{"$eq", "$neq", "$in", "$nin", "$gt", "$gte", "$lt", "$lte", "$exist", "$regex"}

// Parse reads a filter; empty or null is no filter. Errors name where in
// the filter they are, under field.
func Parse(raw json.RawMessage, field string) (*Filter, webhook.FieldErrors) {
	var fe webhook.FieldErrors
	if len(raw) == 0 || string(raw) == "null" {
		return &Filter{}, nil
	}
	if len(raw) > MaxBytes {
		fe.Add(field, "must be at most %d bytes", MaxBytes)
		return nil, fe
	}
	var v any
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		fe.Add(field, "must be a JSON object: %v", err)
		return nil, fe
	}
	obj, ok := v.(map[string]any)
	if !ok {
		fe.Add(field, "must be a JSON object of conditions")
		return nil, fe
	}
	if payload.RefuseWildNumbers(&fe, field, obj) {
		return nil, fe
	}
	f := parseObject(obj, nil, field, 0, &fe)
	if len(fe) > 0 {
		return nil, fe
	}
	return f, nil
}

// parseObject reads an object of conditions under a path prefix.
func parseObject(obj map[string]any, prefix []string, field string, depth int, fe *webhook.FieldErrors) *Filter {
	f := &Filter{}
	if depth > MaxDepth {
		fe.Add(field, "nests deeper than %d levels", MaxDepth)
		return f
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		at := field + "." + k
		switch {
		case k == "$and" || k == "$or":
			subs := parseList(obj[k], prefix, at, depth, fe)
			if k == "$and" {
				f.all = append(f.all, cond{and: subs})
			} else {
				f.all = append(f.all, cond{or: subs})
			}
		case strings.HasPrefix(k, "$"):
			fe.Add(at, "is not an operator here; at the top of a filter or under a path use $and or $or, and under a path %s", strings.Join(operators, " "))
		default:
			f.all = append(f.all, parsePath(append(slices.Clone(prefix), strings.Split(k, ".")...), obj[k], at, depth, fe)...)
		}
	}
	return f
}

func parseList(v any, prefix []string, field string, depth int, fe *webhook.FieldErrors) []*Filter {
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		fe.Add(field, "must be a non-empty list of filters")
		return nil
	}
	var out []*Filter
	for i, e := range list {
		obj, ok := e.(map[string]any)
		if !ok {
			fe.Add(fmt.Sprintf("%s[%d]", field, i), "must be an object of conditions")
			continue
		}
		out = append(out, parseObject(obj, prefix, fmt.Sprintf("%s[%d]", field, i), depth+1, fe))
	}
	return out
}

// parsePath reads the condition on one path: a value, operators, or more
// keys under it.
func parsePath(segs []string, v any, field string, depth int, fe *webhook.FieldErrors) []cond {
	obj, isObject := v.(map[string]any)
	if !isObject || len(obj) == 0 {
		p, ok := path(segs, field, fe)
		if !ok {
			return nil
		}
		return []cond{{path: p, ops: []op{{name: "$eq", value: v}}}}
	}
	if !hasOperator(obj) {
		return []cond{{and: []*Filter{parseObject(obj, segs, field, depth+1, fe)}}}
	}
	p, ok := path(segs, field, fe)
	if !ok {
		return nil
	}
	c := cond{path: p}
	for _, name := range slices.Sorted(maps.Keys(obj)) {
		o, err := parseOp(name, obj[name])
		if err != nil {
			fe.Add(field+"."+name, "%v", err)
			continue
		}
		c.ops = append(c.ops, o)
	}
	return []cond{c}
}

func path(segs []string, field string, fe *webhook.FieldErrors) (payload.Path, bool) {
	p, err := payload.ParsePath(strings.Join(segs, "."))
	if err != nil {
		fe.Add(field, "%v", err)
		return nil, false
	}
	return p, true
}

// hasOperator says an object tests the path it is under, rather than
// holding conditions on paths below it ($and and $or do that).
func hasOperator(obj map[string]any) bool {
	for k := range obj {
		if strings.HasPrefix(k, "$") && k != "$and" && k != "$or" {
			return true
		}
	}
	return false
}

func parseOp(name string, v any) (op, error) {
	o := op{name: name, value: v}
	switch name {
	case "$eq", "$neq":
	case "$in", "$nin":
		if _, ok := v.([]any); !ok {
			return o, fmt.Errorf("must be a list of values")
		}
	case "$gt", "$gte", "$lt", "$lte":
		if _, isNum := v.(json.Number); !isNum {
			if _, isString := v.(string); !isString {
				return o, fmt.Errorf("must be a number or a string")
			}
		}
	case "$exist":
		if _, ok := v.(bool); !ok {
			return o, fmt.Errorf("must be true or false")
		}
	case "$regex":
		src, ok := v.(string)
		if !ok {
			return o, fmt.Errorf("must be a regular expression (RE2 syntax), as a string")
		}
		re, err := regexp.Compile(src)
		if err != nil {
			return o, err
		}
		o.re = re
	default:
		return o, fmt.Errorf("is not an operator; use one of %s", strings.Join(operators, " "))
	}
	return o, nil
}
