package eventtypes

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"

	"github.com/loki-interceptor/herald/payload"
	"github.com/loki-interceptor/herald/webhook"
)

// SchemaDialect is the JSON Schema draft of every event type's schema.
const SchemaDialect = "https://json-schema.org/draft/2020-12/schema"

// SchemaID is the $id of an event type's schema: a name, not a location
// (Herald serves it at /api/v1/event-types/{type}/schema, on whatever host).
func SchemaID(eventType string) string { return "urn:herald:event-type:" + eventType }

// notBlank is the pattern of a required string: present is not enough,
// an empty or all-space value says nothing either.
const notBlank = `\S`

// Object is a JSON object that keeps its members in the order written, so
// that a schema Herald writes reads in the order its fields are documented.
type Object []Member

// Member is one member of an Object.
type Member struct {
	Key   string
	Value any
}

func (o Object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(m.Key)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(m.Value)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// builtinSchema writes a built-in type's JSON Schema from its payload
// struct's tags.
func builtinSchema(et Type, t reflect.Type) json.RawMessage {
	var props Object
	required := []string{}
	var aliased []any // one anyOf per required field that has aliases
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		name, req := jsonName(sf), sf.Tag.Get("required") == "true"
		props = append(props, Member{name, propertySchema(sf, req, sf.Tag.Get("doc"))})
		var aliases []string
		if a := sf.Tag.Get("alias"); a != "" {
			aliases = strings.Split(a, ",")
		}
		for _, a := range aliases {
			props = append(props, Member{a, propertySchema(sf, req, fmt.Sprintf("%s (the LOKI guide's name for %s)", sf.Tag.Get("doc"), name))})
		}
		switch {
		case req && len(aliases) == 0:
			required = append(required, name)
		case req:
			var anyOf []any
			for _, n := range append([]string{name}, aliases...) {
				anyOf = append(anyOf, Object{{"required", []string{n}}})
			}
			aliased = append(aliased, Object{{"anyOf", anyOf}})
		}
	}
	doc := Object{{"$schema", SchemaDialect}, {"$id", SchemaID(et.Name)}, {"title", et.Name},
		{"description", fmt.Sprintf("Sent when %s%s. Carries: %s.", strings.ToLower(et.TriggeredWhen[:1]), et.TriggeredWhen[1:], et.Description)},
		{"type", "object"}, {"properties", props}, {"required", required}}
	if len(aliased) > 0 {
		doc = append(doc, Member{"allOf", aliased})
	}
	doc = append(doc, Member{"examples", []json.RawMessage{et.Example}})
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return b
}

// propertySchema is one field's schema. An optional field may be null (it
// was always read as absent); a required one must hold a value.
func propertySchema(sf reflect.StructField, required bool, doc string) Object {
	typ := fieldType(sf.Type)
	var s Object
	switch {
	case typ == "any":
	case required:
		s = append(s, Member{"type", typ})
	default:
		s = append(s, Member{"type", []string{typ, "null"}})
	}
	if typ == "array" {
		s = append(s, Member{"items", Object{{"type", fieldType(sf.Type.Elem())}}})
	}
	if typ == "string" && required && sf.Tag.Get("enum") == "" {
		s = append(s, Member{"pattern", notBlank})
	}
	if enum := sf.Tag.Get("enum"); enum != "" {
		values := []any{}
		for _, v := range strings.Split(enum, ",") {
			values = append(values, v)
		}
		if !required {
			values = append(values, nil)
		}
		s = append(s, Member{"enum", values})
	}
	if v, ok := tagFloat(sf, "min"); ok {
		s = append(s, Member{"minimum", v})
	}
	if v, ok := tagFloat(sf, "max"); ok {
		s = append(s, Member{"maximum", v})
	}
	return append(s, Member{"description", doc})
}

// refuseLoader is the compiler's only way to fetch a $ref Herald was not
// given: it refuses. A schema must not make the API read its files or
// reach the network.
type refuseLoader struct{}

func (refuseLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("%s is not part of this schema; Herald does not fetch schemas", url)
}

func compileSchema(id string, doc json.RawMessage) (*jsonschema.Schema, error) {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(refuseLoader{})
	if err := c.AddResource(id, v); err != nil {
		return nil, err
	}
	return c.Compile(id)
}

// CheckSchema compiles an operator's JSON Schema document on its own,
// naming what is wrong by its place in the document under field
// (schema.properties.amount.minimum).
func CheckSchema(field string, doc json.RawMessage) webhook.FieldErrors {
	const id = "urn:herald:submitted-schema"
	var fe webhook.FieldErrors
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		fe.Add(field, "must be JSON: %v", err)
		return fe
	}
	if payload.RefuseWildNumbers(&fe, field, v) {
		return fe
	}
	_, err = compileSchema(id, doc)
	var serr *jsonschema.SchemaValidationError
	var verr *jsonschema.ValidationError
	switch {
	case err == nil:
	case errors.As(err, &serr) && errors.As(serr.Err, &verr):
		collect(&fe, field, v, verr)
		sortFieldErrors(fe)
	default:
		msg := strings.ReplaceAll(err.Error(), id, "")
		fe.Add(field, "does not compile as JSON Schema: %s", msg)
	}
	return fe
}

// collect turns a validation error's tree into field errors, one per
// failed leaf, each at its place in the instance.
func collect(fe *webhook.FieldErrors, field string, inst any, e *jsonschema.ValidationError) {
	at := fieldPath(field, inst, e.InstanceLocation)
	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		for _, m := range k.Missing {
			fe.Add(at+"."+m, "is required")
		}
		return
	case *kind.AnyOf, *kind.OneOf:
		if names := alternatives(e); names != nil {
			fe.Add(at+"."+names[0], "is required (as %s)", strings.Join(names, " or "))
			return
		}
		if len(e.Causes) > 0 {
			// The alternatives' own errors would contradict each other;
			// the first says what one of them expects.
			first, where := firstLeaf(e), ""
			if p := fieldPath(field, inst, first.InstanceLocation); p != at {
				where = p + ": "
			}
			fe.Add(at, "matches none of the alternatives (%s); against the first: %s%s", e.ErrorKind.KeywordPath()[0], where, message(first))
			return
		}
	}
	if len(e.Causes) == 0 {
		fe.Add(at, "%s", message(e))
		return
	}
	for _, c := range e.Causes {
		collect(fe, field, inst, c)
	}
}

// alternatives reads an anyOf whose branches each require one property,
// at the same place: a required field with aliases. It returns the names.
func alternatives(e *jsonschema.ValidationError) []string {
	var names []string
	for _, c := range e.Causes {
		r, ok := c.ErrorKind.(*kind.Required)
		if !ok || len(c.Causes) > 0 || len(r.Missing) != 1 || !slices.Equal(c.InstanceLocation, e.InstanceLocation) {
			return nil
		}
		names = append(names, r.Missing[0])
	}
	return names
}

func firstLeaf(e *jsonschema.ValidationError) *jsonschema.ValidationError {
	for len(e.Causes) > 0 {
		e = e.Causes[0]
	}
	return e
}

// fieldPath names a place in a JSON value as Herald's field errors do:
// payload.changes[0].field.
func fieldPath(field string, v any, loc []string) string {
	var b strings.Builder
	b.WriteString(field)
	for _, tok := range loc {
		switch cur := v.(type) {
		case []any:
			i, _ := strconv.Atoi(tok)
			fmt.Fprintf(&b, "[%d]", i)
			if i >= 0 && i < len(cur) {
				v = cur[i]
			}
		case map[string]any:
			b.WriteString("." + tok)
			v = cur[tok]
		default:
			b.WriteString("." + tok)
		}
	}
	return b.String()
}

// message words a leaf error as Herald's other field errors are worded,
// falling back to the library's wording for the rarer keywords.
func message(e *jsonschema.ValidationError) string {
	switch k := e.ErrorKind.(type) {
	case *kind.Type:
		return typeMessage(k)
	case *kind.Enum:
		return "must be one of " + joinValues(k.Want)
	case *kind.Const:
		return "must be " + joinValues([]any{k.Want})
	case *kind.Minimum:
		return "must be at least " + ratString(k.Want)
	case *kind.Maximum:
		return "must be at most " + ratString(k.Want)
	case *kind.ExclusiveMinimum:
		return "must be greater than " + ratString(k.Want)
	case *kind.ExclusiveMaximum:
		return "must be less than " + ratString(k.Want)
	case *kind.MinLength:
		return fmt.Sprintf("must be at least %d characters", k.Want)
	case *kind.MaxLength:
		return fmt.Sprintf("must be at most %d characters", k.Want)
	case *kind.Pattern:
		if k.Want == notBlank {
			return "must not be empty"
		}
		return fmt.Sprintf("must match the pattern %q", k.Want)
	case *kind.AdditionalProperties:
		return "must not have the properties " + strings.Join(k.Properties, ", ")
	}
	leaf := &jsonschema.ValidationError{SchemaURL: e.SchemaURL, InstanceLocation: e.InstanceLocation, ErrorKind: e.ErrorKind}
	return leaf.BasicOutput().Error.String()
}

func typeMessage(k *kind.Type) string {
	var want []string
	for _, w := range k.Want {
		if w != "null" {
			want = append(want, article(w))
		}
	}
	if slices.Contains(k.Want, "null") {
		want = append(want, "null")
	}
	if k.Got == "null" {
		return "must not be null: it must be " + strings.Join(want, " or ")
	}
	return "must be " + strings.Join(want, " or ")
}

func joinValues(vs []any) string {
	out := make([]string, len(vs))
	for i, v := range vs {
		if s, ok := v.(string); ok {
			out[i] = s
		} else {
			b, _ := json.Marshal(v)
			out[i] = string(b)
		}
	}
	return strings.Join(out, ", ")
}

func ratString(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	f, _ := r.Float64()
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// sortFieldErrors orders errors by field, so that the first one named is
// the same on every run (the library visits properties in map order).
func sortFieldErrors(fe webhook.FieldErrors) {
	slices.SortStableFunc(fe, func(a, b webhook.FieldError) int { return strings.Compare(a.Field, b.Field) })
}
