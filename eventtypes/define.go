package eventtypes

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/loki-interceptor/herald/webhook"
)

// Limits on an operator's definition.
const (
	MaxNameLen        = 100
	MaxDescriptionLen = 2000
	MaxSchemaBytes    = 64 << 10
	MaxExampleBytes   = 16 << 10
)

// NamePattern is what a custom event type's name looks like: lower-case
// words joined by dots, at least two (billing.invoice_paid).
var NamePattern = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`)

// ReservedPrefix begins names Herald keeps for its own events.
const ReservedPrefix = "herald."

// Check validates a definition as an operator submits it (PUT
// /event-types/{type}) and returns the type it defines. Under a built-in
// type's name it is an extension: the payload must then satisfy both the
// built-in schema and the operator's, so an extension can add requirements
// but cannot drop the LOKI guide's.
func Check(d *Def) (Type, error) {
	var fe webhook.FieldErrors
	_, builtin := Lookup(d.Name)
	if !builtin {
		checkName(&fe, d.Name)
		if strings.TrimSpace(d.Description) == "" {
			fe.Add("description", "is required for a custom event type: say when it is sent")
		}
	}
	if len(d.Description) > MaxDescriptionLen || !webhook.PlainText(d.Description, true) {
		fe.Add("description", "must be at most %d characters, none of them control characters other than newlines and tabs", MaxDescriptionLen)
	}
	checkSchemaDoc(&fe, d.Schema, builtin)
	if len(d.Example) > MaxExampleBytes {
		fe.Add("example", "must be at most %d bytes", MaxExampleBytes)
	}
	if err := fe.Err("event type"); err != nil {
		return Type{}, err
	}
	t, err := Build(d)
	if err != nil {
		fe.Add("schema", "%v", err)
		return Type{}, fe.Err("event type")
	}
	if len(d.Example) > 0 {
		fe = append(fe, t.CheckJSON("example", d.Example)...)
	}
	return t, fe.Err("event type")
}

func checkName(fe *webhook.FieldErrors, name string) {
	switch {
	case len(name) > MaxNameLen || !NamePattern.MatchString(name):
		fe.Add("event_type", "must be at most %d characters of lower-case words joined by dots, like billing.invoice_paid (%s)", MaxNameLen, NamePattern)
	case strings.HasPrefix(name, ReservedPrefix):
		fe.Add("event_type", "must not begin %q: such types are Herald's own", ReservedPrefix)
	}
}

// checkSchemaDoc checks what JSON Schema itself allows but Herald does
// not, then that the document compiles.
func checkSchemaDoc(fe *webhook.FieldErrors, doc json.RawMessage, builtin bool) {
	var top map[string]json.RawMessage
	switch {
	case len(doc) == 0 || string(doc) == "null":
		fe.Add("schema", "is required: a JSON Schema (draft 2020-12) for the payload")
		return
	case len(doc) > MaxSchemaBytes:
		fe.Add("schema", "must be at most %d bytes", MaxSchemaBytes)
		return
	case json.Unmarshal(doc, &top) != nil || top == nil:
		fe.Add("schema", "must be a JSON Schema object, like {\"type\": \"object\", \"properties\": {…}}")
		return
	}
	if _, ok := top["$id"]; ok {
		fe.Add("schema.$id", "must be left out: Herald names the schema (urn:herald:event-type:<type>)")
	}
	if s, ok := top["$schema"]; ok && string(s) != `"`+SchemaDialect+`"` {
		fe.Add("schema.$schema", "must be %q (or left out)", SchemaDialect)
	}
	switch typ, ok := top["type"]; {
	case ok && string(typ) != `"object"`:
		fe.Add("schema.type", `must be "object": a payload is a JSON object`)
	case !ok && !builtin:
		fe.Add("schema.type", `is required and must be "object": a payload is a JSON object`)
	}
	if len(*fe) == 0 {
		*fe = append(*fe, CheckSchema("schema", doc)...)
	}
}

// Build compiles a stored definition into its event type. A custom type's
// schema is the operator's document; a built-in type's is the built-in
// schema and the operator's together (allOf), as served.
func Build(d *Def) (Type, error) {
	updated := d.UpdatedAt
	base, builtin := Lookup(d.Name)
	if !builtin {
		t := Type{Name: d.Name, Description: d.Description, Fields: fieldsOf(d.Schema),
			Example: d.Example, UpdatedAt: &updated}
		if len(t.Example) == 0 {
			t.Example = json.RawMessage(`{}`)
		}
		return t.WithSchema(d.Schema)
	}
	doc, err := extended(base, d)
	if err != nil {
		return Type{}, err
	}
	t := base
	t.Extended, t.UpdatedAt = true, &updated
	t.Fields = mergeFields(base.Fields, fieldsOf(d.Schema))
	if len(d.Example) > 0 {
		t.Example = d.Example
	}
	return t.WithSchema(doc)
}

// extended writes a built-in type's schema with an operator's extension:
// both are kept whole under $defs, the extension as a resource of its own
// so that its internal $refs resolve within it.
func extended(base Type, d *Def) (json.RawMessage, error) {
	var body map[string]json.RawMessage
	if err := json.Unmarshal(base.Schema, &body); err != nil {
		return nil, err
	}
	var description string
	json.Unmarshal(body["description"], &description)
	if d.Description != "" {
		description += " Extended: " + d.Description
	}
	delete(body, "$schema")
	delete(body, "$id")
	ext, err := withID(d.Schema, SchemaID(d.Name)+":extension")
	if err != nil {
		return nil, err
	}
	return json.Marshal(Object{
		{Key: "$schema", Value: SchemaDialect},
		{Key: "$id", Value: SchemaID(d.Name)},
		{Key: "title", Value: d.Name},
		{Key: "description", Value: description},
		{Key: "allOf", Value: []any{
			Object{{Key: "$ref", Value: "#/$defs/builtin"}},
			Object{{Key: "$ref", Value: "#/$defs/extension"}},
		}},
		{Key: "$defs", Value: Object{{Key: "builtin", Value: body}, {Key: "extension", Value: ext}}},
	})
}

// withID gives a schema object an $id, keeping its members as written.
func withID(doc json.RawMessage, id string) (json.RawMessage, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, doc); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	if len(b) < 2 || b[0] != '{' {
		return nil, fmt.Errorf("schema is not a JSON object")
	}
	idMember, _ := json.Marshal(Object{{Key: "$id", Value: id}})
	if string(b) == "{}" {
		return idMember, nil
	}
	return append(append(idMember[:len(idMember)-1:len(idMember)-1], ','), b[1:]...), nil
}
