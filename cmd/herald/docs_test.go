package main

import (
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/loki-interceptor/herald/mdtest"
)

// docs/architecture.md's package map lists exactly the packages `go list`
// finds: a package added or removed without its row fails here.
func TestArchitecturePackageMapIsComplete(t *testing.T) {
	table := mdtest.Section(t, "../../docs/architecture.md", "Packages")
	var documented []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z0-9/-]+)` \\|").FindAllStringSubmatch(table, -1) {
		documented = append(documented, m[1])
	}
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}", "../../...").Output()
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, p := range strings.Fields(string(out)) {
		if rel, ok := strings.CutPrefix(p, "github.com/loki-interceptor/herald/"); ok {
			listed = append(listed, rel)
		}
	}
	slices.Sort(documented)
	slices.Sort(listed)
	if !slices.Equal(documented, listed) {
		t.Fatalf("docs/architecture.md lists\n  %v\ngo list finds\n  %v", documented, listed)
	}
}
