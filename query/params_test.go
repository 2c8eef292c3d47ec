package query

import (
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestLSN(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		err  bool
	}{
		{"0/0", 0, false},
		{"16/B374D848", 0x16B374D848, false},
		{"16/b374d848", 0x16B374D848, false},
		{"FFFFFFFF/FFFFFFFF", math.MaxUint64, false},
		{"", 0, true},
		{"16", 0, true},
		{"/1", 0, true},
		{"1/", 0, true},
		{"1/2/3", 0, true},
		{"123456789/0", 0, true},
		{"g/0", 0, true},
		{"-1/0", 0, true},
		{"+1/0", 0, true},
	}
	for _, tc := range tests {
		got, err := ParseLSN(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseLSN(%q) = %X, %v; want %X (error %v)", tc.in, got, err, tc.want, tc.err)
		}
		if err == nil && !strings.EqualFold(FormatLSN(got), strings.TrimLeft(tc.in, "0")) && tc.in != "0/0" {
			// FormatLSN drops leading zeros of each half, as PostgreSQL.
			if back, _ := ParseLSN(FormatLSN(got)); back != got {
				t.Errorf("FormatLSN(%X) = %q does not parse back", got, FormatLSN(got))
			}
		}
	}
	if got := FormatLSN(0x16B374D848); got != "16/b374d848" && got != "16/B374D848" {
		t.Errorf("FormatLSN = %q", got)
	}
}

func TestCursorRoundTrip(t *testing.T) {
	for _, c := range []cursor{
		{Gen: 1, Score: 1.5, ID: "o1"},
		{Gen: 7, Key: "c|1", Desc: true, Score: math.Inf(-1), ID: "a b/é"},
		{Gen: math.MaxInt64, Score: 1e300, ID: strings.Repeat("x", maxIDBytes)},
		{Gen: 2, Score: math.SmallestNonzeroFloat64, ID: "0"},
	} {
		got, err := decodeCursor(c.encode())
		got.ScoreText = ""
		if err != nil || got != c {
			t.Errorf("decodeCursor(encode(%+v)) = %+v, %v", c, got, err)
		}
	}
	for _, bad := range []string{"", "c1.", "c2.eyJ9", "c1.!!!", "c1.e30", `c1.eyJnIjoxLCJpIjoiIiwicyI6IjEifQ`} {
		if _, err := decodeCursor(bad); err == nil {
			t.Errorf("decodeCursor(%q) succeeded", bad)
		}
	}
}

func TestStreamPos(t *testing.T) {
	p := streamPos{gen: 3, ids: map[int32]string{0: "1-0", 1: "0-0", 2: "17000-12"}}
	got, err := parseStreamPos(p.String(), 3)
	if err != nil || got.String() != p.String() {
		t.Fatalf("parseStreamPos(%q) = %v, %v", p, got, err)
	}
	for _, bad := range []string{"", "3:1-0", "g:1-0", "g0:1-0,1-0,1-0", "g3:1-0,1-0", "g3:1-0,x,1-0", "g3:1-0,1-0,1-0,1-0", "g3:1-,1-0,1-0"} {
		if _, err := parseStreamPos(bad, 3); err == nil {
			t.Errorf("parseStreamPos(%q) succeeded", bad)
		}
	}
	if !entryAfter("2-0", "1-5") || !entryAfter("1-6", "1-5") || entryAfter("1-5", "1-5") || entryAfter("10-0", "9x") {
		t.Error("entryAfter is wrong")
	}
}

func TestCheckPart(t *testing.T) {
	for _, ok := range []string{"o1", "a:b", "ä", "{p1}", "*", strings.Repeat("x", maxIDBytes)} {
		if err := checkPart("id", ok); err != nil {
			t.Errorf("checkPart(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a\nb", "a\x00", "\x7f", "\xff", "a\u0085", strings.Repeat("x", maxIDBytes+1)} {
		if err := checkPart("id", bad); err == nil {
			t.Errorf("checkPart(%q) succeeded", bad)
		}
	}
}

func TestWanted(t *testing.T) {
	s := &Server{cfg: Config{}}
	s.cfg.setDefaults()
	tests := []struct {
		q    string
		lsn  uint64
		wait time.Duration
		err  bool
	}{
		{"", 0, 0, false},
		{"min_lsn=0/10", 16, DefaultWait, false},
		{"min_lsn=0/10&wait=0s", 16, 0, false},
		{"min_lsn=0/10&wait=250ms", 16, 250 * time.Millisecond, false},
		{"min_lsn=0/10&wait=6s", 0, 0, true},
		{"min_lsn=0/10&wait=-1s", 0, 0, true},
		{"min_lsn=0/10&wait=soon", 0, 0, true},
		{"wait=1s", 0, 0, true},
		{"min_lsn=16", 0, 0, true},
	}
	for _, tc := range tests {
		q, _ := url.ParseQuery(tc.q)
		got, err := s.wanted(q)
		if (err != nil) != tc.err || (!tc.err && (got.lsn != tc.lsn || got.wait != tc.wait)) {
			t.Errorf("wanted(%q) = %+v, %v; want lsn %d wait %s (error %v)", tc.q, got, err, tc.lsn, tc.wait, tc.err)
		}
	}
}

func TestAuthorized(t *testing.T) {
	s := &Server{tokens: hashTokens([]string{"tok-1", "tok-2"})}
	for _, tc := range []struct {
		header, query string
		want          bool
	}{
		{"Bearer tok-1", "", true},
		{"bearer tok-2", "", true},
		{"Bearer  tok-1 ", "", true},
		{"", "access_token=tok-2", true},
		{"Bearer tok-3", "", false},
		{"Bearer tok-", "", false},
		{"Bearer tok-11", "", false},
		{"Bearer", "", false},
		{"Token tok-1", "", false},
		{"Bearer tok-3", "access_token=tok-1", false}, // the header wins
		{"", "", false},
	} {
		r, _ := http.NewRequest(http.MethodGet, "/v1/views?"+tc.query, nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		if got := s.authorized(r); got != tc.want {
			t.Errorf("authorized(%q, %q) = %v; want %v", tc.header, tc.query, got, tc.want)
		}
	}
	if !(&Server{}).authorized(&http.Request{Header: http.Header{}, URL: &url.URL{}}) {
		t.Error("without tokens every request is authorized")
	}
}

// FuzzCursor: any string either fails to decode or decodes to a cursor
// that encodes back to a string decoding to the same cursor; never a panic.
func FuzzCursor(f *testing.F) {
	f.Add(cursor{Gen: 1, Score: 2.5, ID: "o1"}.encode())
	f.Add(cursor{Gen: 3, Key: "k", Desc: true, Score: math.Inf(1), ID: "x"}.encode())
	f.Add("c1.")
	f.Add("c1.eyJnIjoxLCJpIjoibzEiLCJzIjoiTmFOIn0")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeCursor(s)
		if err != nil {
			return
		}
		if c.Gen < 1 || c.ID == "" || math.IsNaN(c.Score) || !utf8.ValidString(c.ID) {
			t.Fatalf("decodeCursor(%q) = %+v: invalid cursor accepted", s, c)
		}
		back, err := decodeCursor(c.encode())
		back.ScoreText, c.ScoreText = "", ""
		if err != nil || back != c {
			t.Fatalf("round trip of %+v: %+v, %v", c, back, err)
		}
	})
}

// FuzzQueryParams: whatever the query string, the parameter readers never
// panic, and what they accept is within bounds.
func FuzzQueryParams(f *testing.F) {
	for _, s := range []string{"limit=5", "min=-inf&max=+inf", "min_lsn=0/16B3748&wait=2s", "limit=1e9", "min=NaN", "cursor=c1.e30", "order=desc&key=%00", "limit=-1&limit=2"} {
		f.Add(s)
	}
	s := &Server{cfg: Config{}}
	s.cfg.setDefaults()
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		if n, err := limit(q, 10, 100); err == nil && (n < 1 || n > 100) {
			t.Fatalf("limit(%q) = %d", raw, n)
		}
		for _, k := range []string{"min", "max"} {
			if f, err := score(q, k, 0); err == nil && math.IsNaN(f) {
				t.Fatalf("score(%q) = NaN", raw)
			}
		}
		if w, err := s.wanted(q); err == nil && (w.wait < 0 || w.wait > s.cfg.MaxWait || (w.lsn == 0 && w.wait != 0 && q.Get("min_lsn") == "")) {
			t.Fatalf("wanted(%q) = %+v", raw, w)
		}
		_ = knownParams(q, "limit", "key")
		if c := q.Get("cursor"); c != "" {
			_, _ = decodeCursor(c)
		}
		for _, k := range []string{"key", "id"} {
			if v := q.Get(k); checkPart(k, v) == nil && (len(v) == 0 || len(v) > maxIDBytes || !utf8.ValidString(v)) {
				t.Fatalf("checkPart accepted %q", v)
			}
		}
		if p, err := parseStreamPos(q.Get("last_event_id"), 3); err == nil && len(p.ids) != 3 {
			t.Fatalf("parseStreamPos(%q) = %v", q.Get("last_event_id"), p)
		}
	})
}
