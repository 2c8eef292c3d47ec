package query

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// routes builds the mux: the API under /v1/, the dashboard at /.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	api := func(pattern string, h func(http.ResponseWriter, *http.Request) error) {
		mux.Handle(pattern, s.wrap(pattern, h))
	}
	api("GET /v1/views", s.listViews)
	api("GET /v1/views/{view}", s.getView)
	const entityRoute = "GET /v1/views/{view}/entities/{id...}"
	api(entityRoute, s.getEntity)
	entity := s.wrap(entityRoute, s.getEntityPath)
	api("GET /v1/views/{view}/index", s.getIndex)
	api("GET /v1/views/{view}/groups", s.getGroups)
	api("GET /v1/views/{view}/history/{id...}", s.getHistory)
	api("GET /v1/views/{view}/stream", s.streamView)
	api("GET /v1/events/stream", s.streamEvents)
	api("GET /v1/health", s.getHealth)
	api("/v1/", func(w http.ResponseWriter, r *http.Request) error {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			return errorf(http.StatusMethodNotAllowed, "method_not_allowed", "the API is read-only: GET only")
		}
		return errorf(http.StatusNotFound, "not_found", "no such endpoint; see docs/query.md (GET /v1/views lists the views)")
	})
	if s.cfg.Dashboard != nil {
		mux.Handle("/", s.cfg.Dashboard)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions && strings.HasPrefix(r.URL.Path, "/v1/") {
			s.preflight(w, r)
			return
		}
		if r.Method == http.MethodGet {
			if _, _, ok := entityPath(r); ok {
				// The busiest route, without the mux's matching and its
				// allocations (entityPath takes only paths the mux
				// would give the same view and id).
				entity.ServeHTTP(w, r)
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
}

// recorder notes the status code an answer got, for the metrics.
type recorder struct {
	http.ResponseWriter
	status   int
	start    time.Time
	m        *routeMetrics
	observed bool // the duration is recorded (a stream: at its first event)
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and the deadlines.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// first records the request's duration, once: when a stream sent its first
// event, or when the answer is done.
func (r *recorder) first() {
	if !r.observed {
		r.observed = true
		r.m.observe(time.Since(r.start).Seconds())
	}
}

type recorderKey struct{}

// recorders recycles the recorders of finished requests.
var recorders = sync.Pool{New: func() any { return new(recorder) }}

// wrap is every API route's middleware: CORS, authentication, the request
// timeout (not for streams), errors as JSON, and the metrics, labelled with
// the route's pattern (bounded), never with the path. The route's metric
// children are looked up once, here, not per request.
func (s *Server) wrap(route string, h func(http.ResponseWriter, *http.Request) error) http.Handler {
	stream := strings.HasSuffix(route, "/stream")
	// An entity read without parameters (no min_lsn: no wait) is one
	// pipelined Redis round trip, bounded by the Redis client's own read,
	// write and pool timeouts (3 s, 3 s, 4 s by default): it needs no timer
	// of its own, which would cost a good share of its CPU.
	oneTrip := strings.HasPrefix(route, "GET /v1/views/{view}/entities/")
	rm := s.cfg.Metrics.route(route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := recorders.Get().(*recorder)
		*rec = recorder{ResponseWriter: w, start: time.Now(), m: rm}
		defer func() {
			code := rec.status
			if code == 0 {
				code = http.StatusOK
			}
			rm.count(code)
			rec.first()
			// The handler has returned: nothing holds rec any more (a
			// stream ends with its handler).
			*rec = recorder{}
			recorders.Put(rec)
		}()
		s.cors(rec, r)
		if !s.authorized(r) {
			rec.Header().Set("WWW-Authenticate", `Bearer realm="cdcflow"`)
			writeError(rec, errorf(http.StatusUnauthorized, "unauthorized", "a bearer token is required (Authorization: Bearer <token>)"))
			return
		}
		ctx := r.Context()
		switch {
		case stream:
			ctx = context.WithValue(ctx, recorderKey{}, rec)
		case oneTrip && r.URL.RawQuery == "":
			_ = http.NewResponseController(rec).SetWriteDeadline(time.Now().Add(s.cfg.RequestTimeout + time.Second))
		default:
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, s.cfg.RequestTimeout)
			defer cancel()
			_ = http.NewResponseController(rec).SetWriteDeadline(time.Now().Add(s.cfg.RequestTimeout + time.Second))
		}
		if ctx != r.Context() {
			r = r.WithContext(ctx) // a copy of the request: only when needed
		}
		if err := h(rec, r); err != nil {
			e := classify(err)
			if e.status >= 500 {
				s.cfg.Logger.WarnContext(ctx, "query failed", "route", route, "status", e.status, "err", e.message)
			}
			if rec.status == 0 {
				writeError(rec, e)
			}
		}
	})
}

// firstEvent tells the metrics a stream sent its first event.
func firstEvent(ctx context.Context) {
	if rec, ok := ctx.Value(recorderKey{}).(*recorder); ok {
		rec.first()
	}
}

// hashTokens keeps the SHA-256 of each token: comparing fixed-size hashes
// in constant time leaks neither a token's bytes nor its length.
func hashTokens(tokens []string) [][32]byte {
	out := make([][32]byte, len(tokens))
	for i, t := range tokens {
		out[i] = sha256.Sum256([]byte(t))
	}
	return out
}

// authorized checks the request's bearer token (header, or access_token in
// the query string) against every configured token, in constant time.
func (s *Server) authorized(r *http.Request) bool {
	if len(s.tokens) == 0 {
		return true
	}
	var given string
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return false
		}
		given = strings.TrimSpace(tok)
	} else {
		given = r.URL.Query().Get("access_token")
	}
	if given == "" {
		return false
	}
	h := sha256.Sum256([]byte(given))
	match := 0
	for _, t := range s.tokens {
		match |= subtle.ConstantTimeCompare(h[:], t[:])
	}
	return match == 1
}

// cors adds the CORS headers for an allowed origin. Without CORSOrigins it
// adds none, and a browser keeps other origins out.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if len(s.cfg.CORSOrigins) == 0 || origin == "" {
		return false
	}
	w.Header().Add("Vary", "Origin")
	if !slices.Contains(s.cfg.CORSOrigins, "*") && !slices.Contains(s.cfg.CORSOrigins, origin) {
		return false
	}
	w.Header().Set("Access-Control-Allow-Origin", origin)
	return true
}

// preflight answers a CORS preflight: 204 with the allowed method and
// headers for an allowed origin, 403 otherwise.
func (s *Server) preflight(w http.ResponseWriter, r *http.Request) {
	if !s.cors(w, r) {
		writeError(w, errorf(http.StatusForbidden, "cors", "origin %q may not read this API (query.cors_origins)", r.Header.Get("Origin")))
		return
	}
	w.Header().Set("Access-Control-Allow-Methods", "GET")
	w.Header().Set("Access-Control-Allow-Headers", "Authorization, Last-Event-ID")
	w.Header().Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// entityPath returns the view and id of a request for
// /v1/views/{view}/entities/{id}, when the mux would route it to the
// entity route with these same values: no escaped byte in the path (so the
// path is what the mux unescapes its values to), and a view and an id of
// one segment each that path cleaning leaves as they are (not "." or "..").
// Any other path, an id with a slash included, goes through the mux.
func entityPath(r *http.Request) (view, id string, ok bool) {
	const prefix = "/v1/views/"
	if r.URL.RawPath != "" || !strings.HasPrefix(r.URL.Path, prefix) {
		return "", "", false
	}
	view, rest, found := strings.Cut(r.URL.Path[len(prefix):], "/")
	if !found || !oneSegment(view) {
		return "", "", false
	}
	id, found = strings.CutPrefix(rest, "entities/")
	if !found || !oneSegment(id) || strings.IndexByte(id, '/') >= 0 {
		return "", "", false
	}
	return view, id, true
}

func oneSegment(s string) bool { return s != "" && s != "." && s != ".." }
