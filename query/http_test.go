package query

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// muxEntity routes target with a mux of the entity route alone and returns
// the view and id the route got, or ok false when the mux did not route
// it there (no match, or a redirect to a cleaned path).
func muxEntity(target *url.URL) (view, id string, ok bool) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/views/{view}/entities/{id...}", func(w http.ResponseWriter, r *http.Request) {
		view, id, ok = r.PathValue("view"), r.PathValue("id"), true
	})
	r := &http.Request{Method: http.MethodGet, URL: target, Host: "h", Header: http.Header{}, RequestURI: target.RequestURI()}
	mux.ServeHTTP(httptest.NewRecorder(), r)
	return view, id, ok
}

// checkEntityPath fails when entityPath takes a path that the mux routes
// elsewhere or with another view or id.
func checkEntityPath(t *testing.T, target string) (taken bool) {
	t.Helper()
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return false
	}
	view, id, ok := entityPath(&http.Request{Method: http.MethodGet, URL: u})
	if !ok {
		return false
	}
	mv, mid, mok := muxEntity(u)
	if !mok || mv != view || mid != id {
		t.Errorf("entityPath(%q) = %q, %q; the mux routes it: %v, view %q, id %q", target, view, id, mok, mv, mid)
	}
	return true
}

// TestEntityPath: the entity route's way around the mux takes the plain
// paths, and the others go through the mux.
func TestEntityPath(t *testing.T) {
	tests := []struct {
		target string
		taken  bool
	}{
		{"/v1/views/order/entities/o42", true},
		{"/v1/views/order/entities/o42?min_lsn=0/16B6C50&wait=2s", true},
		{"/v1/views/order/entities/%C3%A9t%C3%A9", true}, // escaped as url.URL escapes it: no RawPath
		{"/v1/views/order/entities/a%20b", true},
		{"/v1/views/order/entities/a%2Fb", false}, // an escaped slash: RawPath
		{"/v1/views/order/entities/a/b", false},
		{"/v1/views/order/entities/", false},
		{"/v1/views/order/entities/.", false},
		{"/v1/views/order/entities/..", false},
		{"/v1/views/../entities/x", false},
		{"/v1/views//entities/x", false},
		{"/v1/views/order//entities/x", false},
		{"/v1/views/order/entities", false},
		{"/v1/views/order/index", false},
		{"/v1/views/order", false},
		{"/v2/views/order/entities/x", false},
	}
	for _, tc := range tests {
		if got := checkEntityPath(t, tc.target); got != tc.taken {
			t.Errorf("entityPath(%q) took it: %v; want %v", tc.target, got, tc.taken)
		}
	}
}

// FuzzEntityPath: whatever the path, entityPath takes it only when the mux
// routes it to the entity route with the same view and id.
func FuzzEntityPath(f *testing.F) {
	for _, s := range []string{"/v1/views/order/entities/o1", "/v1/views/o%2Frder/entities/x", "/v1/views/order/entities/%2e%2e",
		"/v1/views/./entities/x", "/v1/views/order/entities/a%00b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		checkEntityPath(t, target)
	})
}
