// Package payload turns an event into the body one subscriber receives:
// the standard envelope, narrowed by the subscriber's transformation rules,
// with the published payload's own bytes added when asked, or a body of
// the subscriber's own made by a jq program; and gzip-compressed when
// asked. The options live in the webhook's metadata, where the LOKI guide puts
// them.
package payload

import (
	"fmt"
	"strings"

	"github.com/loki-interceptor/herald/webhook"
)

// Metadata keys the options are read from.
const (
	KeyFormat      = "payload_format"
	KeyTemplate    = "payload_template"
	KeyIncludeRaw  = "include_raw_payload"
	KeyCompression = "compression"
	KeyRules       = "transformation_rules"
	KeyInclude     = "include_fields"
	KeyExclude     = "exclude_fields"
)

// RawPayloadKey is the body field include_raw_payload adds: the payload as
// the publisher sent it, byte for byte, as a JSON string.
const RawPayloadKey = "raw_payload"

// Format is how the body is made.
type Format string

const (
	// Standard is the envelope every receiver gets by default.
	Standard Format = "standard"
	// Custom is the output of the subscriber's jq program (payload_template)
	// run on the standard envelope; without a program, the envelope itself
	// re-encoded, as the LOKI guide's example (custom, raw payload, gzip) asks.
	Custom Format = "custom"
)

// Gzip is the one compression offered.
const Gzip = "gzip"

// Limits on what a subscriber may configure.
const (
	MaxFields        = 64
	MaxFieldLen      = 256
	MaxTemplateBytes = 8 << 10
)

// Options are a subscriber's payload settings.
type Options struct {
	Format      Format
	Template    string
	IncludeRaw  bool
	Compression string
	Include     []Path
	Exclude     []Path
}

// Plain says the options change nothing: the body is the standard one.
func (o *Options) Plain() bool {
	return o.Format != Custom && !o.IncludeRaw && len(o.Include) == 0 && len(o.Exclude) == 0
}

// For reads a webhook's payload options from its metadata. Options that
// fail to parse are an error here; the API refuses them on create and
// update, so it only happens to metadata written another way.
func For(w *webhook.Webhook) (*Options, error) {
	o, fe := Parse(w.Metadata)
	if len(fe) > 0 {
		return nil, fmt.Errorf("webhook %d's payload options: %s %s", w.ID, fe[0].Field, fe[0].Message)
	}
	return o, nil
}

// Parse reads payload options from metadata, with a field error (its field
// under metadata) for each that is not valid. Other metadata keys are the
// subscriber's own and left alone.
func Parse(md map[string]any) (*Options, webhook.FieldErrors) {
	var fe webhook.FieldErrors
	o := &Options{Format: Standard}
	if v, ok := md[KeyFormat]; ok && v != nil {
		switch f, _ := v.(string); Format(f) {
		case Standard, Custom:
			o.Format = Format(f)
		default:
			fe.Add("metadata."+KeyFormat, "must be %q or %q", Standard, Custom)
		}
	}
	o.parseTemplate(md, &fe)
	if v, ok := md[KeyIncludeRaw]; ok && v != nil {
		b, isBool := v.(bool)
		if !isBool {
			fe.Add("metadata."+KeyIncludeRaw, "must be true or false")
		}
		o.IncludeRaw = b
	}
	if v, ok := md[KeyCompression]; ok && v != nil {
		switch c, _ := v.(string); c {
		case "", "none":
		case Gzip:
			o.Compression = Gzip
		default:
			fe.Add("metadata."+KeyCompression, "must be %q or \"none\"", Gzip)
		}
	}
	o.parseRules(md, &fe)
	return o, fe
}

func (o *Options) parseTemplate(md map[string]any, fe *webhook.FieldErrors) {
	v, given := md[KeyTemplate]
	src, isString := v.(string)
	switch {
	case given && v != nil && !isString:
		fe.Add("metadata."+KeyTemplate, "must be a jq program, as a string")
		return
	case o.Format == Custom && strings.TrimSpace(src) == "":
		return // the envelope itself
	case o.Format != Custom && given && v != nil:
		fe.Add("metadata."+KeyTemplate, "is used only with payload_format %q", Custom)
		return
	case o.Format != Custom:
		return
	case len(src) > MaxTemplateBytes:
		fe.Add("metadata."+KeyTemplate, "must be at most %d bytes", MaxTemplateBytes)
		return
	}
	if _, err := compile(src); err != nil {
		fe.Add("metadata."+KeyTemplate, "%v", err)
		return
	}
	o.Template = src
}

func (o *Options) parseRules(md map[string]any, fe *webhook.FieldErrors) {
	v, ok := md[KeyRules]
	if !ok || v == nil {
		return
	}
	rules, isObject := v.(map[string]any)
	if !isObject {
		fe.Add("metadata."+KeyRules, "must be an object with include_fields and/or exclude_fields")
		return
	}
	o.Include = parsePaths(rules, KeyInclude, fe)
	o.Exclude = parsePaths(rules, KeyExclude, fe)
}

func parsePaths(rules map[string]any, key string, fe *webhook.FieldErrors) []Path {
	field := "metadata." + KeyRules + "." + key
	v, ok := rules[key]
	if !ok || v == nil {
		return nil
	}
	list, isList := v.([]any)
	if !isList || len(list) > MaxFields {
		fe.Add(field, "must be a list of at most %d dot paths", MaxFields)
		return nil
	}
	var out []Path
	for i, e := range list {
		s, isString := e.(string)
		if !isString || len(s) > MaxFieldLen {
			fe.Add(fmt.Sprintf("%s[%d]", field, i), "must be a dot path of at most %d characters", MaxFieldLen)
			continue
		}
		p, err := ParsePath(s)
		if err != nil {
			fe.Add(fmt.Sprintf("%s[%d]", field, i), "%v", err)
			continue
		}
		out = append(out, p)
	}
	return out
}
