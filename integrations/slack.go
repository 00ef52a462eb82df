package integrations

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/loki-interceptor/herald/payload"
	"github.com/loki-interceptor/herald/webhook"
)

// Slack's documented Block Kit limits. A message that breaks any of them
// is refused whole (invalid_blocks), so every text is cut to fit instead.
const (
	slackMaxBlocks        = 50   // blocks in one message
	slackMaxHeaderText    = 150  // header block's plain_text
	slackMaxSectionText   = 3000 // section's text, and a context element's
	slackMaxFieldText     = 2000 // one section field
	slackMaxSectionFields = 10   // fields in one section
	slackMaxFallbackText  = 3000 // top-level text, shown in notifications
)

// slackMaxFieldName keeps a field's bold name short enough that its value
// still gets most of the field.
const slackMaxFieldName = 150

type slackMessage struct {
	Channel     string            `json:"channel,omitempty"`
	ThreadTS    string            `json:"thread_ts,omitempty"`
	Username    string            `json:"username,omitempty"`
	IconEmoji   string            `json:"icon_emoji,omitempty"`
	Text        string            `json:"text"`
	Attachments []slackAttachment `json:"attachments"`
}

// slackAttachment is a legacy attachment holding the blocks: only an
// attachment draws the coloured bar down the message's side.
type slackAttachment struct {
	Color  string       `json:"color"`
	Blocks []slackBlock `json:"blocks"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Fields   []slackText `json:"fields,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// RenderSlack is the body of a Slack incoming-webhook request for ev: a
// header with the title, the summary, the payload's key facts as fields
// and a footer, in an attachment coloured by severity.
func RenderSlack(ev *webhook.Event, cfg Config) ([]byte, error) {
	c := ContentOf(ev)
	title, summary := c.Title, c.Summary
	blocks := []slackBlock{{Type: "header", Text: &slackText{Type: "plain_text", Text: Truncate(title, slackMaxHeaderText)}}}
	if summary != "" {
		blocks = append(blocks, slackBlock{Type: "section", Text: slackMrkdwn(summary, slackMaxSectionText)})
	}
	// One block stays free for the trailing context: footer and/or the
	// note on facts left out.
	sections, left := slackFactSections(c.Facts, slackMaxBlocks-len(blocks)-1)
	blocks = append(blocks, sections...)
	if trailer, ok := slackTrailer(ev, cfg, left); ok {
		blocks = append(blocks, trailer)
	}
	fallback := title
	if summary != "" {
		fallback += ": " + summary
	}
	return payload.Encode(slackMessage{
		Channel:   cfg.DefaultChannel,
		ThreadTS:  cfg.ThreadTS,
		Username:  cfg.Username,
		IconEmoji: cfg.IconEmoji,
		Text:      slackMrkdwn(fallback, slackMaxFallbackText).Text,
		Attachments: []slackAttachment{{
			Color:  c.Severity.Colour(),
			Blocks: blocks,
		}},
	})
}

// slackFactSections lays facts out as fields, ten to a section, in at most
// room sections, and says how many did not fit.
func slackFactSections(facts []Fact, room int) (sections []slackBlock, left int) {
	shown := min(len(facts), room*slackMaxSectionFields)
	for start := 0; start < shown; start += slackMaxSectionFields {
		var fields []slackText
		for _, f := range facts[start:min(start+slackMaxSectionFields, shown)] {
			fields = append(fields, slackField(f))
		}
		sections = append(sections, slackBlock{Type: "section", Fields: fields})
	}
	return sections, len(facts) - shown
}

// slackField is "*name*\nvalue", the value getting whatever room the name
// leaves within a field's limit.
func slackField(f Fact) slackText {
	name := "*" + slackMrkdwn(f.Name, slackMaxFieldName).Text + "*\n"
	value := slackMrkdwn(f.Value, slackMaxFieldText-utf8.RuneCountInString(name))
	return slackText{Type: "mrkdwn", Text: name + value.Text}
}

// slackTrailer is the closing context block: how many facts were left out,
// then the footer unless include_footer is false. ok is false when it
// would be empty.
func slackTrailer(ev *webhook.Event, cfg Config, left int) (b slackBlock, ok bool) {
	var elems []slackText
	if left > 0 {
		elems = append(elems, slackText{Type: "mrkdwn", Text: fmt.Sprintf("_…and %d more fields not shown_", left)})
	}
	if on(cfg.IncludeFooter, true) {
		elems = append(elems, *slackMrkdwn(Footer(ev, cfg), slackMaxSectionText))
	}
	return slackBlock{Type: "context", Elements: elems}, len(elems) > 0
}

// slackMrkdwn is user text as a mrkdwn text object: &, < and > escaped as
// Slack asks, so that payload text cannot mention @channel or forge a
// link, and cut to n characters. Slack counts the escaped text, so the cut
// is measured after escaping and never splits an entity or a rune.
func slackMrkdwn(s string, n int) *slackText {
	esc := slackEscaper.Replace(s)
	if utf8.RuneCountInString(esc) <= n {
		return &slackText{Type: "mrkdwn", Text: esc}
	}
	const marker = "…" // as Truncate marks a cut
	var b strings.Builder
	room := n - utf8.RuneCountInString(marker)
	for _, r := range s {
		piece := slackEscaper.Replace(string(r))
		if room -= utf8.RuneCountInString(piece); room < 0 {
			break
		}
		b.WriteString(piece)
	}
	return &slackText{Type: "mrkdwn", Text: b.String() + marker}
}

var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
