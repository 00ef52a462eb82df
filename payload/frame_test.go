package payload

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func ptr(s string) *string { return &s }

func TestRequestFraming(t *testing.T) {
	big := []byte(`{"data":"` + strings.Repeat("é", 150<<10) + `"}`)
	for _, c := range []struct {
		name string
		req  renderRequest
	}{
		{"no raw payload", renderRequest{Template: ".", Doc: []byte(`{"a":1}`)}},
		{"an empty raw payload", renderRequest{Template: ".", Doc: []byte(`{}`), Raw: ptr("")}},
		{"a raw payload", renderRequest{Template: "{x: .a}", Doc: []byte(`{"a":"ü"}`), Raw: ptr(`{"a" : "ü"}`)}},
		{"larger than a pipe's buffer", renderRequest{Template: ".data | length", Doc: big, Raw: ptr(string(big))}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := writeRequest(bufio.NewWriter(&b), c.req); err != nil {
				t.Fatal(err)
			}
			got, err := readRequest(bufio.NewReader(&b))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.req) {
				t.Fatalf("read back %+.80v, want %+.80v", got, c.req)
			}
			if b.Len() != 0 {
				t.Fatalf("%d bytes left after the request", b.Len())
			}
		})
	}
}

func TestTemplateProcessReadsALargeRequest(t *testing.T) {
	doc := []byte(`{"data":"` + strings.Repeat("é", 150<<10) + `"}`)
	req := renderRequest{Template: "{n: (.data | length)}", Doc: doc, Raw: ptr("")}
	body, err := templates.render(context.Background(), req)
	// Under -race beside other packages' tests, 300 KB can take the
	// process past its 100 ms: that says nothing of the framing, so again.
	for try := 0; try < 5 && errors.Is(err, ErrRenderTimeout); try++ {
		body, err = templates.render(context.Background(), req)
	}
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"n":153600,"raw_payload":""}`; string(body) != want {
		t.Fatalf("got %s, want %s", body, want)
	}
}
