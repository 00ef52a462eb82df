package integrations

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"slices"
	"strconv"
	"strings"

	"github.com/loki-interceptor/herald/payload"
	"github.com/loki-interceptor/herald/webhook"
)

// Card limits. Teams refuses a message over about 28 KB, so besides cutting
// each text the renderer drops trailing facts until the body fits
// teamsMaxBodyBytes, which leaves headroom for what Teams adds.
const (
	teamsCardVersion   = "1.4"
	teamsMaxTitle      = 200
	teamsMaxSummary    = 2000
	teamsMaxFactTitle  = 100
	teamsMaxFactValue  = 1000
	teamsMaxFacts      = 30
	teamsMaxBodyBytes  = 25000
	teamsSchemaURL     = "http://adaptivecards.io/schemas/adaptive-card.json"
	teamsCardMediaType = "application/vnd.microsoft.card.adaptive"
)

type teamsMessage struct {
	Type        string            `json:"type"`
	Attachments []teamsAttachment `json:"attachments"`
}

type teamsAttachment struct {
	ContentType string    `json:"contentType"`
	ContentURL  *string   `json:"contentUrl"` // always null, as Workflows expects
	Content     teamsCard `json:"content"`
}

type teamsCard struct {
	Schema  string        `json:"$schema"`
	Type    string        `json:"type"`
	Version string        `json:"version"`
	Body    []any         `json:"body"`
	Actions []teamsAction `json:"actions,omitempty"`
	MSTeams teamsMSTeams  `json:"msteams"`
}

// teamsMSTeams is Teams' own card extension; a full-width card leaves room
// for the facts' values.
type teamsMSTeams struct {
	Width string `json:"width"`
}

type teamsContainer struct {
	Type            string           `json:"type"`
	Style           string           `json:"style,omitempty"`
	Bleed           bool             `json:"bleed,omitempty"`
	MinHeight       string           `json:"minHeight,omitempty"`
	BackgroundImage *teamsBackground `json:"backgroundImage,omitempty"`
	Items           []any            `json:"items"`
}

type teamsBackground struct {
	URL      string `json:"url"`
	FillMode string `json:"fillMode"`
}

type teamsTextBlock struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	Weight   string `json:"weight,omitempty"`
	Size     string `json:"size,omitempty"`
	Color    string `json:"color,omitempty"`
	IsSubtle bool   `json:"isSubtle,omitempty"`
	Wrap     bool   `json:"wrap"`
}

type teamsFactSet struct {
	Type  string      `json:"type"`
	Facts []teamsFact `json:"facts"`
}

type teamsFact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

type teamsAction struct {
	Type  string `json:"type"`
	Title string `json:"title"`
	URL   string `json:"url"`
}

// RenderTeams is the body of a Teams Workflows webhook request for ev: a
// message carrying one Adaptive Card with the title and summary in a
// container styled by severity, the key facts, a footer and a "View event"
// button when a dashboard is configured.
func RenderTeams(ev *webhook.Event, cfg Config) ([]byte, error) {
	c := ContentOf(ev)
	facts := c.Facts
	// What does not change as facts are dropped to fit is built once.
	var head []any
	if cfg.ThemeColor != "" {
		head = append(head, teamsAccentBar(cfg.ThemeColor))
	}
	head = append(head, teamsHeading(c))
	for shown := min(len(facts), teamsMaxFacts); ; shown-- {
		body, err := payload.Encode(teamsMessage{
			Type: "message",
			Attachments: []teamsAttachment{{
				ContentType: teamsCardMediaType,
				Content:     teamsBuildCard(ev, cfg, head, facts, shown),
			}},
		})
		if err != nil || len(body) <= teamsMaxBodyBytes || shown == 0 {
			return body, err
		}
	}
}

// teamsBuildCard is the card showing head and the first shown facts.
func teamsBuildCard(ev *webhook.Event, cfg Config, head []any, facts []Fact, shown int) teamsCard {
	body := slices.Clone(head)
	if shown > 0 {
		body = append(body, teamsFacts(facts[:shown]))
	}
	if left := len(facts) - shown; left > 0 {
		body = append(body, teamsTextBlock{Type: "TextBlock", Text: fmt.Sprintf("…and %d more fields not shown", left), IsSubtle: true, Wrap: true})
	}
	if on(cfg.IncludeFooter, true) {
		body = append(body, teamsTextBlock{Type: "TextBlock", Text: Footer(ev, cfg), IsSubtle: true, Size: "small", Wrap: true})
	}
	card := teamsCard{Schema: teamsSchemaURL, Type: "AdaptiveCard", Version: teamsCardVersion, Body: body,
		MSTeams: teamsMSTeams{Width: "Full"}}
	if link := EventLink(cfg, ev.EventID); link != "" {
		card.Actions = []teamsAction{{Type: "Action.OpenUrl", Title: "View event", URL: link}}
	}
	return card
}

// teamsHeading is the title and summary in a container whose style, like
// the title's colour, says how severe the event is.
func teamsHeading(c Content) teamsContainer {
	tone := teamsTone(c.Severity)
	items := []any{teamsTextBlock{Type: "TextBlock", Text: Truncate(c.Title, teamsMaxTitle), Weight: "bolder", Size: "medium", Color: tone, Wrap: true}}
	if s := c.Summary; s != "" {
		items = append(items, teamsTextBlock{Type: "TextBlock", Text: Truncate(s, teamsMaxSummary), Wrap: true})
	}
	return teamsContainer{Type: "Container", Style: tone, Items: items}
}

// teamsTone is the Adaptive Card name for a severity, valid both as a
// container style and as a text colour.
func teamsTone(s Severity) string {
	switch s {
	case Critical, High:
		return "attention"
	case Medium:
		return "warning"
	}
	return "good"
}

func teamsFacts(facts []Fact) teamsFactSet {
	out := make([]teamsFact, len(facts))
	for i, f := range facts {
		out[i] = teamsFact{Title: Truncate(f.Name, teamsMaxFactTitle), Value: Truncate(f.Value, teamsMaxFactValue)}
	}
	return teamsFactSet{Type: "FactSet", Facts: out}
}

// teamsAccentBar draws theme_color as a thin strip across the top of the
// card. Adaptive Cards take no free colours, only named styles, so the
// strip is an empty container tiled with a one-pixel PNG of that colour.
func teamsAccentBar(hex string) teamsContainer {
	return teamsContainer{
		Type:            "Container",
		Bleed:           true,
		MinHeight:       "4px",
		BackgroundImage: &teamsBackground{URL: "data:image/png;base64," + base64.StdEncoding.EncodeToString(teamsPixel(hex)), FillMode: "repeat"},
		Items:           []any{},
	}
}

// teamsPixel is a 1×1 PNG of the colour hex ("0078D4" or "#0078D4"; Validate
// has checked it). It is stored uncompressed so that the bytes, and so the
// golden files, do not depend on the zlib implementation.
func teamsPixel(hex string) []byte {
	rgb, _ := strconv.ParseUint(strings.TrimPrefix(hex, "#"), 16, 32)
	img := image.NewNRGBA(image.Rect(0, 0, 1, 1))
	img.Set(0, 0, color.NRGBA{R: uint8(rgb >> 16), G: uint8(rgb >> 8), B: uint8(rgb), A: 0xff})
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.NoCompression}
	_ = enc.Encode(&buf, img) // writing one pixel to memory cannot fail
	return buf.Bytes()
}
