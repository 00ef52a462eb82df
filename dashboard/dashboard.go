// Package dashboard is Herald's browser dashboard: a single page of plain
// JavaScript modules, HTML and CSS, with uPlot (vendored by vendor.sh) for
// its charts, embedded in the binary. It has no server side of its own:
// its scripts call only the public /api/v1, signed in with an API key held
// in a cookie (see package api), so the OpenAPI document describes
// everything it does. docs/dashboard.md says why it is built this way.
package dashboard

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

// Prefix is where the dashboard is served: its pages load their files
// relative to it.
const Prefix = "/ui/"

//go:embed static
var static embed.FS

// Policy is the Content-Security-Policy of every file served: scripts,
// styles and requests to this origin only (no inline script or style, no
// eval), never in a frame.
const Policy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; " +
	"frame-ancestors 'none'"

type file struct {
	body        []byte
	contentType string
	etag        string
}

// Handler serves the dashboard's files under Prefix: /ui/ is the page,
// the rest its modules, styles and vendored library.
func Handler() http.Handler {
	files, err := load()
	if err != nil {
		// The files are compiled in: a read error is a broken build.
		panic(err)
	}
	return &handler{files: files}
}

// load reads every embedded file once, with its type and an ETag from its
// content, so a browser revalidates cheaply and never runs a stale module
// next to a new one.
func load() (map[string]file, error) {
	root, err := fs.Sub(static, "static")
	if err != nil {
		return nil, err
	}
	files := map[string]file{}
	err = fs.WalkDir(root, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(root, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		typ := mime.TypeByExtension(path.Ext(name))
		if typ == "" {
			typ = "text/plain; charset=utf-8"
		}
		files[name] = file{body: body, contentType: typ, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	return files, err
}

type handler struct{ files map[string]file }

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", Policy)
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	// Revalidate every time (the ETag makes it a 304): a release must
	// not meet modules cached from the one before.
	hdr.Set("Cache-Control", "no-cache")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, Prefix)
	if !ok {
		// /ui without its slash: the page's relative URLs need it.
		http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
		return
	}
	if name == "" {
		name = "index.html"
	}
	f, ok := h.files[name]
	if !ok {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	hdr.Set("Content-Type", f.contentType)
	hdr.Set("ETag", f.etag)
	if r.Header.Get("If-None-Match") == f.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if r.Method == http.MethodHead {
		return
	}
	w.Write(f.body)
}
