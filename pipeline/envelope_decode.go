package pipeline

import (
	"bytes"
	"encoding/binary"
	"math/bits"
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
// A new attribute is decoded by both paths once it is in the envelope
// struct (and fromEnvelope, to check it and set its Event field). Until it is
// also added here, records carrying it take the general path, which is
// correct but slow: a constant below (before nFields), a case in fieldOf and
// in envField, and an entry in members at the place where EncodeEvent writes
// it.

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
	ctSeen, isBinary := false, false
	var endLSN capture.LSN
	for _, h := range r.Headers {
		switch {
		case h.Key == HeaderEndLSN:
			n, ok := parseHex16(h.Value)
			if !ok {
				return Event{}, false // the general path's error
			}
			endLSN = capture.LSN(n)
		case len(h.Key) == len(headerContentType) && (h.Key == headerContentType || strings.EqualFold(h.Key, headerContentType)):
			if ctSeen {
				return Event{}, false // the general path's error
			}
			ct, ctSeen = h.Value, true
		case h.Key == headerPrefix+attrSpecVersion:
			isBinary = true
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
	case isBinary && (ctSeen && string(ct) == DataContentType || !ctSeen && len(r.Value) == 0):
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
		if !structured {
			// The binding carries datacontenttype in content-type, which
			// is DataContentType here.
			env.DataContentType = DataContentType
		}
	}
	e, err := fromEnvelope(&env, true)
	if err != nil || len(r.Key) > 0 && string(r.Key) != e.AggregateID || endLSN != 0 && endLSN < e.LSN {
		return Event{}, false // the general path's error
	}
	e.EndLSN = endLSN
	return e, true
}

// parseHex16 parses exactly 16 hexadecimal digits (either case), as
// strconv.ParseUint(s, 16, 64) does for such a string (HeaderEndLSN).
func parseHex16(b []byte) (uint64, bool) {
	if len(b) != 16 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			n = n<<4 | uint64(c-'0')
		case 'a' <= c && c <= 'f':
			n = n<<4 | uint64(c-'a'+10)
		case 'A' <= c && c <= 'F':
			n = n<<4 | uint64(c-'A'+10)
		default:
			return 0, false
		}
	}
	return n, true
}

// validJSON reports whether b is one JSON value, with white space around it
// allowed. It is stricter than json.Valid (it refuses invalid UTF-8 and
// nesting deeper than maxScanDepth), so that true means json.Valid too.
func validJSON(b []byte) bool {
	i := skipSpace(b, 0)
	if !scanValue(b, &i, 0) {
		return false
	}
	return skipSpace(b, i) == len(b)
}

// maxScanDepth is the deepest nesting of arrays and objects scanValue
// reads; deeper data takes the general path.
const maxScanDepth = 64

// skipSpace returns the index of the first byte of b from i that is not
// JSON white space.
func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scanValue reads the JSON value at b[*i] (no white space before it) and
// moves *i past it. It returns false when there is no valid value there
// (invalid UTF-8 in strings and nesting deeper than maxScanDepth included).
func scanValue(b []byte, i *int, depth int) bool {
	j := *i
	if j >= len(b) {
		return false
	}
	switch c := b[j]; {
	case c == '"':
		_, _, ok := scanString(b, i)
		return ok
	case c == '{' || c == '[':
		if depth >= maxScanDepth {
			return false
		}
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		j = skipSpace(b, j+1)
		if j < len(b) && b[j] == end {
			*i = j + 1
			return true
		}
		for {
			if c == '{' {
				if _, _, ok := scanString(b, &j); !ok {
					return false
				}
				if j = skipSpace(b, j); j >= len(b) || b[j] != ':' {
					return false
				}
				j = skipSpace(b, j+1)
			}
			if !scanValue(b, &j, depth+1) {
				return false
			}
			if j = skipSpace(b, j); j >= len(b) {
				return false
			}
			switch b[j] {
			case ',':
				j = skipSpace(b, j+1)
			case end:
				*i = j + 1
				return true
			default:
				return false
			}
		}
	case c == 't':
		return scanLiteral(b, i, "true")
	case c == 'f':
		return scanLiteral(b, i, "false")
	case c == 'n':
		return scanLiteral(b, i, "null")
	}
	return scanNumber(b, i)
}

// scanLiteral reads lit at b[*i].
func scanLiteral(b []byte, i *int, lit string) bool {
	if len(b)-*i < len(lit) || string(b[*i:*i+len(lit)]) != lit {
		return false
	}
	*i += len(lit)
	return true
}

// scanNumber reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at b[*i].
func scanNumber(b []byte, i *int) bool {
	j := *i
	digits := func() int {
		n := 0
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
			n++
		}
		return n
	}
	if j < len(b) && b[j] == '-' {
		j++
	}
	if j < len(b) && b[j] == '0' {
		j++
	} else if digits() == 0 {
		return false
	}
	if j < len(b) && b[j] == '.' {
		j++
		if digits() == 0 {
			return false
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		if digits() == 0 {
			return false
		}
	}
	*i = j
	return true
}

// fData stands for the data member in members.
const fData = nFields

// members are the members of a structured CloudEvent in the order
// EncodeEvent writes them, each with its quoted name and colon: scanStructured
// expects them in turn, and reads any other name in full.
var members = [...]struct {
	prefix string
	f      int
}{
	{`"specversion":`, fSpecVersion}, {`"id":`, fID}, {`"source":`, fSource}, {`"type":`, fType},
	{`"subject":`, fSubject}, {`"time":`, fTime}, {`"datacontenttype":`, fDataContentType},
	{`"dataschema":`, fDataSchema}, {`"sequence":`, fSequence}, {`"partitionkey":`, fPartitionKey},
	{`"pglsn":`, fPgLSN}, {`"pgxid":`, fPgXID}, {`"aggregatetype":`, fAggregateType}, {`"epoch":`, fEpoch},
	{`"control":`, fControl}, {`"deadletter":`, fDeadLetter}, {`"data":`, fData},
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
	i := 1
	next := 0 // the index in members of the next member EncodeEvent may have written
	for {
		f := -1
		for k := next; k < len(members); k++ {
			if m := members[k].prefix; len(value)-i >= len(m) && string(value[i:i+len(m)]) == m {
				f, next = members[k].f, k+1
				i += len(m)
				break
			}
		}
		if f < 0 {
			key, escaped, ok := scanString(value, &i)
			if !ok || escaped || i >= len(value) || value[i] != ':' {
				return nil, false
			}
			i++
			if f = fieldOf(key); string(key) == "data" {
				f = fData
			}
		}
		if f == fData {
			start := i
			if data != nil || !scanValue(value, &i, 0) {
				return nil, false
			}
			data = value[start:i]
		} else {
			if f < 0 {
				return nil, false
			}
			s, escaped, ok := scanString(value, &i)
			if !ok || !a.set(f, s, escaped) {
				return nil, false
			}
		}
		if i >= len(value) {
			return nil, false
		}
		switch value[i] {
		case ',':
			i++
		case '}':
			return data, i+1 == len(value)
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
// fastValidator.rawString accepts, eight bytes at a time where they are
// plain ASCII, which attribute values and most data mostly are.
func scanString(b []byte, i *int) (raw []byte, escaped, ok bool) {
	j := *i
	if j >= len(b) || b[j] != '"' {
		return nil, false, false
	}
	j++
	start := j
	for {
		if j+8 <= len(b) {
			m := specialBytes(binary.LittleEndian.Uint64(b[j:]))
			if m == 0 {
				j += 8
				continue
			}
			// The lowest flagged byte is the first special one.
			j += bits.TrailingZeros64(m) >> 3
		} else {
			for j < len(b) && plainByte[b[j]] {
				j++
			}
			if j >= len(b) {
				return nil, false, false
			}
		}
		switch c := b[j]; {
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
}

// specialBytes is not zero when one of the eight bytes of x is not
// plainByte: a quote, a backslash, a control character or a byte of a
// non-ASCII character. When every byte is ASCII, subtracting 0x20 from each
// (or 1 from each byte of x^q, zero where a byte is q) borrows, and sets the
// high bit of the result, exactly when some byte is below 0x20 (is q); the
// high bit of the lowest such byte is then set whatever the bytes above it.
func specialBytes(x uint64) uint64 {
	const ones, high = 0x0101010101010101, 0x8080808080808080
	quote := x ^ (ones * '"')
	backslash := x ^ (ones * '\\')
	return ((x - ones*0x20) | (quote - ones) | (backslash - ones) | x) & high
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

// strings sets env's attributes from a, as copies, unescaped: the
// sequence, the subject and a partitionkey that differs from it in strings
// of their own (consumers keep positions and aggregate ids, in their state
// and as map keys, and should not keep more bytes than those), the others in
// one shared string (but for constants).
func (a *rawAttrs) strings(env *envelope) {
	n := 0
	for f := range nFields {
		n += len(a.v[f]) // unescaping only shortens
	}
	// The Builder's String does not copy its buffer: one allocation.
	var sb strings.Builder
	sb.Grow(n)
	var ends [nFields]int
	for f := range nFields {
		switch v := a.v[f]; {
		case f == fSubject || f == fPartitionKey || f == fSequence:
		case f == fSpecVersion && string(v) == specVersion:
			env.SpecVersion = specVersion // constants: no copy
		case f == fDataContentType && string(v) == DataContentType:
			env.DataContentType = DataContentType
		case a.escaped&(1<<f) != 0:
			sb.Write(appendUnescaped(nil, v))
		default:
			sb.Write(v)
		}
		ends[f] = sb.Len()
	}
	shared := sb.String()
	start := 0
	for f := range nFields {
		if ends[f] > start {
			*envField(env, f) = shared[start:ends[f]]
		}
		start = ends[f]
	}
	if a.seen&(1<<fSequence) != 0 {
		env.Sequence = a.own(fSequence)
	}
	env.Subject = a.own(fSubject)
	if string(a.v[fPartitionKey]) == string(a.v[fSubject]) && a.escaped&(1<<fPartitionKey) == a.escaped&(1<<fSubject) {
		env.PartitionKey = env.Subject
	} else {
		env.PartitionKey = a.own(fPartitionKey)
	}
}

// own returns attribute f, unescaped, in a string of its own.
func (a *rawAttrs) own(f int) string {
	if a.escaped&(1<<f) != 0 {
		return string(appendUnescaped(nil, a.v[f]))
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
