package dashboard

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

func TestHandlerServesFiles(t *testing.T) {
	h := Handler()
	tests := []struct {
		method, path string
		code         int
		contentType  string
		contains     string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8", `<script type="module" src="/assets/app.js">`},
		{"GET", "/index.html", 200, "text/html; charset=utf-8", "<title>"},
		{"GET", "/assets/app.js", 200, "text/javascript; charset=utf-8", "import"},
		{"GET", "/assets/style.css", 200, "text/css; charset=utf-8", ":root"},
		{"GET", "/assets/icon.svg", 200, "image/svg+xml", "<svg"},
		{"GET", "/favicon.ico", 200, "image/svg+xml", "<svg"},
		{"HEAD", "/assets/board.js", 200, "text/javascript; charset=utf-8", ""},
		{"GET", "/assets/", 404, "", "no such page"},
		{"GET", "/assets/nope.js", 404, "", "no such page: /assets/nope.js"},
		{"GET", "/static/index.html", 404, "", "no such page"},
		{"GET", "/v1/views", 404, "", "no such page"},
		{"POST", "/", 405, "", "method POST not allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			if rec.Code != tc.code {
				t.Fatalf("%s %s = %d; want %d (%s)", tc.method, tc.path, rec.Code, tc.code, rec.Body)
			}
			if tc.contentType != "" && rec.Header().Get("Content-Type") != tc.contentType {
				t.Errorf("Content-Type = %q; want %q", rec.Header().Get("Content-Type"), tc.contentType)
			}
			if !strings.Contains(rec.Body.String(), tc.contains) {
				t.Errorf("body does not contain %q:\n%.300s", tc.contains, rec.Body)
			}
			if tc.method == "HEAD" && rec.Body.Len() != 0 {
				t.Errorf("HEAD answered a body of %d bytes", rec.Body.Len())
			}
			if tc.code == 200 {
				if got := rec.Header().Get("Content-Security-Policy"); got != ContentSecurityPolicy {
					t.Errorf("Content-Security-Policy = %q", got)
				}
				if rec.Header().Get("X-Content-Type-Options") != "nosniff" || rec.Header().Get("ETag") == "" {
					t.Errorf("headers = %v; want nosniff and an ETag", rec.Header())
				}
			}
		})
	}
}

func TestHandlerRevalidates(t *testing.T) {
	h := Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/assets/app.js", nil))
	etag := rec.Header().Get("ETag")
	for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
		req := httptest.NewRequest("GET", "/assets/app.js", nil)
		req.Header.Set("If-None-Match", inm)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
			t.Errorf("If-None-Match %s = %d with %d bytes; want 304 and no body", inm, rec.Code, rec.Body.Len())
		}
	}
	req := httptest.NewRequest("GET", "/assets/app.js", nil)
	req.Header.Set("If-None-Match", `"other"`)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("If-None-Match \"other\" = %d; want 200", rec.Code)
	}
}

// TestNothingFromElsewhere reads every embedded file: no URL may name
// another origin (the SVG namespace is a name, not a request), and no
// script or stylesheet may be inline (the CSP forbids them, so they would
// not run).
func TestNothingFromElsewhere(t *testing.T) {
	url := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	inline := regexp.MustCompile(`(?i)<script(\s[^>]*)?>\s*[^<\s]|<style|\son[a-z]+=`)
	n := 0
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		f, err := static.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		b, err := io.ReadAll(f)
		if err != nil {
			return err
		}
		src := strings.ReplaceAll(string(b), `xmlns="http://www.w3.org/2000/svg"`, "")
		if m := url.FindString(src); m != "" {
			t.Errorf("%s names another origin: %q", p, m)
		}
		if strings.HasSuffix(p, ".html") || strings.HasSuffix(p, ".svg") {
			if m := inline.FindString(src); m != "" {
				t.Errorf("%s has inline script or style, which the CSP blocks: %q", p, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 6 {
		t.Fatalf("walked %d embedded files; want the page, its scripts, style and icon", n)
	}
}

func TestNewHandlerNeedsThePage(t *testing.T) {
	sub := fstestMap{"static/assets/icon.svg": "<svg/>"}
	if _, err := newHandler(sub.fs()); err == nil || !strings.Contains(err.Error(), "/index.html is not embedded") {
		t.Fatalf("newHandler without index.html: err = %v", err)
	}
	sub = fstestMap{"static/index.html": "x", "static/assets/icon.svg": "<svg/>", "static/assets/x.woff": "?"}
	if _, err := newHandler(sub.fs()); err == nil || !strings.Contains(err.Error(), `no content type for ".woff"`) {
		t.Fatalf("newHandler with a .woff: err = %v", err)
	}
}

// fstestMap is a file tree by path and content.
type fstestMap map[string]string

func (m fstestMap) fs() fs.FS {
	out := fstest.MapFS{}
	for p, s := range m {
		out[p] = &fstest.MapFile{Data: []byte(s)}
	}
	return out
}
