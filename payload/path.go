package payload

import (
	"fmt"
	"strconv"
	"strings"
)

// Path is a dot path into the delivered JSON: "event_type", "data.alert_level",
// "data.changes.field". Its first segment names a field of the envelope
// (event_id, event_type, source, source_id, timestamp, data); any other
// first segment is looked for under data, so that the LOKI guide's
// include_fields: ["status"] means data.status. A segment met by an array
// applies to each of its elements, unless it is a number, which picks the
// element at that index (from 0).
type Path []string

// envelopeKeys are the top-level fields of the standard body.
var envelopeKeys = map[string]bool{"event_id": true, "event_type": true, "source": true, "source_id": true, "timestamp": true, "data": true}

// maxPathDepth bounds a path's segments: a document nested deeper is not
// worth addressing, and a path is walked once per delivery.
const maxPathDepth = 32

// ParsePath reads a dot path, rooting it in data when its first segment is
// not an envelope field.
func ParsePath(s string) (Path, error) {
	if s == "" {
		return nil, fmt.Errorf("must not be empty")
	}
	segs := strings.Split(s, ".")
	if len(segs) > maxPathDepth {
		return nil, fmt.Errorf("must have at most %d segments", maxPathDepth)
	}
	for _, seg := range segs {
		if seg == "" {
			return nil, fmt.Errorf("%q has an empty segment (two dots, or a dot at an end)", s)
		}
	}
	if !envelopeKeys[segs[0]] {
		segs = append([]string{"data"}, segs...)
	}
	return Path(segs), nil
}

func (p Path) String() string { return strings.Join(p, ".") }

// index reads a segment as an array index.
func index(seg string) (int, bool) {
	i, err := strconv.Atoi(seg)
	return i, err == nil && i >= 0 && seg == strconv.Itoa(i)
}

// Lookup returns the values a path reaches in a decoded JSON document: one
// for a path through objects, one per element where it crosses an array.
func (p Path) Lookup(doc any) []any {
	if len(p) == 0 {
		return []any{doc}
	}
	switch v := doc.(type) {
	case map[string]any:
		child, ok := v[p[0]]
		if !ok {
			return nil
		}
		return p[1:].Lookup(child)
	case []any:
		if i, ok := index(p[0]); ok {
			if i >= len(v) {
				return nil
			}
			return p[1:].Lookup(v[i])
		}
		var out []any
		for _, e := range v {
			out = append(out, p.Lookup(e)...)
		}
		return out
	}
	return nil
}

// pick returns a copy of doc holding only what p reaches, and whether it
// reached anything.
func (p Path) pick(doc any) (any, bool) {
	if len(p) == 0 {
		return doc, true
	}
	switch v := doc.(type) {
	case map[string]any:
		child, ok := v[p[0]]
		if !ok {
			return nil, false
		}
		picked, ok := p[1:].pick(child)
		if !ok {
			return nil, false
		}
		return map[string]any{p[0]: picked}, true
	case []any:
		if i, ok := index(p[0]); ok {
			if i >= len(v) {
				return nil, false
			}
			picked, ok := p[1:].pick(v[i])
			out := make([]any, len(v))
			for j := range out {
				out[j] = gap{}
			}
			out[i] = picked
			return out, ok
		}
		// Every element keeps its place, so that two picks of the same
		// array merge element by element; prune drops the gaps.
		out := make([]any, len(v))
		found := false
		for i, e := range v {
			out[i] = gap{}
			if picked, ok := p.pick(e); ok {
				out[i], found = picked, true
			}
		}
		return out, found
	}
	return nil, false
}

// gap holds the place of an array element a pick did not reach.
type gap struct{}

// prune removes the gaps picks left in arrays.
func prune(doc any) any {
	switch v := doc.(type) {
	case map[string]any:
		for k, x := range v {
			v[k] = prune(x)
		}
	case []any:
		out := v[:0]
		for _, x := range v {
			if _, ok := x.(gap); !ok {
				out = append(out, prune(x))
			}
		}
		return out
	}
	return doc
}

// remove deletes what p reaches from doc, in place.
func (p Path) remove(doc any) {
	if len(p) == 0 {
		return
	}
	switch v := doc.(type) {
	case map[string]any:
		if len(p) == 1 {
			delete(v, p[0])
			return
		}
		if child, ok := v[p[0]]; ok {
			p[1:].remove(child)
		}
	case []any:
		if i, ok := index(p[0]); ok {
			switch {
			case i >= len(v):
			case len(p) == 1:
				v[i] = gap{} // pruned once every exclusion is done
			default:
				p[1:].remove(v[i])
			}
			return
		}
		for _, e := range v {
			p.remove(e)
		}
	}
}

// merge combines two picks of the same document into the first: objects
// key by key, arrays element by element (each pick of an array keeps its
// order).
func merge(a, b any) any {
	if _, ok := b.(gap); ok {
		return a
	}
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			return b
		}
		// In place: picks are made afresh from a document made afresh.
		for k, x := range bv {
			if y, ok := av[k]; ok {
				av[k] = merge(y, x)
			} else {
				av[k] = x
			}
		}
		return av
	case []any:
		bv, ok := b.([]any)
		if !ok || len(bv) != len(av) {
			return b
		}
		out := make([]any, len(av))
		for i := range av {
			out[i] = merge(av[i], bv[i])
		}
		return out
	}
	return b
}
