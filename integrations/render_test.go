package integrations_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/loki-interceptor/herald/eventtypes"
	"github.com/loki-interceptor/herald/integrations"
	"github.com/loki-interceptor/herald/webhook"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/golden from the renderers' output")

type renderFunc func(*webhook.Event, integrations.Config) ([]byte, error)

// goldenConnectors are the renderers under golden test, each with the
// config its golden files were made with.
var goldenConnectors = []struct {
	name   string
	render renderFunc
	cfg    integrations.Config
}{
	{"slack", integrations.RenderSlack, integrations.Config{DefaultChannel: "#compliance"}},
	{"teams", integrations.RenderTeams, integrations.Config{DashboardURL: "https://loki.example.com/dashboard", ThemeColor: "0078D4"}},
}

// catalogEvent is an event of the given type carrying the catalog's example
// payload, with a fixed id and time so that renders are reproducible.
func catalogEvent(t *testing.T, eventType string) *webhook.Event {
	t.Helper()
	et, ok := eventtypes.Lookup(eventType)
	if !ok {
		t.Fatalf("event type %q is not in the catalog", eventType)
	}
	return &webhook.Event{
		EventID:   "evt_golden_0001",
		EventType: et.Name,
		Source:    "loki",
		SourceID:  "golden",
		Payload:   et.Example,
		CreatedAt: time.Date(2024, 1, 15, 14, 30, 0, 0, time.UTC),
	}
}

func TestRenderGolden(t *testing.T) {
	for _, conn := range goldenConnectors {
		for _, eventType := range eventtypes.Names() {
			t.Run(conn.name+"/"+eventType, func(t *testing.T) {
				out, err := conn.render(catalogEvent(t, eventType), conn.cfg)
				if err != nil {
					t.Fatal(err)
				}
				checkGolden(t, filepath.Join("testdata", "golden", conn.name, eventType+".json"), indentJSON(t, out))
			})
		}
	}
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./integrations/ -run Golden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("render differs from %s; if the change is intended, rerun with -update and review the diff\ngot:\n%s", path, got)
	}
}

func indentJSON(t *testing.T, raw []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, raw)
	}
	buf.WriteByte('\n')
	return buf.Bytes()
}

// payloadField is one payload field; payloads are built from a list of them so
// that their order, which the renderers must keep, is the list's.
type payloadField struct {
	name  string
	value any
}

func orderedPayload(t *testing.T, fields []payloadField) json.RawMessage {
	t.Helper()
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, _ := json.Marshal(f.name)
		v, err := json.Marshal(f.value)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes()
}

// mixedRunes is exactly n runes cut from s repeated: mixed widths, so that a cut
// in the wrong place would split a multibyte rune.
func mixedRunes(s string, n int) string {
	r := []rune(strings.Repeat(s, n/utf8.RuneCountInString(s)+1))
	return string(r[:n])
}

// nestedObject is a deep, wide object whose compact JSON runs to many KB.
func nestedObject(depth int) map[string]any {
	obj := map[string]any{"depth": depth, "tags": strings.Split(mixedRunes("ταυ,<b>,&x,", 300), ",")}
	if depth > 0 {
		obj["left"], obj["right"] = nestedObject(depth-1), nestedObject(depth-1)
	}
	return obj
}

// oversizedEvent breaks every limit Slack and Teams document: a 10,000
// character message full of mrkdwn control characters and multibyte runes,
// a 500-character field name, a huge nested object, 200 long fields and a
// title over 400 characters (an unknown type's title is its name).
func oversizedEvent(t *testing.T, extraFields int) *webhook.Event {
	t.Helper()
	fields := []payloadField{
		{"message", mixedRunes("héllo <!channel> & 世界 🎉 ", 10000)},
		{mixedRunes("ñame", 500), "value of the long-named field"},
		{"nested", nestedObject(6)},
	}
	for i := range 200 + extraFields {
		fields = append(fields, payloadField{fmt.Sprintf("field_%03d", i), mixedRunes("日本語 <x> & 🎉 ", 2500)})
	}
	return &webhook.Event{
		EventID:   "evt_oversized",
		EventType: "custom." + mixedRunes("événement_", 400),
		Payload:   orderedPayload(t, fields),
		CreatedAt: time.Date(2024, 1, 15, 14, 30, 0, 0, time.UTC),
	}
}

// slackDoc is what a Slack body decodes to, for the limit checks.
type slackDoc struct {
	Text        string `json:"text"`
	Attachments []struct {
		Color  string       `json:"color"`
		Blocks []slackBlock `json:"blocks"`
	} `json:"attachments"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text"`
	Fields   []slackText `json:"fields"`
	Elements []slackText `json:"elements"`
}

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

func (d slackDoc) blocks() []slackBlock {
	if len(d.Attachments) != 1 {
		return nil
	}
	return d.Attachments[0].Blocks
}

// texts lists the text objects of the blocks of the given type.
func (d slackDoc) texts(blockType string) []slackText {
	var out []slackText
	for _, b := range d.blocks() {
		if b.Type != blockType {
			continue
		}
		if b.Text != nil {
			out = append(out, *b.Text)
		}
		out = append(out, b.Fields...)
		out = append(out, b.Elements...)
	}
	return out
}

func (d slackDoc) fields() []slackText {
	var out []slackText
	for _, b := range d.blocks() {
		out = append(out, b.Fields...)
	}
	return out
}

func runeCounts(texts []slackText) []int {
	out := make([]int, len(texts))
	for i, tx := range texts {
		out[i] = utf8.RuneCountInString(tx.Text)
	}
	return out
}

// slackLimits are Slack's documented Block Kit limits, each with what it
// bounds in a rendered message. Slack counts characters, not bytes.
var slackLimits = []struct {
	what    string
	max     int
	measure func(slackDoc) []int
}{
	{"blocks per message", 50, func(d slackDoc) []int { return []int{len(d.blocks())} }},
	{"header text", 150, func(d slackDoc) []int { return runeCounts(d.texts("header")) }},
	{"section text", 3000, func(d slackDoc) []int {
		var out []int
		for _, b := range d.blocks() {
			if b.Type == "section" && b.Text != nil {
				out = append(out, utf8.RuneCountInString(b.Text.Text))
			}
		}
		return out
	}},
	{"section field text", 2000, func(d slackDoc) []int { return runeCounts(d.fields()) }},
	{"fields per section", 10, func(d slackDoc) []int {
		var out []int
		for _, b := range d.blocks() {
			out = append(out, len(b.Fields))
		}
		return out
	}},
	{"context elements", 10, func(d slackDoc) []int {
		var out []int
		for _, b := range d.blocks() {
			out = append(out, len(b.Elements))
		}
		return out
	}},
	{"context element text", 3000, func(d slackDoc) []int { return runeCounts(d.texts("context")) }},
	{"fallback text", 3000, func(d slackDoc) []int { return []int{utf8.RuneCountInString(d.Text)} }},
}

func TestSlackLimits(t *testing.T) {
	cases := []struct {
		name        string
		ev          *webhook.Event
		cfg         integrations.Config
		wantOmitted bool
		facts       int // the payload's fields but the message: 2 + 200 + extra
	}{
		{"oversized", oversizedEvent(t, 0), integrations.Config{}, false, 202},
		{"oversized, routed", oversizedEvent(t, 0), integrations.Config{DefaultChannel: "#c", ThreadTS: "1700000000.000100", Username: "LOKI", IconEmoji: ":shield:"}, false, 202},
		{"more fields than blocks", oversizedEvent(t, 400), integrations.Config{}, true, 602},
		{"more fields than blocks, no footer", oversizedEvent(t, 400), integrations.Config{IncludeFooter: new(false)}, true, 602},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := integrations.RenderSlack(tc.ev, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			doc := decodeSlack(t, out)
			for _, l := range slackLimits {
				for i, n := range l.measure(doc) {
					if n > l.max {
						t.Errorf("%s #%d: %d, over Slack's limit of %d", l.what, i, n, l.max)
					}
				}
			}
			checkNoSplitRunes(t, out)
			checkSlackEscaped(t, doc)
			checkSlackTruncated(t, doc)
			checkSlackOmitted(t, doc, tc.facts, tc.wantOmitted)
		})
	}
}

func decodeSlack(t *testing.T, out []byte) slackDoc {
	t.Helper()
	var doc slackDoc
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("output is not valid JSON: %v", err)
	}
	if len(doc.Attachments) != 1 || len(doc.blocks()) == 0 {
		t.Fatalf("want one attachment with blocks, got %s", out)
	}
	return doc
}

// checkNoSplitRunes fails if a cut split a rune: the encoder writes an
// invalid UTF-8 sequence as U+FFFD, which no input here contains.
func checkNoSplitRunes(t *testing.T, out []byte) {
	t.Helper()
	if !utf8.Valid(out) || bytes.Contains(out, []byte("\ufffd")) || bytes.Contains(out, []byte(`\ufffd`)) {
		t.Error("output has a split or invalid rune")
	}
}

// checkSlackEscaped fails if any mrkdwn text has a raw <, > or an & that
// does not start one of the three entities, whole.
func checkSlackEscaped(t *testing.T, doc slackDoc) {
	t.Helper()
	texts := append(doc.texts("section"), doc.texts("context")...)
	texts = append(texts, slackText{Type: "mrkdwn", Text: doc.Text})
	unescape := strings.NewReplacer("&amp;", "", "&lt;", "", "&gt;", "")
	for _, tx := range texts {
		if tx.Type == "mrkdwn" && strings.ContainsAny(unescape.Replace(tx.Text), "<>&") {
			t.Errorf("mrkdwn text not escaped: %.80q…", tx.Text)
		}
	}
}

func checkSlackTruncated(t *testing.T, doc slackDoc) {
	t.Helper()
	header, sections := doc.texts("header"), doc.texts("section")
	if !strings.HasSuffix(header[0].Text, "…") {
		t.Errorf("header not marked as cut: %q", header[0].Text)
	}
	if !strings.HasSuffix(sections[0].Text, "…") || !strings.Contains(sections[0].Text, "&lt;!channel&gt; &amp;") {
		t.Errorf("summary not escaped and marked as cut: %.80q", sections[0].Text)
	}
	if !strings.HasSuffix(doc.Text, "…") {
		t.Errorf("fallback text not marked as cut: %.80q", doc.Text)
	}
	cut := 0
	for _, f := range doc.fields() {
		if strings.HasSuffix(f.Text, "…") {
			cut++
		}
	}
	if cut == 0 {
		t.Error("no field is marked as cut")
	}
}

// checkSlackOmitted checks that every fact is either shown, in payload
// order, or counted in the last block's note.
func checkSlackOmitted(t *testing.T, doc slackDoc, facts int, want bool) {
	t.Helper()
	shown := len(doc.fields())
	// The message is the summary, so the first field is the payload's second.
	if !strings.HasPrefix(doc.fields()[0].Text, "*ñame") {
		t.Errorf("first field is not the payload's first after the message: %.40q", doc.fields()[0].Text)
	}
	blocks := doc.blocks()
	last := blocks[len(blocks)-1]
	note := fmt.Sprintf("_…and %d more fields not shown_", facts-shown)
	hasNote := last.Type == "context" && len(last.Elements) > 0 && last.Elements[0].Text == note
	switch {
	case want && !hasNote:
		t.Errorf("last block should say %q, got %+v", note, last)
	case want && len(blocks) != 50:
		t.Errorf("facts were left out with %d blocks of 50 used", len(blocks))
	case !want && shown != facts:
		t.Errorf("%d of %d facts shown", shown, facts)
	}
}

func TestSlackMessage(t *testing.T) {
	ev := catalogEvent(t, webhook.ComplianceAlert)
	ev.Payload = json.RawMessage(`{"alert_level":"critical","alert_type":"x","message":"<!channel> see <https://evil.example|this> & that"}`)
	out, err := integrations.RenderSlack(ev, integrations.Config{IncludeFooter: new(false)})
	if err != nil {
		t.Fatal(err)
	}
	doc := decodeSlack(t, out)
	want := "&lt;!channel&gt; see &lt;https://evil.example|this&gt; &amp; that"
	if got := doc.texts("section")[0].Text; got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}
	if doc.Text != "Compliance Alert (CRITICAL): "+want {
		t.Errorf("fallback text = %q", doc.Text)
	}
	if doc.Attachments[0].Color != "#D93025" {
		t.Errorf("colour = %q, want the critical colour", doc.Attachments[0].Color)
	}
	if len(doc.texts("context")) != 0 {
		t.Error("footer shown with include_footer false")
	}
}

const cardSchemaURL = "http://adaptivecards.io/schemas/adaptive-card.json"

// cardSchemaFile is Microsoft's Adaptive Card 1.4 schema, the version the
// card declares (see testdata/README.md).
const cardSchemaFile = "adaptive-card-1.4.schema.json"

// loadCardSchema compiles the vendored Adaptive Card schema (see
// testdata/README.md) with the Teams extension patchCardSchema documents.
func loadCardSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", cardSchemaFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	patchCardSchema(t, doc.(map[string]any))
	c := jsonschema.NewCompiler()
	// Draft-06 asserts formats anyway; saying so keeps uri and
	// uri-reference checked should the schema's draft change.
	c.AssertFormat()
	if err := c.AddResource(cardSchemaURL, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(cardSchemaURL)
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

// patchCardSchema adds Teams' card extension to the official schema, which
// closes AdaptiveCard with "additionalProperties": false and so refuses
// the "msteams" property every Teams card may carry (Microsoft documents
// it with the Teams card formats, not in the Adaptive Card schema). It is
// added with the one member Herald uses, width, and the one value Teams
// defines for it, "Full": stricter than leaving msteams out of the check.
// The patch first checks the schema still closes the card without
// msteams, so that a refreshed schema makes the test fail rather than be
// patched blindly.
func patchCardSchema(t *testing.T, doc map[string]any) {
	t.Helper()
	card := doc["definitions"].(map[string]any)["AdaptiveCard"].(map[string]any)
	props := card["properties"].(map[string]any)
	if _, has := props["msteams"]; has || card["additionalProperties"] != false {
		t.Fatal("schema's AdaptiveCard changed; revisit patchCardSchema")
	}
	props["msteams"] = map[string]any{
		"type":                 "object",
		"properties":           map[string]any{"width": map[string]any{"enum": []any{"Full"}}},
		"additionalProperties": false,
	}
}

// teamsCard checks the Workflows message wrapper around a Teams body and
// returns the card, decoded as the schema validator wants it.
func teamsCard(t *testing.T, out []byte) map[string]any {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("output is not valid JSON: %v", err)
	}
	msg, _ := v.(map[string]any)
	atts, _ := msg["attachments"].([]any)
	if msg["type"] != "message" || len(atts) != 1 {
		t.Fatalf("want a message with one attachment, got %.200s", out)
	}
	att, _ := atts[0].(map[string]any)
	url, hasURL := att["contentUrl"]
	if att["contentType"] != "application/vnd.microsoft.card.adaptive" || !hasURL || url != nil {
		t.Fatalf("attachment is not an adaptive card with a null contentUrl: %.200s", out)
	}
	card, _ := att["content"].(map[string]any)
	if card["type"] != "AdaptiveCard" || card["version"] != "1.4" || card["$schema"] != cardSchemaURL {
		t.Fatalf("content is not a 1.4 AdaptiveCard: %.200s", out)
	}
	return card
}

// teamsConfigs are the config variants every card is rendered with.
// teamsConfigs are card configs, with what a card for the catalog event
// (evt_golden_0001, 2024-01-15 14:30 UTC) must then show: its button's
// link and its footer ("" for none).
var teamsConfigs = []struct {
	name         string
	cfg          integrations.Config
	link, footer string
}{
	{"full", integrations.Config{DashboardURL: "https://loki.example.com/dashboard", ThemeColor: "0078D4"},
		"https://loki.example.com/dashboard/events/evt_golden_0001", "LOKI Interceptor | 2024-01-15 14:30"},
	{"bare", integrations.Config{}, "", "LOKI Interceptor | 2024-01-15 14:30"},
	{"hash colour, templated link, no footer", integrations.Config{DashboardURL: "https://loki.example.com/e/{event_id}?tab=1", ThemeColor: "#c0ffee", IncludeFooter: new(false)},
		"https://loki.example.com/e/evt_golden_0001?tab=1", ""},
	{"no timestamp", integrations.Config{IncludeTimestamp: new(false)}, "", "LOKI Interceptor"},
}

func TestTeamsCardsMatchSchema(t *testing.T) {
	sch := loadCardSchema(t)
	events := map[string]*webhook.Event{"oversized": oversizedEvent(t, 0), "unknown type, no payload": {
		EventID: "e1", EventType: "custom.thing", Payload: json.RawMessage(`{}`), CreatedAt: time.Unix(0, 0)}}
	for _, name := range eventtypes.Names() {
		events[name] = catalogEvent(t, name)
	}
	for evName, ev := range events {
		for _, c := range teamsConfigs {
			t.Run(evName+"/"+c.name, func(t *testing.T) {
				out, err := integrations.RenderTeams(ev, c.cfg)
				if err != nil {
					t.Fatal(err)
				}
				if err := sch.Validate(teamsCard(t, out)); err != nil {
					t.Errorf("card does not match the Adaptive Card schema: %v\n%s", err, out)
				}
			})
		}
	}
}

// TestCardSchemaRejects shows the schema check is not vacuous: a rendered
// card passes, and each breakage of it fails, wherever in the card the
// broken part sits. The breakages from "misspelt text property" on all
// passed the 1.0-era schema Herald vendored before, which left every
// object open to unknown properties.
func TestCardSchemaRejects(t *testing.T) {
	sch := loadCardSchema(t)
	out, err := integrations.RenderTeams(catalogEvent(t, webhook.ValidationCompleted), teamsConfigs[0].cfg)
	if err != nil {
		t.Fatal(err)
	}
	body := func(card map[string]any) []any { return card["body"].([]any) }
	breakages := []struct {
		name      string
		breakCard func(card map[string]any)
	}{
		{"fact without a value", func(card map[string]any) { delete(firstFact(t, body(card)), "value") }},
		{"unknown element type", func(card map[string]any) { body(card)[1].(map[string]any)["type"] = "Marquee" }},
		{"unknown container style", func(card map[string]any) { body(card)[1].(map[string]any)["style"] = "purple" }},
		{"unknown text colour", func(card map[string]any) { body(card)[len(body(card))-1].(map[string]any)["color"] = "blue" }},
		{"container without items", func(card map[string]any) { delete(body(card)[1].(map[string]any), "items") }},
		{"link without a url", func(card map[string]any) { delete(card["actions"].([]any)[0].(map[string]any), "url") }},
		{"misspelt text property", func(card map[string]any) { body(card)[len(body(card))-1].(map[string]any)["wieght"] = "bolder" }},
		{"unknown card property", func(card map[string]any) { card["theme"] = "dark" }},
		{"unknown fact property", func(card map[string]any) { firstFact(t, body(card))["colour"] = "red" }},
		{"unknown fill mode", func(card map[string]any) {
			body(card)[0].(map[string]any)["backgroundImage"].(map[string]any)["fillMode"] = "tile"
		}},
		{"unknown msteams width", func(card map[string]any) { card["msteams"].(map[string]any)["width"] = "Huge" }},
		{"unknown msteams property", func(card map[string]any) { card["msteams"].(map[string]any)["height"] = "Full" }},
	}
	if err := sch.Validate(teamsCard(t, out)); err != nil {
		t.Fatalf("unbroken card rejected: %v", err)
	}
	for _, b := range breakages {
		t.Run(b.name, func(t *testing.T) {
			card := teamsCard(t, out)
			b.breakCard(card)
			if sch.Validate(card) == nil {
				t.Error("schema accepted the broken card")
			}
		})
	}
}

func firstFact(t *testing.T, body []any) map[string]any {
	t.Helper()
	for _, el := range body {
		if el := el.(map[string]any); el["type"] == "FactSet" {
			return el["facts"].([]any)[0].(map[string]any)
		}
	}
	t.Fatal("card has no FactSet")
	return nil
}

func TestTeamsCard(t *testing.T) {
	for _, c := range teamsConfigs {
		t.Run(c.name, func(t *testing.T) {
			ev := catalogEvent(t, webhook.ComplianceAlert)
			out, err := integrations.RenderTeams(ev, c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			card := teamsCard(t, out)
			body := card["body"].([]any)
			checkAccentBar(t, body, c.cfg.ThemeColor)
			checkEventAction(t, card, c.link)
			last := body[len(body)-1].(map[string]any)
			if c.footer != "" && last["text"] != c.footer || c.footer == "" && strings.HasPrefix(fmt.Sprint(last["text"]), "LOKI Interceptor") {
				t.Errorf("last line %q, want footer %q", last["text"], c.footer)
			}
			if w := card["msteams"].(map[string]any)["width"]; w != "Full" {
				t.Errorf("msteams.width = %v", w)
			}
		})
	}
}

// checkAccentBar checks the theme colour is drawn, and only when set, as a
// first container tiled with a 1×1 PNG of exactly that colour.
func checkAccentBar(t *testing.T, body []any, hex string) {
	t.Helper()
	bar := body[0].(map[string]any)
	bg, hasBar := bar["backgroundImage"].(map[string]any)
	if hasBar != (hex != "") {
		t.Fatalf("accent bar present = %v with theme_color %q", hasBar, hex)
	}
	if !hasBar {
		return
	}
	data, ok := strings.CutPrefix(bg["url"].(string), "data:image/png;base64,")
	raw, err := base64.StdEncoding.DecodeString(data)
	if !ok || err != nil || bar["minHeight"] != "4px" {
		t.Fatalf("accent bar is not a 4px PNG data URL: %v", bar)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil || img.Bounds().Dx() != 1 || img.Bounds().Dy() != 1 {
		t.Fatalf("accent bar image is not a 1×1 PNG: %v", err)
	}
	r, g, b, a := img.At(0, 0).RGBA()
	if got := fmt.Sprintf("%02X%02X%02X", r>>8, g>>8, b>>8); got != strings.ToUpper(strings.TrimPrefix(hex, "#")) || a != 0xffff {
		t.Errorf("accent bar colour = %s (alpha %d), want %s", got, a, hex)
	}
}

func checkEventAction(t *testing.T, card map[string]any, link string) {
	t.Helper()
	actions, _ := card["actions"].([]any)
	if link == "" {
		if len(actions) != 0 {
			t.Errorf("actions without a dashboard_url: %v", actions)
		}
		return
	}
	if len(actions) != 1 || actions[0].(map[string]any)["url"] != link || actions[0].(map[string]any)["type"] != "Action.OpenUrl" {
		t.Errorf("actions = %v, want one Action.OpenUrl to %s", actions, link)
	}
}

// TestTeamsSeverity checks the heading's container style and title colour
// follow the event's severity.
func TestTeamsSeverity(t *testing.T) {
	want := map[integrations.Severity]string{
		integrations.Critical: "attention", integrations.High: "attention",
		integrations.Medium: "warning", integrations.Low: "good", integrations.OK: "good",
	}
	for _, name := range eventtypes.Names() {
		ev := catalogEvent(t, name)
		out, err := integrations.RenderTeams(ev, integrations.Config{})
		if err != nil {
			t.Fatal(err)
		}
		heading := teamsCard(t, out)["body"].([]any)[0].(map[string]any)
		title := heading["items"].([]any)[0].(map[string]any)
		tone := want[integrations.ContentOf(ev).Severity]
		if heading["style"] != tone || title["color"] != tone || title["weight"] != "bolder" {
			t.Errorf("%s: style %v, title colour %v, weight %v; want %s, bolder", name, heading["style"], title["color"], title["weight"], tone)
		}
	}
}

// TestTeamsOversized checks a huge payload still makes a card Teams takes:
// under its 28 KB message limit, with at most 30 facts, values cut, and a
// note of how many facts were left out.
func TestTeamsOversized(t *testing.T) {
	ev := oversizedEvent(t, 0)
	out, err := integrations.RenderTeams(ev, teamsConfigs[0].cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) > 28*1024 {
		t.Errorf("body is %d bytes, over Teams' 28 KB", len(out))
	}
	checkNoSplitRunes(t, out)
	var facts []any
	var note string
	for _, el := range teamsCard(t, out)["body"].([]any) {
		el := el.(map[string]any)
		if el["type"] == "FactSet" {
			facts = el["facts"].([]any)
		}
		if text, _ := el["text"].(string); strings.HasPrefix(text, "…and ") {
			note = text
		}
	}
	if len(facts) == 0 || len(facts) > 30 {
		t.Fatalf("%d facts shown, want 1 to 30", len(facts))
	}
	for _, f := range facts {
		if v := f.(map[string]any)["value"].(string); utf8.RuneCountInString(v) > 1000 {
			t.Errorf("fact value of %d characters", utf8.RuneCountInString(v))
		}
	}
	if want := fmt.Sprintf("…and %d more fields not shown", 202-len(facts)); note != want {
		t.Errorf("note = %q, want %q", note, want)
	}
}
