package payload

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/itchyny/gojq"

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

var (
	programsMu sync.Mutex
	programs   = map[string]*program{} // compiled templates by source
)

// maxPrograms bounds the cache of compiled templates; past it, it starts
// afresh (templates are few, and compiling one takes microseconds).
const maxPrograms = 512

// compile parses and compiles a jq template once per source text. A syntax
// error names its line and column.
func compile(src string) (*program, error) {
	programsMu.Lock()
	p, ok := programs[src]
	programsMu.Unlock()
	if ok {
		return p, nil
	}
	q, err := gojq.Parse(src)
	if err != nil {
		var pe *gojq.ParseError
		if errors.As(err, &pe) {
			line, col := position(src, pe.Offset)
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
	p = &program{code: code}
	programsMu.Lock()
	if len(programs) >= maxPrograms {
		programs = map[string]*program{}
	}
	programs[src] = p
	programsMu.Unlock()
	return p, nil
}

// undefinedName reads the name out of gojq's "function not defined:
// name/1" and "variable not defined: $name", which carry no position.
var undefinedName = regexp.MustCompile(`not defined: (\$?[A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)*)`)

// undefinedAt finds where a compile error's undefined name is first used.
func undefinedAt(src string, err error) (int, bool) {
	m := undefinedName.FindStringSubmatch(err.Error())
	if m == nil {
		return 0, false
	}
	use := regexp.MustCompile(`(^|[^A-Za-z0-9_$])` + regexp.QuoteMeta(m[1]) + `($|[^A-Za-z0-9_])`)
	at := use.FindStringSubmatchIndex(src)
	if at == nil {
		return 0, false
	}
	return at[3], true // the end of the character before the name
}

// position turns a byte offset into a 1-based line and column.
func position(src string, offset int) (line, col int) {
	offset = min(max(offset, 0), len(src))
	before := src[:offset]
	line = strings.Count(before, "\n") + 1
	col = offset - strings.LastIndex(before, "\n")
	return line, col
}

// Render makes the body of an event for these options, uncompressed: what
// the signatures cover. With plain options it is the event's standard body,
// byte for byte. An error wraps ErrRender.
func (o *Options) Render(ctx context.Context, ev *webhook.Event) ([]byte, error) {
	if o.Plain() {
		return ev.Body()
	}
	doc, err := Document(ev)
	if err != nil {
		return nil, fmt.Errorf("%w: the event's payload is not JSON: %v", ErrRender, err)
	}
	doc = o.narrow(doc)
	var out any = doc
	if o.Format == Custom && o.program != nil {
		if out, err = o.program.run(ctx, doc); err != nil {
			return nil, err
		}
	}
	if o.IncludeRaw {
		obj, ok := out.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: include_raw_payload needs the template to make a JSON object, and it made %s", ErrRender, kind(out))
		}
		obj[RawPayloadKey] = string(ev.Payload)
	}
	body, err := encode(out)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRender, err)
	}
	if len(body) > MaxBodyBytes {
		return nil, fmt.Errorf("%w: the body would be %d bytes; the limit is %d", ErrRender, len(body), MaxBodyBytes)
	}
	return body, nil
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

// run runs the template on the envelope, bounded in time: it must make
// exactly one value.
func (p *program) run(ctx context.Context, doc map[string]any) (any, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, RenderTimeout, errTemplateTime)
	defer cancel()
	iter := p.code.RunWithContext(ctx, doc)
	v, ok := iter.Next()
	if !ok {
		return nil, fmt.Errorf("%w: the template made no value (jq's empty)", ErrRender)
	}
	if err, isErr := v.(error); isErr {
		if parent := context.Cause(ctx); errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			if parent != nil && !errors.Is(parent, errTemplateTime) {
				return nil, fmt.Errorf("%w: %v", ErrRenderTimeout, parent)
			}
			return nil, fmt.Errorf("%w: the template ran longer than %v", ErrRenderTimeout, RenderTimeout)
		}
		return nil, fmt.Errorf("%w: the template failed: %v", ErrRender, err)
	}
	if _, more := iter.Next(); more {
		return nil, fmt.Errorf("%w: the template made more than one value; wrap it in [...] to send a list", ErrRender)
	}
	return v, nil
}

// encode writes a value as compact JSON, leaving <, > and & as they are.
func encode(v any) ([]byte, error) {
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
