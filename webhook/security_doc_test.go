package webhook_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loki-interceptor/herald/mdtest"
	"github.com/loki-interceptor/herald/webhook"
)

// The signature-checking code in docs/security.md is what receivers copy, so it runs
// here against Herald's own signatures: a wrong snippet fails the build.

// securitySnippet returns the body of the first fenced block of lang in the
// "Verifying signatures" section of docs/security.md.
func securitySnippet(t *testing.T, lang string) string {
	return mdtest.Block(t, "../docs/security.md", "Verifying signatures", lang)
}

type snippetCase struct {
	Name    string            `json:"name"`
	Secret  string            `json:"secret"`
	Headers map[string]string `json:"headers"`
	Body    []byte            `json:"body"` // base64 in JSON: a gzip body is not text
	Want    bool              `json:"want"`
	// WantGuide is what verifyGuide should say: X-Webhook-Signature has
	// no timestamp and one secret.
	WantGuide bool `json:"want_guide"`
}

func gzipped(s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	zw.Close()
	return b.Bytes()
}

// withHeader returns h with one more header.
func withHeader(h map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for hk, hv := range h {
		out[hk] = hv
	}
	return out
}

func snippetCases() []snippetCase {
	body := `{"event_id":"evt_1","data":{"note":"caf\u00e9 <b>"}}`
	now := time.Now()
	generated := webhook.NewSecret()
	chosen := "my-own-chosen-secret-abcdefgh"
	alnum := "abcdefghijklmnopqrstuvwxyz012345" // decodes as base64, but is not whsec_
	signed := func(secret string, at time.Time) map[string]string {
		return map[string]string{
			"webhook-id":          "evt_1",
			"webhook-timestamp":   strconv.FormatInt(at.Unix(), 10),
			"webhook-signature":   webhook.SignStandard(secret, "evt_1", at, []byte(body)),
			"x-webhook-signature": webhook.Sign(secret, []byte(body)),
		}
	}
	rotated := signed(generated, now)
	rotated["webhook-signature"] = webhook.SignStandard(webhook.NewSecret(), "evt_1", now, []byte(body)) + " " + rotated["webhook-signature"]
	zipped := withHeader(signed(generated, now), "content-encoding", "gzip")
	// A bomb: signed, but inflating past the snippets' 10 MiB bound.
	bomb := strings.Repeat(" ", 11<<20)
	bombHeaders := map[string]string{"content-encoding": "gzip", "webhook-id": "evt_1", "webhook-timestamp": strconv.FormatInt(now.Unix(), 10),
		"webhook-signature": webhook.SignStandard(generated, "evt_1", now, []byte(bomb)), "x-webhook-signature": webhook.Sign(generated, []byte(bomb))}
	return []snippetCase{
		{Name: "generated secret", Secret: generated, Headers: signed(generated, now), Body: []byte(body), Want: true, WantGuide: true},
		{Name: "chosen secret", Secret: chosen, Headers: signed(chosen, now), Body: []byte(body), Want: true, WantGuide: true},
		{Name: "alphanumeric chosen secret", Secret: alnum, Headers: signed(alnum, now), Body: []byte(body), Want: true, WantGuide: true},
		{Name: "rotation: second signature matches", Secret: generated, Headers: rotated, Body: []byte(body), Want: true, WantGuide: true},
		{Name: "gzip body, as sent", Secret: generated, Headers: zipped, Body: gzipped(body), Want: true, WantGuide: true},
		{Name: "gzip body, decompressed by the framework", Secret: generated, Headers: zipped, Body: []byte(body), Want: true, WantGuide: true},
		{Name: "gzip body changed", Secret: generated, Headers: zipped, Body: gzipped(body + " "), Want: false},
		{Name: "gzip bomb", Secret: generated, Headers: bombHeaders, Body: gzipped(bomb), Want: false},
		{Name: "other secret", Secret: webhook.NewSecret(), Headers: signed(generated, now), Body: []byte(body), Want: false},
		{Name: "body changed", Secret: generated, Headers: signed(generated, now), Body: []byte(body + " "), Want: false},
		{Name: "ten minutes old", Secret: generated, Headers: signed(generated, now.Add(-10*time.Minute)), Body: []byte(body), Want: false, WantGuide: true},
		{Name: "no headers", Secret: generated, Headers: map[string]string{}, Body: []byte(body), Want: false},
		{Name: "garbage signature", Secret: generated, Headers: map[string]string{
			"webhook-id": "evt_1", "webhook-timestamp": strconv.FormatInt(now.Unix(), 10), "webhook-signature": "v1,\u00e9 v1,!!! v2,abc",
			"x-webhook-signature": "sha256=\u00e9",
		}, Body: []byte(body), Want: false},
	}
}

// runSnippet runs a program that prints, for each case, what its verify
// and verifyGuide say.
func runSnippet(t *testing.T, dir string, cmd ...string) [][2]bool {
	t.Helper()
	in, err := json.Marshal(snippetCases())
	if err != nil {
		t.Fatal(err)
	}
	c := exec.Command(cmd[0], cmd[1:]...)
	c.Dir = dir
	c.Stdin = strings.NewReader(string(in))
	out, err := c.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("%v: %v\n%s", cmd, err, stderr)
	}
	var got [][2]bool
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v printed %q: %v", cmd, out, err)
	}
	return got
}

func checkSnippet(t *testing.T, got [][2]bool) {
	t.Helper()
	cases := snippetCases()
	if len(got) != len(cases) {
		t.Fatalf("%d answers for %d cases", len(got), len(cases))
	}
	for i, c := range cases {
		if got[i][0] != c.Want {
			t.Errorf("%s: verify = %v, want %v", c.Name, got[i][0], c.Want)
		}
		if got[i][1] != c.WantGuide {
			t.Errorf("%s: the LOKI guide's signature verified = %v, want %v", c.Name, got[i][1], c.WantGuide)
		}
	}
}

func TestSecurityDocVerifyGo(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool")
	}
	dir := t.TempDir()
	prog := `package main

import (
	"bytes"
	"compress/gzip"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)
` + securitySnippet(t, "go") + `
func main() {
	var cases []struct {
		Secret  string
		Headers map[string]string
		Body    []byte
	}
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		panic(err)
	}
	var out [][2]bool
	for _, c := range cases {
		r, _ := http.NewRequest("POST", "http://receiver/", nil)
		for k, v := range c.Headers {
			r.Header.Set(k, v)
		}
		out = append(out, [2]bool{verify(c.Secret, r, c.Body), verifyGuide(c.Secret, r, c.Body)})
	}
	json.NewEncoder(os.Stdout).Encode(out)
}
`
	must(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(prog), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module securitydocverify\n\ngo 1.22\n"), 0o644))
	checkSnippet(t, runSnippet(t, dir, goBin, "run", "."))
}

func TestSecurityDocVerifyPython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	prog := securitySnippet(t, "python") + `
import json, sys
out = []
for c in json.load(sys.stdin):
    body = base64.b64decode(c["body"])
    out.append([verify(c["secret"], c["headers"], body), verify_guide(c["secret"], c["headers"], body)])
print(json.dumps(out))
`
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "verify.py"), []byte(prog), 0o644))
	checkSnippet(t, runSnippet(t, dir, py, "verify.py"))
}

func TestSecurityDocVerifyNode(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("node not found: CI installs it to run docs/security.md's Node.js snippet (.ci/run)")
		}
		t.Skip("no node")
	}
	prog := securitySnippet(t, "js") + `
let input = "";
process.stdin.on("data", (d) => (input += d));
process.stdin.on("end", () => {
  const out = JSON.parse(input).map((c) => {
    const body = Buffer.from(c.body, "base64");
    return [verify(c.secret, c.headers, body), verifyGuide(c.secret, c.headers, body)];
  });
  console.log(JSON.stringify(out));
});
`
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "verify.js"), []byte(prog), 0o644))
	checkSnippet(t, runSnippet(t, dir, node, "verify.js"))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
