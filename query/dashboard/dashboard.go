package dashboard

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var static embed.FS

// ContentSecurityPolicy is the policy sent with every file: scripts, styles,
// images and connections from the serving origin only, no inline script,
// no framing. It is what keeps every request of the page on the server's
// origin.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; connect-src 'self'; manifest-src 'self'; base-uri 'none'; " +
	"form-action 'none'; frame-ancestors 'none'"

// file is one embedded file ready to serve.
type file struct {
	body        []byte
	contentType string
	etag        string
}

// contentTypes maps the extensions of the embedded files to their media
// types, fixed here so that the answer does not depend on the host's MIME
// database (a JavaScript module served as text/plain does not load).
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// handler serves the embedded files by request path.
type handler struct {
	files map[string]file // "/" and "/assets/…"
}

// Handler returns the dashboard's handler. Mount it at the root of the query
// server ("/"): it serves the page at "/" (and "/index.html"), its files under
// "/assets/", and the icon at "/favicon.ico"; anything else is 404. Only GET
// and HEAD are allowed. Every answer carries an ETag (a hash of the file) and
// Cache-Control: no-cache, so a browser revalidates and gets 304 when the
// binary did not change. The handler is safe for concurrent use.
func Handler() http.Handler {
	h, err := newHandler(static)
	if err != nil {
		// The files are embedded at build time; an error here is a broken build.
		panic(err)
	}
	return h
}

// newHandler reads every file under static/ of fsys.
func newHandler(fsys fs.FS) (*handler, error) {
	h := &handler{files: map[string]file{}}
	err := fs.WalkDir(fsys, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return fmt.Errorf("dashboard: read %s: %w", p, err)
		}
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			return fmt.Errorf("dashboard: %s: no content type for %q", p, path.Ext(p))
		}
		sum := sha256.Sum256(body)
		h.files[strings.TrimPrefix(p, "static")] = file{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, need := range []string{"/index.html", "/assets/icon.svg"} {
		if _, ok := h.files[need]; !ok {
			return nil, fmt.Errorf("dashboard: %s is not embedded", need)
		}
	}
	h.files["/"] = h.files["/index.html"]
	h.files["/favicon.ico"] = h.files["/assets/icon.svg"]
	return h, nil
}

// ServeHTTP serves one embedded file.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, ok := h.files[r.URL.Path]
	if !ok || (r.URL.Path != "/" && r.URL.Path != "/favicon.ico" && r.URL.Path != "/index.html" && !strings.HasPrefix(r.URL.Path, "/assets/")) {
		http.Error(w, "dashboard: no such page: "+r.URL.Path, http.StatusNotFound)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "dashboard: method "+r.Method+" not allowed", http.StatusMethodNotAllowed)
		return
	}
	hd := w.Header()
	hd.Set("Content-Security-Policy", ContentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("ETag", f.etag)
	if match := r.Header.Get("If-None-Match"); match != "" && etagMatches(match, f.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hd.Set("Content-Type", f.contentType)
	hd.Set("Content-Length", fmt.Sprint(len(f.body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(f.body)
}

// etagMatches reports whether an If-None-Match header names etag ("*"
// included); weak validators compare by their opaque part, as RFC 9110 asks
// for If-None-Match.
func etagMatches(header, etag string) bool {
	for t := range strings.SplitSeq(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}
