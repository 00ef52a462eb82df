package eventtypes_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/loki-interceptor/herald/eventtypes"
	"github.com/loki-interceptor/herald/webhook"
)

func fieldsOf(err error) []string {
	var herr *webhook.Error
	if !errors.As(err, &herr) || herr.Code != webhook.EValidation {
		return nil
	}
	var out []string
	for _, f := range herr.Details.([]webhook.FieldError) {
		out = append(out, f.Field)
	}
	return out
}

const invoiceSchema = `{"type":"object","required":["invoice_id","amount"],"properties":{
	"invoice_id":{"type":"string","description":"Invoice"},
	"amount":{"type":"number","minimum":0},
	"currency":{"enum":["EUR","GBP"]},
	"lines":{"type":"array","items":{"$ref":"#/$defs/line"}}},
	"$defs":{"line":{"type":"object","required":["sku"]}}}`

func TestCheckDefinitions(t *testing.T) {
	tests := []struct {
		name    string
		def     eventtypes.Def
		refused []string // fields named, in order; nil = accepted
	}{
		{"custom", eventtypes.Def{Name: "billing.invoice_paid", Description: "An invoice is paid", Schema: json.RawMessage(invoiceSchema),
			Example: json.RawMessage(`{"invoice_id":"i1","amount":10,"lines":[{"sku":"a"}]}`)}, nil},
		{"one word", eventtypes.Def{Name: "invoice", Description: "d", Schema: json.RawMessage(`{"type":"object"}`)}, []string{"event_type"}},
		{"upper case", eventtypes.Def{Name: "Billing.Paid", Description: "d", Schema: json.RawMessage(`{"type":"object"}`)}, []string{"event_type"}},
		{"Herald's prefix", eventtypes.Def{Name: "herald.paused", Description: "d", Schema: json.RawMessage(`{"type":"object"}`)}, []string{"event_type"}},
		{"too long", eventtypes.Def{Name: "a." + strings.Repeat("b", 100), Description: "d", Schema: json.RawMessage(`{"type":"object"}`)}, []string{"event_type"}},
		{"no description", eventtypes.Def{Name: "billing.paid", Schema: json.RawMessage(`{"type":"object"}`)}, []string{"description"}},
		{"no schema", eventtypes.Def{Name: "billing.paid", Description: "d"}, []string{"schema"}},
		{"boolean schema", eventtypes.Def{Name: "billing.paid", Description: "d", Schema: json.RawMessage(`true`)}, []string{"schema"}},
		{"not an object", eventtypes.Def{Name: "billing.paid", Description: "d", Schema: json.RawMessage(`{"type":"array"}`)}, []string{"schema.type"}},
		{"type left out", eventtypes.Def{Name: "billing.paid", Description: "d", Schema: json.RawMessage(`{"properties":{}}`)}, []string{"schema.type"}},
		{"own $id", eventtypes.Def{Name: "billing.paid", Description: "d", Schema: json.RawMessage(`{"$id":"https://x/s.json","type":"object"}`)}, []string{"schema.$id"}},
		{"another draft", eventtypes.Def{Name: "billing.paid", Description: "d", Schema: json.RawMessage(`{"$schema":"http://json-schema.org/draft-07/schema#","type":"object"}`)}, []string{"schema.$schema"}},
		{"this draft said", eventtypes.Def{Name: "billing.paid", Description: "d", Schema: json.RawMessage(`{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object"}`)}, nil},
		{"does not compile", eventtypes.Def{Name: "billing.paid", Description: "d", Schema: json.RawMessage(`{"type":"object","properties":{"amount":{"minimum":"0"}}}`)}, []string{"schema.properties.amount.minimum"}},
		{"bad example", eventtypes.Def{Name: "billing.invoice_paid", Description: "d", Schema: json.RawMessage(invoiceSchema),
			Example: json.RawMessage(`{"invoice_id":"i1","amount":-1,"lines":[{}]}`)}, []string{"example.amount", "example.lines[0].sku"}},
		{"extension", eventtypes.Def{Name: webhook.ComplianceAlert, Schema: json.RawMessage(`{"required":["tenant_id"],"properties":{"tenant_id":{"type":"string"}}}`)}, nil},
		{"extension of another type", eventtypes.Def{Name: webhook.ComplianceAlert, Schema: json.RawMessage(`{"type":"string"}`)}, []string{"schema.type"}},
		{"extension whose example drops a field the LOKI guide requires", eventtypes.Def{Name: webhook.ComplianceAlert, Schema: json.RawMessage(`{"type":"object"}`),
			Example: json.RawMessage(`{"alert_type":"x"}`)}, []string{"example.alert_level"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := eventtypes.Check(&tt.def)
			if got := fieldsOf(err); !slices.Equal(got, tt.refused) || (tt.refused == nil) != (err == nil) {
				t.Fatalf("refused %v, want %v (%v)", got, tt.refused, err)
			}
		})
	}
}

func TestCustomTypeValidates(t *testing.T) {
	d := &eventtypes.Def{Name: "billing.invoice_paid", Description: "An invoice is paid", Schema: json.RawMessage(invoiceSchema)}
	et, err := eventtypes.Check(d)
	if err != nil {
		t.Fatal(err)
	}
	if et.Builtin || et.Extended || string(et.Example) != `{}` || len(et.Fields) != 4 || !et.Fields[0].Required || et.Fields[0].Name != "invoice_id" ||
		et.Fields[2].Type != "any" || !slices.Equal(et.Fields[2].Enum, []string{"EUR", "GBP"}) {
		t.Fatalf("type %+v", et)
	}
	for payload, want := range map[string][]string{
		`{"invoice_id":"i1","amount":12.5}`:                       nil,
		`{"invoice_id":"i1"}`:                                     {"payload.amount"},
		`{"invoice_id":"i1","amount":"12"}`:                       {"payload.amount"},
		`{"invoice_id":"i1","amount":1,"currency":"USD"}`:         {"payload.currency"},
		`{"invoice_id":"i1","amount":1,"lines":[{"sku":"a"},{}]}`: {"payload.lines[1].sku"},
	} {
		if got := fieldsOf(et.ValidatePayload(json.RawMessage(payload))); !slices.Equal(got, want) {
			t.Errorf("%s: refused %v, want %v", payload, got, want)
		}
	}
}

// An extension adds to a built-in type's schema; it cannot take away what
// the LOKI guide requires, however it is written.
func TestExtensionKeepsTheGuidesRequirements(t *testing.T) {
	d := &eventtypes.Def{Name: webhook.ComplianceAlert, Description: "Alerts name their tenant",
		Schema: json.RawMessage(`{"required":["tenant_id"],"properties":{"tenant_id":{"$ref":"#/$defs/tenant"},"alert_level":{"type":"string"}},
			"$defs":{"tenant":{"type":"string","pattern":"^t_"}}}`)}
	et, err := eventtypes.Check(d)
	if err != nil {
		t.Fatal(err)
	}
	if !et.Builtin || !et.Extended {
		t.Fatalf("type %+v", et)
	}
	for payload, want := range map[string][]string{
		`{"alert_level":"high","alert_type":"gdpr","tenant_id":"t_1"}`:   nil,
		`{"alert_level":"high","alert_type":"gdpr"}`:                     {"payload.tenant_id"},
		`{"alert_level":"high","alert_type":"gdpr","tenant_id":"acme"}`:  {"payload.tenant_id"},
		`{"alert_type":"gdpr","tenant_id":"t_1"}`:                        {"payload.alert_level"},
		`{"alert_level":"severe","alert_type":"gdpr","tenant_id":"t_1"}`: {"payload.alert_level"},
	} {
		if got := fieldsOf(et.ValidatePayload(json.RawMessage(payload))); !slices.Equal(got, want) {
			t.Errorf("%s: refused %v, want %v", payload, got, want)
		}
	}
	i := slices.IndexFunc(et.Fields, func(f eventtypes.Field) bool { return f.Name == "tenant_id" })
	if i < 0 || !et.Fields[i].Required || len(et.Fields) != 6 {
		t.Fatalf("fields %+v", et.Fields)
	}
	// The document served compiles on its own and says the same.
	doc, _ := jsonschema.UnmarshalJSON(strings.NewReader(string(et.Schema)))
	c := jsonschema.NewCompiler()
	c.AddResource("served.json", doc)
	sch, err := c.Compile("served.json")
	if err != nil {
		t.Fatalf("served schema: %v\n%s", err, et.Schema)
	}
	v, _ := jsonschema.UnmarshalJSON(strings.NewReader(`{"alert_type":"gdpr","tenant_id":"t_1"}`))
	if sch.Validate(v) == nil {
		t.Fatal("the served schema lets the built-in requirement go")
	}
	if !strings.Contains(string(et.Schema), "Extended: Alerts name their tenant") {
		t.Fatalf("description not carried: %s", et.Schema)
	}
}

// source is a Source whose definitions and failures the test sets.
type source struct {
	mu    sync.Mutex
	defs  []*eventtypes.Def
	err   error
	reads int
}

func (s *source) ListEventTypes(context.Context) ([]*eventtypes.Def, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	return s.defs, s.err
}

func (s *source) set(err error, defs ...*eventtypes.Def) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.defs, s.err = defs, err
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func paid(updated time.Time) *eventtypes.Def {
	return &eventtypes.Def{Name: "billing.invoice_paid", Description: "paid", Schema: json.RawMessage(invoiceSchema), UpdatedAt: updated}
}

func TestRegistryRereadsAfterItsTTL(t *testing.T) {
	ctx := context.Background()
	src, clk := &source{}, &clock{now: time.Unix(1e9, 0)}
	r := eventtypes.New(src, eventtypes.Options{TTL: 2 * time.Second, Now: clk.Now})
	if _, ok := r.Lookup("billing.invoice_paid"); ok {
		t.Fatal("known before it was defined")
	}
	// Defined through another process: seen once the TTL has passed.
	src.set(nil, paid(clk.Now()))
	clk.advance(time.Second)
	if _, ok := r.Lookup("billing.invoice_paid"); ok || src.reads != 1 {
		t.Fatalf("re-read within the TTL (%d reads)", src.reads)
	}
	clk.advance(1500 * time.Millisecond)
	et, err := r.Get(ctx, "billing.invoice_paid")
	if err != nil || et.Builtin || src.reads != 2 {
		t.Fatalf("after the TTL: %v (%d reads)", err, src.reads)
	}
	names := r.Names()
	if len(names) != 9 || names[0] != webhook.ValidationCompleted || names[8] != "billing.invoice_paid" {
		t.Fatalf("names %v", names)
	}
	// Reload is at once: the process that changed a definition sees it.
	src.set(nil)
	if err := r.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Get(ctx, "billing.invoice_paid"); webhook.ErrorCode(err) != webhook.ENotFound {
		t.Fatalf("after a delete: %v", err)
	}
	list, err := r.List(ctx)
	if err != nil || len(list) != 8 {
		t.Fatalf("list: %d, %v", len(list), err)
	}
}

func TestRegistryWithoutItsDatabase(t *testing.T) {
	ctx := context.Background()
	src, clk := &source{err: errors.New("connection refused")}, &clock{now: time.Unix(1e9, 0)}
	r := eventtypes.New(src, eventtypes.Options{Now: clk.Now})
	// Built-in types are known without the database; a name Herald cannot
	// place is unavailable (503), not unknown (422).
	if _, err := r.Get(ctx, webhook.ComplianceAlert); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Get(ctx, "billing.invoice_paid"); webhook.ErrorCode(err) != webhook.EUnavailable {
		t.Fatalf("never read: %v", err)
	}
	if _, err := r.List(ctx); webhook.ErrorCode(err) != webhook.EUnavailable {
		t.Fatalf("list never read: %v", err)
	}
	if src.reads != 1 {
		t.Fatalf("a failed read is retried at once (%d reads)", src.reads)
	}
	// Once read, a later failure keeps the last view.
	src.set(nil, paid(clk.Now()))
	clk.advance(3 * time.Second)
	if _, err := r.Get(ctx, "billing.invoice_paid"); err != nil {
		t.Fatal(err)
	}
	src.set(errors.New("connection refused"))
	clk.advance(3 * time.Second)
	if _, err := r.Get(ctx, "billing.invoice_paid"); err != nil {
		t.Fatalf("the last view was dropped: %v", err)
	}
}

// A definition that no longer compiles is left out, not the whole view.
func TestRegistrySkipsABadDefinition(t *testing.T) {
	bad := &eventtypes.Def{Name: "billing.broken", Schema: json.RawMessage(`{"type":"object","minProperties":"x"}`)}
	src := &source{defs: []*eventtypes.Def{bad, paid(time.Unix(1, 0))}}
	r := eventtypes.New(src, eventtypes.Options{})
	if _, ok := r.Lookup("billing.broken"); ok {
		t.Fatal("a broken definition was installed")
	}
	if _, ok := r.Lookup("billing.invoice_paid"); !ok {
		t.Fatal("a good definition was dropped with the bad one")
	}
}

func TestRegistryIsSafeForConcurrentUse(t *testing.T) {
	src, clk := &source{defs: []*eventtypes.Def{paid(time.Unix(1, 0))}}, &clock{now: time.Unix(1e9, 0)}
	r := eventtypes.New(src, eventtypes.Options{TTL: time.Millisecond, Now: clk.Now})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				clk.advance(time.Millisecond)
				if _, ok := r.Lookup("billing.invoice_paid"); !ok {
					t.Error("lost the custom type")
					return
				}
				if i%2 == 0 {
					r.Reload(context.Background())
				}
			}
		}()
	}
	wg.Wait()
}
