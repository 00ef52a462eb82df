package payload

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/itchyny/gojq"

	"github.com/loki-interceptor/herald/memo"
	"github.com/loki-interceptor/herald/webhook"
)

// Bounds on one render: a template is a program, and a program can loop.
const (
	RenderTimeout = 100 * time.Millisecond
	MaxBodyBytes  = 1 << 20
)

// ErrRender marks a body that could not be made: the attempt fails for
// good, since rendering the same event again fails the same way.
var ErrRender = errors.New("payload")

// ErrRenderTimeout marks a template that ran out of time, which a busy
// machine can cause: worth another attempt.
var ErrRenderTimeout = errors.New("payload template timed out")

// errTemplateTime is why a render's own deadline ends it, told apart
// from the attempt's deadline or cancellation.
var errTemplateTime = errors.New("template time is up")

// program is a compiled jq template.
type program struct{ code *gojq.Code }

// programs are compiled templates by their source: templates are few,
// and compiling one takes microseconds.
var programs = &memo.Table[*program]{Max: 512}

// compile parses and compiles a jq template once per source text. A syntax
// error names its line and column.
func compile(src string) (*program, error) { return programs.Get(src, compileNow) }

func compileNow(src string) (*program, error) {
	q, err := gojq.Parse(src)
	if err != nil {
		var pe *gojq.ParseError
		if errors.As(err, &pe) {
			line, col := position(src, tokenStart(src, pe))
			return nil, fmt.Errorf("jq syntax error at line %d, column %d: %v", line, col, err)
		}
		return nil, fmt.Errorf("jq syntax error: %v", err)
	}
	code, err := gojq.Compile(q)
	if err != nil {
		if offset, ok := undefinedAt(src, err); ok {
			line, col := position(src, offset)
			return nil, fmt.Errorf("jq program does not compile at line %d, column %d: %v", line, col, err)
		}
		return nil, fmt.Errorf("jq program does not compile: %v", err)
	}
	return &program{code: code}, nil
}

// Render makes the body of an event for these options, uncompressed: what
// the signatures cover. With plain options it is the event's standard body,
// byte for byte. An error wraps ErrRender.
func (o *Options) Render(ctx context.Context, ev *webhook.Event) ([]byte, error) {
	if o.Plain() {
		return ev.Body()
	}
	if o.Format == Custom && o.Template != "" {
		return o.renderTemplate(ctx, ev)
	}
	doc, err := o.document(ev)
	if err != nil {
		return nil, err
	}
	if o.IncludeRaw {
		doc[RawPayloadKey] = string(ev.Payload)
	}
	body, err := encodeWithin(doc)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRender, err)
	}
	return body, nil
}

// encodeWithin encodes a body, refusing one over MaxBodyBytes.
func encodeWithin(v any) ([]byte, error) {
	body, err := Encode(v)
	if err != nil {
		return nil, err
	}
	if len(body) > MaxBodyBytes {
		return nil, fmt.Errorf("the body would be %d bytes; the limit is %d", len(body), MaxBodyBytes)
	}
	return body, nil
}

// renderTemplate runs the template in a template process. Without rules
// the envelope goes as the standard body's bytes, decoded only there.
func (o *Options) renderTemplate(ctx context.Context, ev *webhook.Event) ([]byte, error) {
	req := renderRequest{Template: o.Template}
	if len(o.Include)+len(o.Exclude) == 0 {
		body, err := ev.Body()
		if err != nil {
			return nil, fmt.Errorf("%w: the event's payload is not JSON: %v", ErrRender, err)
		}
		req.Doc = body
	} else {
		doc, err := o.document(ev)
		if err != nil {
			return nil, err
		}
		if req.Doc, err = Encode(doc); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrRender, err)
		}
	}
	if o.IncludeRaw {
		raw := string(ev.Payload)
		req.Raw = &raw
	}
	return templates.render(ctx, req)
}

// document is the envelope, narrowed by the rules.
func (o *Options) document(ev *webhook.Event) (map[string]any, error) {
	doc, err := Document(ev)
	if err != nil {
		return nil, fmt.Errorf("%w: the event's payload is not JSON: %v", ErrRender, err)
	}
	return o.narrow(doc), nil
}

// Document is the standard envelope of an event as a decoded JSON value,
// numbers kept as written: what transformation rules, templates and
// filters see.
func Document(ev *webhook.Event) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(ev.Payload))
	dec.UseNumber()
	var data any
	if err := dec.Decode(&data); err != nil {
		return nil, err
	}
	return map[string]any{
		"event_id":   ev.EventID,
		"event_type": ev.EventType,
		"source":     ev.Source,
		"source_id":  ev.SourceID,
		"timestamp":  ev.CreatedAt.UTC().Format(webhook.TimestampFormat),
		"data":       data,
	}, nil
}

// narrow applies the transformation rules: include first, then exclude.
func (o *Options) narrow(doc map[string]any) map[string]any {
	if len(o.Include) > 0 {
		var kept any = map[string]any{}
		for _, p := range o.Include {
			if picked, ok := p.pick(doc); ok {
				kept = merge(kept, picked)
			}
		}
		doc = prune(kept).(map[string]any)
	}
	for _, p := range o.Exclude {
		p.remove(doc)
	}
	if len(o.Exclude) > 0 {
		prune(doc) // elements excluded by index leave gaps
	}
	return doc
}

// Encode writes a value as compact JSON, leaving <, > and & as they are:
// receivers and chat platforms need no HTML escapes, and bodies stay
// readable in logs and golden files.
func Encode(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	}
	return "a number"
}

// Compress gzips a body for the wire.
func Compress(body []byte) ([]byte, error) {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(body); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
