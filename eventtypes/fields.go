package eventtypes

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/loki-interceptor/herald/payload"
)

// property is what the catalog shows of one property of a schema.
type property struct {
	Type        any      `json:"type"`
	Enum        []any    `json:"enum"`
	Minimum     *float64 `json:"minimum"`
	Maximum     *float64 `json:"maximum"`
	Description string   `json:"description"`
}

// fieldsOf documents the top-level properties of an operator's schema, in
// the order written, and the required names it has no property for. It
// reads what a catalog can show; the schema itself is the full story.
func fieldsOf(doc json.RawMessage) []Field {
	var top struct {
		Properties json.RawMessage `json:"properties"`
		Required   []string        `json:"required"`
	}
	json.Unmarshal(doc, &top)
	out := []Field{}
	for name, raw := range payload.Members(top.Properties) {
		var p property
		json.Unmarshal(raw, &p)
		f := Field{Name: name, Type: typeName(p.Type), Required: slices.Contains(top.Required, name),
			Min: p.Minimum, Max: p.Maximum, Description: p.Description}
		for _, v := range p.Enum {
			if v != nil {
				f.Enum = append(f.Enum, fmt.Sprint(v))
			}
		}
		out = append(out, f)
	}
	for _, name := range top.Required {
		if !slices.ContainsFunc(out, func(f Field) bool { return f.Name == name }) {
			out = append(out, Field{Name: name, Type: "any", Required: true})
		}
	}
	return out
}

// typeName shows a property's type: its types other than null, or any.
func typeName(t any) string {
	var types []string
	switch t := t.(type) {
	case string:
		types = []string{t}
	case []any:
		for _, v := range t {
			if s, ok := v.(string); ok && s != "null" {
				types = append(types, s)
			}
		}
	}
	if len(types) == 0 {
		return "any"
	}
	return strings.Join(types, " or ")
}

// mergeFields is a built-in type's fields with an extension's: a field the
// extension requires is required, one it adds is added.
func mergeFields(base, ext []Field) []Field {
	out := slices.Clone(base)
	for _, f := range ext {
		i := slices.IndexFunc(out, func(b Field) bool { return b.Name == f.Name || slices.Contains(b.Aliases, f.Name) })
		if i < 0 {
			out = append(out, f)
			continue
		}
		out[i].Required = out[i].Required || f.Required
		if out[i].Description == "" {
			out[i].Description = f.Description
		}
	}
	return out
}
