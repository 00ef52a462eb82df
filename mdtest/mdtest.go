// Package mdtest reads the Markdown documents whose code the tests run:
// a section under its heading, and a fenced block in it.
package mdtest

import (
	"os"
	"strings"
	"testing"
)

// Section returns the text of the file's section under the level-two
// heading ("## heading"), up to the next level-two heading.
func Section(t testing.TB, path, heading string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(raw), "## "+heading)
	if !ok {
		t.Fatalf("%s has no %q section", path, heading)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	return section
}

// Block returns the first fenced block of lang (```lang) in the section
// under heading, without its fences.
func Block(t testing.TB, path, heading, lang string) string {
	t.Helper()
	_, block, ok := strings.Cut(Section(t, path, heading), "```"+lang+"\n")
	if !ok {
		t.Fatalf("%s's %q section has no %s block", path, heading, lang)
	}
	block, _, _ = strings.Cut(block, "```")
	return block
}
