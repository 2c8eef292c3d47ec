package pipeline

import (
	"bytes"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/cdcflow/cdcflow/capture"
)

// The fast path of DecodeRecord. Records are decoded in every consumer of the
// event topics (the views, the rule engine), once per record, and the general
// path (encoding/json into the envelope struct by reflection, mime parsing of
// the content types) cost several times the work of the consumers
// themselves. decodeRecordFast reads the records EncodeEvent writes in one
// pass, without reflection, maps or intermediate copies, and gives up
// (returns false) on anything it is not sure of, which the general path then
// decodes or refuses with its error. It never returns an error itself, so
// DecodeRecord's errors are always the general path's.
//
// A new attribute has to be added in four places to be decoded here (until
// then, records carrying it take the general path, which is correct but
// slow): the envelope struct and its encoder, the field constants below,
// fieldOf and envField.

// The attributes the fast path knows, as indexes of envField; data is read
// apart.
const (
	fSpecVersion = iota
	fID
	fSource
	fType
	fSubject
	fTime
	fDataContentType
	fDataSchema
	fSequence
	fPartitionKey
	fPgLSN
	fPgXID
	fAggregateType
	fEpoch
	fControl
	fDeadLetter
	nFields
)

// fieldOf returns the index of the attribute named name, or -1. Names match
// exactly: encoding/json would also match other letter cases, which the
// general path handles.
func fieldOf(name []byte) int {
	// A switch on string(name) does not allocate.
	switch string(name) {
	case attrSpecVersion:
		return fSpecVersion
	case attrID:
		return fID
	case attrSource:
		return fSource
	case attrType:
		return fType
	case attrSubject:
		return fSubject
	case attrTime:
		return fTime
	case attrDataContentType:
		return fDataContentType
	case attrDataSchema:
		return fDataSchema
	case extSequence:
		return fSequence
	case extPartitionKey:
		return fPartitionKey
	case extPgLSN:
		return fPgLSN
	case extPgXID:
		return fPgXID
	case extAggregateType:
		return fAggregateType
	case extEpoch:
		return fEpoch
	case extControl:
		return fControl
	case extDeadLetter:
		return fDeadLetter
	}
	return -1
}

// envField returns the envelope field of attribute f.
func envField(env *envelope, f int) *string {
	switch f {
	case fSpecVersion:
		return &env.SpecVersion
	case fID:
		return &env.ID
	case fSource:
		return &env.Source
	case fType:
		return &env.Type
	case fSubject:
		return &env.Subject
	case fTime:
		return &env.Time
	case fDataContentType:
		return &env.DataContentType
	case fDataSchema:
		return &env.DataSchema
	case fSequence:
		return &env.Sequence
	case fPartitionKey:
		return &env.PartitionKey
	case fPgLSN:
		return &env.PgLSN
	case fPgXID:
		return &env.PgXID
	case fAggregateType:
		return &env.AggregateType
	case fEpoch:
		return &env.Epoch
	case fControl:
		return &env.Control
	case fDeadLetter:
		return &env.DeadLetter
	}
	return nil
}

// rawAttrs are the attribute values of one record as read, before they are
// copied: the bytes of each (between the quotes of a structured JSON string,
// or a binary header's value), and whether they hold JSON escapes.
type rawAttrs struct {
	seen    uint32 // bit f: attribute f was present
	escaped uint32 // bit f: attribute f's bytes hold escapes
	v       [nFields][]byte
}

// set records attribute f, or returns false when it was already set.
func (a *rawAttrs) set(f int, v []byte, escaped bool) bool {
	if a.seen&(1<<f) != 0 {
		return false
	}
	a.seen |= 1 << f
	if escaped {
		a.escaped |= 1 << f
	}
	a.v[f] = v
	return true
}

// decodeRecordFast decodes r as DecodeRecord does, or returns false when it
// is not sure to give DecodeRecord's result: the caller then takes the
// general path. The Event does not alias r (see DecodeRecord).
func decodeRecordFast(r Record) (Event, bool) {
	var ct []byte
	ctSeen, binary := false, false
	for _, h := range r.Headers {
		switch {
		case len(h.Key) == len(headerContentType) && (h.Key == headerContentType || strings.EqualFold(h.Key, headerContentType)):
			if ctSeen {
				return Event{}, false // the general path's error
			}
			ct, ctSeen = h.Value, true
		case h.Key == headerPrefix+attrSpecVersion:
			binary = true
		}
	}
	var a rawAttrs
	var data []byte
	structured := ctSeen && (string(ct) == StructuredContentType || string(ct) == "application/cloudevents+json")
	switch {
	case structured:
		var ok bool
		if data, ok = scanStructured(r.Value, &a); !ok {
			return Event{}, false
		}
	case binary && (ctSeen && string(ct) == DataContentType || !ctSeen && len(r.Value) == 0):
		if !scanBinary(r.Headers, &a) {
			return Event{}, false
		}
		if len(r.Value) > 0 {
			if !validJSON(r.Value) {
				return Event{}, false
			}
			data = r.Value
		}
	default:
		return Event{}, false
	}
	var env envelope
	a.strings(&env)
	if data != nil {
		env.Data = bytes.Clone(data)
		if binary && !structured {
			// The binding carries datacontenttype in content-type, which
			// is DataContentType here.
			env.DataContentType = DataContentType
		}
	}
	e, err := fromEnvelope(&env, true)
	if err != nil || len(r.Key) > 0 && string(r.Key) != e.AggregateID {
		return Event{}, false // the general path's error
	}
	return e, true
}

// validJSON reports whether b is one JSON value, with white space around it
// allowed. It is stricter than json.Valid (it refuses invalid UTF-8 and deep
// nesting), so that true means json.Valid too.
func validJSON(b []byte) bool {
	v := fastValidator{b: b}
	if !v.value(nil, 0) {
		return false
	}
	v.space()
	return v.i == len(b)
}

// scanStructured reads a structured CloudEvent as EncodeEvent writes it: one
// JSON object without white space between its members, every member a known
// attribute with a string value, or "data" with any JSON value, none twice.
// It returns the data's bytes (nil when absent) and false when value is not
// of that form. The attributes are checked as JSON strings (valid escapes,
// valid UTF-8, no control characters); the data is checked as JSON.
func scanStructured(value []byte, a *rawAttrs) (data []byte, ok bool) {
	if len(value) < 2 || value[0] != '{' || value[1] == '}' {
		return nil, false
	}
	v := fastValidator{b: value, i: 1}
	for {
		key, escaped, ok := scanString(value, &v.i)
		if !ok || escaped || v.i >= len(value) || value[v.i] != ':' {
			return nil, false
		}
		v.i++
		if string(key) == "data" {
			if data != nil || v.i >= len(value) {
				return nil, false
			}
			switch value[v.i] {
			case ' ', '\t', '\n', '\r':
				return nil, false
			}
			start := v.i
			if !v.value(nil, 0) {
				return nil, false
			}
			data = value[start:v.i]
		} else {
			f := fieldOf(key)
			if f < 0 {
				return nil, false
			}
			s, escaped, ok := scanString(value, &v.i)
			if !ok || !a.set(f, s, escaped) {
				return nil, false
			}
		}
		if v.i >= len(value) {
			return nil, false
		}
		switch value[v.i] {
		case ',':
			v.i++
		case '}':
			return data, v.i+1 == len(value)
		default:
			return nil, false
		}
	}
}

// plainByte[c] is true for the bytes a JSON string holds as they are: not
// '"', '\\', control characters or the bytes of non-ASCII characters.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanString reads the JSON string at b[*i] and moves *i past it. It
// returns the bytes between the quotes, whether they hold escapes, and
// whether it is a string encoding/json reads as appendUnescaped does: valid
// escapes, valid UTF-8, no control characters. It accepts what
// fastValidator.rawString accepts, faster on plain ASCII, which attribute
// values mostly are.
func scanString(b []byte, i *int) (raw []byte, escaped, ok bool) {
	j := *i
	if j >= len(b) || b[j] != '"' {
		return nil, false, false
	}
	j++
	start := j
	for j < len(b) {
		c := b[j]
		if plainByte[c] {
			j++
			continue
		}
		switch {
		case c == '"':
			*i = j + 1
			return b[start:j], escaped, true
		case c == '\\':
			if j+1 >= len(b) {
				return nil, false, false
			}
			escaped = true
			switch b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if j+5 >= len(b) {
					return nil, false, false
				}
				for _, h := range b[j+2 : j+6] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return nil, false, false
					}
				}
				j += 6
			default:
				return nil, false, false
			}
		case c < 0x20:
			return nil, false, false
		default: // the first byte of a non-ASCII character
			r, size := utf8.DecodeRune(b[j:])
			if r == utf8.RuneError && size == 1 {
				return nil, false, false
			}
			j += size
		}
	}
	return nil, false, false
}

// scanBinary reads the ce_* headers of a binary record: every one a known
// attribute other than datacontenttype, none twice.
func scanBinary(headers []Header, a *rawAttrs) bool {
	for _, h := range headers {
		name, ok := strings.CutPrefix(h.Key, headerPrefix)
		if !ok {
			continue
		}
		f := fieldOf([]byte(name))
		if f < 0 || f == fDataContentType || !a.set(f, h.Value, false) {
			return false
		}
	}
	return true
}

// strings sets env's attributes from a, as copies, unescaped: the subject
// and a partitionkey that differs from it in strings of their own, the
// others in one shared string.
func (a *rawAttrs) strings(env *envelope) {
	// The shared string is built in a stack buffer when it fits.
	var stack [512]byte
	buf := stack[:0]
	var ends [nFields]int
	for f := range nFields {
		if f == fSubject || f == fPartitionKey {
			continue
		}
		if a.escaped&(1<<f) != 0 {
			buf = appendUnescaped(buf, a.v[f])
		} else {
			buf = append(buf, a.v[f]...)
		}
		ends[f] = len(buf)
	}
	shared := string(buf)
	start := 0
	for f := range nFields {
		if f == fSubject || f == fPartitionKey {
			continue
		}
		if ends[f] > start {
			*envField(env, f) = shared[start:ends[f]]
		}
		start = ends[f]
	}
	env.Subject = a.own(fSubject, stack[:0])
	if string(a.v[fPartitionKey]) == string(a.v[fSubject]) && a.escaped&(1<<fPartitionKey) == a.escaped&(1<<fSubject) {
		env.PartitionKey = env.Subject
	} else {
		env.PartitionKey = a.own(fPartitionKey, stack[:0])
	}
}

// own returns attribute f in a string of its own, unescaped in scratch when
// it holds escapes.
func (a *rawAttrs) own(f int, scratch []byte) string {
	if a.escaped&(1<<f) != 0 {
		return string(appendUnescaped(scratch, a.v[f]))
	}
	return string(a.v[f])
}

// appendUnescaped appends the value of the JSON string whose bytes between
// the quotes are raw, as encoding/json decodes it: raw has been checked by
// fastValidator.rawString (valid escapes and UTF-8). A \u escape of half a
// surrogate pair that is not followed by its other half becomes U+FFFD.
func appendUnescaped(b, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			j := bytes.IndexByte(raw[i:], '\\')
			if j < 0 {
				return append(b, raw[i:]...)
			}
			b = append(b, raw[i:i+j]...)
			i += j
			continue
		}
		switch raw[i+1] {
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r := hex4(raw[i+2 : i+6])
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					if d := utf16.DecodeRune(r, hex4(raw[i+2:i+6])); d != unicode.ReplacementChar {
						b = utf8.AppendRune(b, d)
						i += 6
						continue
					}
				}
				r = unicode.ReplacementChar
			}
			b = utf8.AppendRune(b, r)
			continue
		default: // '"', '\\', '/'
			b = append(b, raw[i+1])
		}
		i += 2
	}
	return b
}

// hex4 returns the value of four hexadecimal digits, checked by the caller.
func hex4(h []byte) rune {
	var r rune
	for _, c := range h[:4] {
		switch {
		case c <= '9':
			c -= '0'
		case c >= 'a':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// validPosition reports whether ParsePosition accepts s, without parsing
// the numbers.
func validPosition(s string) bool {
	if len(s) != positionLen || s[16] != '-' || s[25] != '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'A' <= c && c <= 'F') && i != 16 && i != 25 {
			return false
		}
	}
	return true
}

// parseTimeUTC parses the time EncodeEvent writes, "2026-11-23T10:15:00.123456Z"
// (any number of fraction digits from 1 to 9, or none), as
// time.Parse(time.RFC3339Nano, s) followed by UTC does. It returns false for
// any other form, valid or not.
func parseTimeUTC(s string) (time.Time, bool) {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[len(s)-1] != 'Z' {
		return time.Time{}, false
	}
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[5:7])
	day, ok3 := digits(s[8:10])
	hour, ok4 := digits(s[11:13])
	minute, ok5 := digits(s[14:16])
	sec, ok6 := digits(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 ||
		day > daysIn(time.Month(month), year) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	nsec := 0
	if frac := s[19 : len(s)-1]; frac != "" {
		if len(frac) < 2 || len(frac) > 10 || frac[0] != '.' {
			return time.Time{}, false
		}
		n, ok := digits(frac[1:])
		if !ok {
			return time.Time{}, false
		}
		for range 10 - len(frac) {
			n *= 10
		}
		nsec = n
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), true
}

// digits returns the value of s, which must be decimal digits only.
func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// daysIn returns the number of days of month in year.
func daysIn(month time.Month, year int) int {
	if month == time.February {
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	}
	return 30 + int((month+month/8)%2)
}

// parseLSN parses an LSN as capture.ParseLSN does ("16/B374D848": one to
// eight hexadecimal digits on each side), without its error.
func parseLSN(s string) (capture.LSN, bool) {
	var hi, lo uint64
	n, half := 0, &hi
	for i := 0; i < len(s); i++ {
		c := s[i]
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case c == '/' && half == &hi && n > 0:
			n, half = 0, &lo
			continue
		default:
			return 0, false
		}
		if n++; n > 8 {
			return 0, false
		}
		*half = *half<<4 | uint64(d)
	}
	if half != &lo || n == 0 {
		return 0, false
	}
	return capture.LSN(hi<<32 | lo), true
}
