package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The README's walkthrough shows sample values; readmeSamples names the
// ones a run replaces with its own.
const (
	readmeAPI      = "http://127.0.0.1:8080"
	readmeReceiver = "127.0.0.1:9000"
	readmeSecret   = "whsec_xGBYSaa2aAcHB8HD579xmqKxu1/UH57mqkO+RstiWpI="
	readmeEventID  = "01a22888-14e7-7ef4-8ceb-21701d03ab14"
)

// readmeStep is one fenced block of the README's walkthrough: a console
// block's commands, each with the output shown under it, or a text block
// (what the receiver prints).
type readmeStep struct {
	console  bool
	commands []readmeCommand
	text     []string
}

type readmeCommand struct {
	line   string // as written, continuation lines included
	output []string
}

// readmeSteps reads the fenced console and text blocks of README.md up to
// the manual's links, in order.
func readmeSteps(t *testing.T) []readmeStep {
	t.Helper()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var steps []readmeStep
	var cur *readmeStep
	for _, line := range strings.Split(string(raw), "\n") {
		switch {
		case cur == nil && (line == "```console" || line == "```text"):
			cur = &readmeStep{console: line == "```console"}
		case cur != nil && line == "```":
			steps = append(steps, *cur)
			cur = nil
		case cur == nil && strings.HasPrefix(line, "## The manual"):
			return steps
		case cur != nil && !cur.console:
			cur.text = append(cur.text, line)
		case cur != nil && strings.HasPrefix(line, "$ "):
			cur.commands = append(cur.commands, readmeCommand{line: strings.TrimPrefix(line, "$ ")})
		case cur != nil && len(cur.commands) > 0:
			c := &cur.commands[len(cur.commands)-1]
			if len(c.output) == 0 && (strings.HasSuffix(c.line, `\`) || strings.Count(c.line, "'")%2 == 1) {
				c.line += "\n" + line
			} else {
				c.output = append(c.output, line)
			}
		}
	}
	t.Fatal("README.md has no '## The manual' heading")
	return nil
}

// TestREADMEWalkthrough runs the README's walkthrough as written: its
// commands in bash (curl, jq, the export, ./bin/herald receive), against a
// `herald dev` of its own, with only the address, the receiver's port, the
// secret and the event id replaced by this run's; each answer must carry
// the fields and values the README shows (a value with … in it, a time or
// an id stands for whatever comes), and what the receiver prints must
// match the README's lines.
func TestREADMEWalkthrough(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is needed to run the README's commands: %v", tool, err)
			}
			t.Skipf("%s not found: the README's commands need it", tool)
		}
	}
	w := newReadmeRun(t)
	for _, step := range readmeSteps(t) {
		if !step.console {
			w.receiverPrinted(t, step.text)
			continue
		}
		for _, c := range step.commands {
			w.run(t, c)
		}
	}
	if w.ran < 8 {
		t.Fatalf("only %d of the README's commands ran: has its layout changed?", w.ran)
	}
}

// readmeRun is the walkthrough's state: the directory its commands run in
// (with ./bin/herald and .herald), the dev process's banner, and what this
// run replaces the README's samples with.
type readmeRun struct {
	dir, api, receiver string
	key                string // the admin key herald dev printed
	dev                *command
	receivers          []*exec.Cmd
	receiverOut        syncBuffer
	env                []string
	ran                int
	replace            map[string]string
}

func newReadmeRun(t *testing.T) *readmeRun {
	dir := t.TempDir()
	w := &readmeRun{dir: dir, receiver: freeAddr(t)}
	// ./bin/herald is this test binary running herald's main.
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	shim := "#!/bin/sh\n" + asHeraldEnv + "=1 exec '" + os.Args[0] + "' \"$@\"\n"
	if err := os.WriteFile(filepath.Join(dir, "bin", "herald"), []byte(shim), 0o755); err != nil {
		t.Fatal(err)
	}
	w.dev = start(t, "dev", "--data-dir", filepath.Join(dir, ".herald"), "--api-addr", "127.0.0.1:0", "--temporal-port", "0", "--ui-port", "0")
	w.api = waitFor(t, &w.dev.out, &w.dev.err, `API\s+(http://\S+)/api/v1`)
	key := waitFor(t, &w.dev.out, &w.dev.err, `API key\s+(hrld_\S+)  \(admin; shown once`)
	waitFor(t, &w.dev.out, &w.dev.err, `Stop: Ctrl-C`)
	w.key, w.env = key, append(os.Environ(), "HERALD_API_KEY="+key)
	w.replace = map[string]string{readmeAPI: w.api, readmeReceiver: w.receiver}
	t.Cleanup(func() {
		for _, r := range w.receivers {
			r.Process.Signal(syscall.SIGTERM)
			r.Wait()
		}
	})
	return w
}

func (w *readmeRun) substitute(s string) string {
	for sample, ours := range w.replace {
		s = strings.ReplaceAll(s, sample, ours)
	}
	return s
}

// run runs one command of the README and checks its output.
func (w *readmeRun) run(t *testing.T, c readmeCommand) {
	t.Helper()
	switch {
	case c.line == "make dev":
		w.bannerShown(t, c.output)
		return
	case strings.HasPrefix(c.line, "./bin/herald receive"):
		w.startReceiver(t, c)
		return
	}
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", w.substitute(c.line)+"\n")
	if strings.HasPrefix(c.line, "export ") {
		// The export must leave this run's key in the variable.
		cmd = exec.Command("bash", "-euo", "pipefail", "-c", c.line+`; test "$HERALD_API_KEY" = "$WANT_KEY"`)
		cmd.Env = append(os.Environ(), "WANT_KEY="+w.key)
	} else {
		cmd.Env = w.env
	}
	cmd.Dir = w.dir
	// A read may run just before Herald has recorded what the receiver
	// printed: it is asked again for a while.
	read := !strings.Contains(c.line, "-X ")
	for deadline := time.Now().Add(15 * time.Second); ; {
		out, diff := w.runOnce(t, cmd, c)
		if diff == "" {
			w.learn(t, c.line, out)
			w.ran++
			return
		}
		if !read || time.Now().After(deadline) {
			t.Fatalf("README command's answer differs from what the README shows: %s\n$ %s\ngot:\n%s", diff, c.line, out)
		}
		time.Sleep(200 * time.Millisecond)
		cmd = exec.Command(cmd.Args[0], cmd.Args[1:]...)
		cmd.Dir, cmd.Env = w.dir, w.env
	}
}

// runOnce runs cmd, fails the test if it fails, and returns its output
// and how it differs from the output the README shows ("" if it does not).
func (w *readmeRun) runOnce(t *testing.T, cmd *exec.Cmd, c readmeCommand) ([]byte, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("README command failed (%v):\n$ %s\nstdout:\n%s\nstderr:\n%s", err, c.line, out.String(), errOut.String())
	}
	return out.Bytes(), sameFields(w.substitute(strings.Join(c.output, "\n")), out.String())
}

// learn takes this run's secret and event id from the answers that create
// them, for the commands after, and refuses an error answer.
func (w *readmeRun) learn(t *testing.T, line string, out []byte) {
	t.Helper()
	var answer struct {
		Error   json.RawMessage `json:"error"`
		Secret  string          `json:"secret"`
		EventID string          `json:"event_id"`
	}
	if json.Unmarshal(out, &answer) != nil {
		return
	}
	if bytes.HasPrefix(answer.Error, []byte("{")) {
		t.Fatalf("README command answered an error:\n$ %s\n%s", line, out)
	}
	if answer.Secret != "" && w.replace[readmeSecret] == "" {
		w.replace[readmeSecret] = answer.Secret
	}
	if answer.EventID != "" && w.replace[readmeEventID] == "" {
		w.replace[readmeEventID] = answer.EventID
	}
}

// startReceiver runs the README's `herald receive` in the background and
// waits for the line the README shows it printing.
func (w *readmeRun) startReceiver(t *testing.T, c readmeCommand) {
	t.Helper()
	cmd := exec.Command("bash", "-c", "exec "+w.substitute(c.line))
	cmd.Dir, cmd.Env = w.dir, w.env
	cmd.Stdout, cmd.Stderr = &w.receiverOut, &w.receiverOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.receivers = append(w.receivers, cmd)
	w.ran++
	for _, line := range c.output {
		waitFor(t, &w.receiverOut, &w.receiverOut, regexp.QuoteMeta(w.substitute(line)))
	}
}

// receiverPrinted waits until the receiver has printed each line of text,
// read as a pattern: … stands for anything, and clock times and
// timestamps for any; a line saying "the same bytes" is the README's
// comment, not output.
func (w *readmeRun) receiverPrinted(t *testing.T, text []string) {
	t.Helper()
	id := w.replace[readmeEventID]
	if id == "" {
		t.Fatal("the README shows the receiver's output before an event was published")
	}
	for _, line := range text {
		if strings.TrimSpace(line) == "" || strings.Contains(line, "the same bytes") {
			continue
		}
		line = strings.ReplaceAll(line, readmeEventID[:9], id[:9])
		rx := regexp.QuoteMeta(strings.TrimSpace(line))
		rx = strings.ReplaceAll(rx, "…", ".*")
		rx = readmeISOTime.ReplaceAllString(rx, `[0-9T:.Z-]+`)
		rx = readmeClock.ReplaceAllString(rx, `\d\d:\d\d:\d\d`)
		waitFor(t, &w.receiverOut, &w.receiverOut, `(?m)^\s*`+rx+`\s*$`)
	}
}

var (
	readmeISOTime = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\\\.\d+Z`)
	readmeClock   = regexp.MustCompile(`\b\d\d:\d\d:\d\d\b`)
)

// bannerShown checks that herald dev printed each line of the banner the
// README shows, up to the first value that differs from run to run (an
// address, a key, a time, a path).
func (w *readmeRun) bannerShown(t *testing.T, banner []string) {
	t.Helper()
	got := w.dev.out.String()
	for _, line := range banner {
		label := strings.TrimSpace(line)
		if i := strings.IndexAny(label, "0123456789…/"); i >= 0 {
			label = label[:i]
		}
		label = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(label), "http:"))
		if label == "" {
			continue
		}
		if !regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(label)).MatchString(got) {
			t.Errorf("the README shows herald dev printing %q; it printed:\n%s", line, got)
		}
	}
}

// readmeField is a "name": value pair of JSON as the README shows it.
var readmeField = regexp.MustCompile(`"([a-z_]+)":\s*("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|true|false|null|\[[^\[\]{}]*\]|\{\})`)

// readmeVaries names the fields whose values differ on every run.
var readmeVaries = map[string]bool{
	"created_at": true, "updated_at": true, "timestamp": true, "next_retry_at": true,
	"duration_ms": true, "secret": true, "event_id": true, "workflow_id": true,
}

// sameFields reports the first "name": value pair in shown that got lacks
// (whitespace aside), or "".
func sameFields(shown, got string) string {
	squeeze := func(s string) string { return strings.Join(strings.Fields(s), "") }
	have := squeeze(got)
	for _, m := range readmeField.FindAllStringSubmatch(shown, -1) {
		if readmeVaries[m[1]] || strings.Contains(m[2], "…") {
			continue
		}
		if pair := squeeze(`"` + m[1] + `":` + m[2]); !strings.Contains(have, pair) {
			return "no " + pair
		}
	}
	return ""
}
