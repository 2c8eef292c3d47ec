package query

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// FormatLSN writes a source position as PostgreSQL prints it: "16/B374D848".
func FormatLSN(lsn uint64) string {
	return strconv.FormatUint(lsn>>32, 16) + "/" + strconv.FormatUint(lsn&0xFFFFFFFF, 16)
}

// ParseLSN reads a source position in PostgreSQL's text form ("16/B374D848",
// as pg_current_wal_lsn() returns it; either case).
func ParseLSN(s string) (uint64, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok || hi == "" || lo == "" || len(hi) > 8 || len(lo) > 8 {
		return 0, fmt.Errorf("%q is not an LSN: want two hexadecimal halves separated by '/', as pg_current_wal_lsn() prints it", s)
	}
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%q is not an LSN: want hexadecimal digits", s)
	}
	return h<<32 | l, nil
}

// checkPart validates an id, index key or group key taken from a request
// before any Redis key or field is built from it: non-empty, at most
// maxIDBytes, valid UTF-8 without control characters.
func checkPart(what, s string) error {
	switch {
	case s == "":
		return badRequest("%s is empty", what)
	case len(s) > maxIDBytes:
		return badRequest("%s is %d bytes long; at most %d", what, len(s), maxIDBytes)
	case !utf8.ValidString(s):
		return badRequest("%s is not valid UTF-8", what)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return badRequest("%s %q holds a control character", what, s)
		}
	}
	return nil
}

// knownParams rejects query parameters a route does not take, so a typo
// (limt=5) is an error, not a silent default.
func knownParams(q url.Values, allowed ...string) error {
	for k := range q {
		ok := k == "access_token" || k == "min_lsn" || k == "wait"
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok {
			return badRequest("unknown query parameter %q (this endpoint takes %s)", k, strings.Join(append(allowed, "min_lsn", "wait"), ", "))
		}
		if len(q[k]) > 1 {
			return badRequest("query parameter %q is given %d times", k, len(q[k]))
		}
	}
	return nil
}

// limit reads the limit parameter: def when absent, 1 to max.
func limit(q url.Values, def, max int) (int, error) {
	s := q.Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, badRequest("limit %q: want a whole number of 1 or more", s)
	}
	if n > max {
		return 0, badRequest("limit %d exceeds the maximum page size %d (query.max_page_size)", n, max)
	}
	return n, nil
}

// score reads a score bound: a number, -inf or +inf; def when absent.
func score(q url.Values, name string, def float64) (float64, error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) {
		return 0, badRequest("%s %q: want a number (or -inf, +inf)", name, s)
	}
	return f, nil
}

// freshnessWanted is a request's read-your-writes demand: the source
// position every partition must have applied, and how long to wait.
type freshnessWanted struct {
	lsn  uint64 // 0: none
	wait time.Duration
}

func (s *Server) wanted(q url.Values) (freshnessWanted, error) {
	var fw freshnessWanted
	ls, ws := q.Get("min_lsn"), q.Get("wait")
	if ls == "" {
		if ws != "" {
			return fw, badRequest("wait is given without min_lsn (wait=2s goes with min_lsn=<pg_current_wal_lsn() after your commit>)")
		}
		return fw, nil
	}
	lsn, err := ParseLSN(ls)
	if err != nil {
		return fw, badRequest("min_lsn: %v", err)
	}
	fw.lsn, fw.wait = lsn, s.cfg.Wait
	if ws != "" {
		d, err := time.ParseDuration(ws)
		if err != nil || d < 0 {
			return fw, badRequest("wait %q: want a duration such as 500ms or 2s", ws)
		}
		if d > s.cfg.MaxWait {
			return fw, badRequest("wait %s exceeds the maximum %s (query.max_wait)", d, s.cfg.MaxWait)
		}
		fw.wait = d
	}
	return fw, nil
}

// cursor is where an index page ends: the generation it was read from, the
// query's key and order (a cursor is only good for the same ones), and the
// last entry. It travels as "c1." + base64url(JSON).
type cursor struct {
	Gen   int64   `json:"g"`
	Key   string  `json:"k,omitempty"`
	Desc  bool    `json:"d,omitempty"`
	Score float64 `json:"-"`
	ID    string  `json:"i"`
	// ScoreText is Score as strconv writes it exactly (JSON has no
	// infinities).
	ScoreText string `json:"s"`
}

const cursorPrefix = "c1."

func (c cursor) encode() string {
	c.ScoreText = strconv.FormatFloat(c.Score, 'g', -1, 64)
	b, _ := json.Marshal(c) // plain fields always marshal
	return cursorPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor reads a cursor; any input that encode did not produce is an
// error.
func decodeCursor(s string) (cursor, error) {
	var c cursor
	raw, ok := strings.CutPrefix(s, cursorPrefix)
	if !ok {
		return c, fmt.Errorf("cursor %.40q: not a cursor of this API (take next_cursor from the previous page)", s)
	}
	if len(raw) > 4*maxIDBytes {
		return c, fmt.Errorf("cursor is too long")
	}
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		return c, fmt.Errorf("cursor %.40q: not base64url", s)
	}
	if err := strictJSON(b, &c); err != nil {
		return c, fmt.Errorf("cursor %.40q: %v", s, err)
	}
	if c.Gen < 1 || c.ID == "" || len(c.ID) > maxIDBytes || len(c.Key) > maxIDBytes ||
		!utf8.ValidString(c.ID) || !utf8.ValidString(c.Key) {
		return c, fmt.Errorf("cursor %.40q: incomplete", s)
	}
	if c.Score, err = strconv.ParseFloat(c.ScoreText, 64); err != nil || math.IsNaN(c.Score) {
		return c, fmt.Errorf("cursor %.40q: bad score", s)
	}
	return c, nil
}

func strictJSON(b []byte, v any) error {
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("trailing data")
	}
	return nil
}

// number is a float64 that JSON can carry whatever its value: infinities
// and NaN are written as the strings "Infinity", "-Infinity" and "NaN".
type number float64

// MarshalJSON implements json.Marshaler.
func (n number) MarshalJSON() ([]byte, error) {
	f := float64(n)
	switch {
	case math.IsInf(f, 1):
		return []byte(`"Infinity"`), nil
	case math.IsInf(f, -1):
		return []byte(`"-Infinity"`), nil
	case math.IsNaN(f):
		return []byte(`"NaN"`), nil
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64), nil
}
