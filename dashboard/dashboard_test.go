package dashboard_test

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/loki-interceptor/herald/dashboard"
)

func get(t *testing.T, h http.Handler, method, path string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// Every file goes with a policy that allows scripts, styles and requests
// from this origin only, and never a frame; a browser revalidates it.
func TestFilesAndTheirHeaders(t *testing.T) {
	h := dashboard.Handler()
	for path, typ := range map[string]string{"/ui/": "text/html", "/ui/js/main.js": "text/javascript",
		"/ui/app.css": "text/css", "/ui/vendor/uPlot.esm.js": "text/javascript", "/ui/icon.svg": "image/svg+xml"} {
		rec := get(t, h, "GET", path, nil)
		if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), typ) || rec.Body.Len() == 0 {
			t.Fatalf("%s: %d %q", path, rec.Code, rec.Header().Get("Content-Type"))
		}
		for k, want := range map[string]string{"Content-Security-Policy": dashboard.Policy, "X-Frame-Options": "DENY",
			"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache", "Referrer-Policy": "no-referrer"} {
			if got := rec.Header().Get(k); got != want {
				t.Errorf("%s: %s = %q, want %q", path, k, got, want)
			}
		}
		etag := rec.Header().Get("ETag")
		if again := get(t, h, "GET", path, http.Header{"If-None-Match": {etag}}); etag == "" || again.Code != 304 || again.Body.Len() != 0 {
			t.Errorf("%s: revalidating with ETag %q: %d", path, etag, again.Code)
		}
	}
	for _, p := range []string{"script-src 'self'", "frame-ancestors 'none'", "default-src 'none'"} {
		if !strings.Contains(dashboard.Policy, p) {
			t.Errorf("policy lacks %s", p)
		}
	}
	if strings.Contains(dashboard.Policy, "unsafe") {
		t.Error("the policy allows unsafe-inline or unsafe-eval")
	}
	for _, tc := range []struct {
		method, path string
		code         int
	}{{"GET", "/ui/nothing.js", 404}, {"POST", "/ui/", 405}, {"GET", "/ui", 301}, {"HEAD", "/ui/app.css", 200}} {
		if rec := get(t, h, tc.method, tc.path, nil); rec.Code != tc.code {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, rec.Code, tc.code)
		}
	}
}

// The page works offline: nothing it loads comes from elsewhere, and it
// has no inline script or style for the policy to refuse.
func TestNothingFromElsewhere(t *testing.T) {
	remote := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//|url\(\s*["']?(https?:)?//|(import|from)\s*\(?\s*["'](https?:)?//|fetch\(\s*["'](https?:)?//`)
	inline := regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>\s*[^<\s]|<style|\sstyle\s*=|\son[a-z]+\s*=|javascript:`)
	err := fs.WalkDir(os.DirFS("static"), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !regexp.MustCompile(`\.(html|js|css|svg)$`).MatchString(path) {
			return err
		}
		raw, err := os.ReadFile(filepath.Join("static", path))
		if err != nil {
			return err
		}
		if m := remote.Find(raw); m != nil {
			t.Errorf("%s loads from elsewhere: %s", path, m)
		}
		if m := inline.Find(raw); m != nil && strings.HasSuffix(path, ".html") {
			t.Errorf("%s has inline script or style: %s", path, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The vendored library is what vendor.sh fetched from npm: the sums it
// wrote hold for the files embedded.
func TestVendoredFilesAreWhatNPMServed(t *testing.T) {
	sums, err := os.ReadFile("static/vendor/SHA256SUMS")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(sums)), "\n")
	if len(lines) != 3 {
		t.Fatalf("SHA256SUMS has %d lines", len(lines))
	}
	for _, line := range lines {
		want, name, _ := strings.Cut(line, "  ")
		raw, err := os.ReadFile(filepath.Join("static", "vendor", name))
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(raw); hex.EncodeToString(sum[:]) != want {
			t.Errorf("static/vendor/%s differs from what vendor.sh fetched: run dashboard/vendor.sh", name)
		}
	}
}

// docs/dashboard.md's Overview row names every chart of the overview and
// every line it draws, as the page captions and labels them: a chart
// added or renamed without the page's description fails here.
func TestDocsNameTheOverviewCharts(t *testing.T) {
	page, err := os.ReadFile("static/js/pages/overview.js")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join("..", "docs", "dashboard.md"))
	if err != nil {
		t.Fatal(err)
	}
	var row string
	for line := range strings.Lines(string(doc)) {
		if strings.HasPrefix(line, "| Overview |") {
			row = line
		}
	}
	// Compared as words: case and punctuation aside.
	words := func(s string) string {
		return " " + strings.Join(strings.Fields(regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(s), " ")), " ") + " "
	}
	captions := regexp.MustCompile(`figure\('([^']+)'`).FindAllStringSubmatch(string(page), -1)
	labels := regexp.MustCompile(`\{label: '([^']+)'\}`).FindAllStringSubmatch(string(page), -1)
	if row == "" || len(captions) != 4 || len(labels) < 4 {
		t.Fatalf("found the Overview row: %v; %d captions, %d labels in overview.js (has its code changed shape?)", row != "", len(captions), len(labels))
	}
	for _, m := range append(captions, labels...) {
		if !strings.Contains(words(row), words(m[1])) {
			t.Errorf("docs/dashboard.md's Overview row does not name %q, which the overview shows", m[1])
		}
	}
}
