package pipeline

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/capture"
)

// decodeSampleEvents are events of every kind as the mapper, the snapshot,
// the progress records and the rule engine make them, and events whose
// strings need escaping.
func decodeSampleEvents(tb testing.TB) []Event {
	tb.Helper()
	var evs []Event
	for _, e := range envelopeEvents() {
		evs = append(evs, e)
	}
	for _, path := range []string{"testdata/golden/orders/stream.json", "testdata/golden/gather/stream.json", "testdata/golden/types/stream.json"} {
		s := readStream(tb, path)
		m := loadMapping(tb, s.mappingPath, LoadOptions{Timezone: s.timezone})
		mp, err := NewMapper(m, MapperOptions{Validate: m.schemas != nil})
		if err != nil {
			tb.Fatal(err)
		}
		feed(tb, mp, s, func(e Event) { evs = append(evs, e) })
	}
	src := capture.Source{SystemID: "7301234567890123456", Timeline: 2, Database: "Shop \"EU\""}.URI()
	at := time.Date(2026, 11, 23, 10, 15, 0, 0, time.UTC)
	evs = append(evs, NewProgress(src, "order", 0x16B374D848, at))
	// A derived event as the rule engine writes it: its own type, an
	// aggregate of the rule's key, an ordinal of its own.
	derived := MakePosition(0x16B374D848, 7, 0x8000)
	evs = append(evs, Event{
		ID: EventID(src, derived), Source: src, Type: "OrderOverdue", Version: 1,
		AggregateType: "order", AggregateID: "42", Position: derived, LSN: 0x16B374D848,
		Time: at.Add(24 * time.Hour), Data: json.RawMessage(`{"order_id":42,"promised_at":"2026-11-23T10:15:00.000000Z"}`),
	})
	for k := ControlSnapshotBegin; k <= ControlProgress; k++ {
		pos := MakePosition(0x16B0000000-1, uint32(k), 0)
		evs = append(evs, Event{
			ID: EventID(src, pos), Source: src, Type: controlType(k), Version: 1, AggregateType: "Order Line",
			Position: pos, LSN: 0x16B0000000 - 1, Time: at, Epoch: 4, Control: k,
			Data: json.RawMessage(`{"epoch":4,"tables":["public.\"Order Lines\""]}`),
		})
	}
	// Strings that need escaping, non-ASCII, composite keys, odd data.
	for i, id := range []string{`public."Order Items"`, "a\\b", "line\nbreak\t\x01", "\u2028\u2029", "café €😀", `["k",1]`, "<&>", "\ufffd"} {
		pos := MakePosition(capture.LSN(i+1)<<32, uint32(i), 0)
		evs = append(evs, Event{
			ID: EventID(src, pos), Source: src, Type: "Order\"Typ€" + fmt.Sprint(i), Version: i,
			AggregateType: "order " + id, AggregateID: id, Position: pos, LSN: capture.LSN(i + 1),
			XID: uint32(i * 1000), Time: at.Add(time.Duration(i) * 1234567 * time.Nanosecond), Epoch: uint64(i),
			Data:       json.RawMessage(fmt.Sprintf(`{"k":%s,"l":[1,-2.5e3,null,true,{}],"s":"\u00e9\ud83d\ude00\/"}`, jsonString(id))),
			DeadLetter: i%3 == 0,
		})
	}
	evs = append(evs, Event{ID: "x", Source: "s", Type: "T", Data: json.RawMessage(` [ 1 , "a b" ] `)})
	return evs
}

// jsonString returns s as a JSON string.
func jsonString(s string) []byte {
	b, _ := json.Marshal(s)
	return b
}

// encodeAll encodes evs in both modes.
func encodeAll(tb testing.TB, evs []Event) []Record {
	tb.Helper()
	var rs []Record
	for _, e := range evs {
		for _, mode := range []EnvelopeMode{Structured, Binary} {
			r, err := EncodeEvent(e, "t", mode)
			if err != nil {
				tb.Fatalf("EncodeEvent(%+v, %s): %v", e, mode, err)
			}
			rs = append(rs, r)
		}
	}
	return rs
}

// headerText renders headers as FuzzDecodeRecordFast reads them.
func headerText(hs []Header) string {
	var b strings.Builder
	for _, h := range hs {
		fmt.Fprintf(&b, "%s:%s\n", h.Key, h.Value)
	}
	return b.String()
}

// parseHeaderText reads headers written by headerText: one a line, the key
// up to the first colon.
func parseHeaderText(s string) []Header {
	var hs []Header
	for line := range strings.SplitSeq(s, "\n") {
		if line == "" {
			continue
		}
		k, v, _ := strings.Cut(line, ":")
		hs = append(hs, Header{Key: k, Value: []byte(v)})
	}
	return hs
}

// checkFastDecode compares the fast path with the reference path on r, and
// DecodeRecord with the reference path. It returns whether the fast path
// decoded r.
func checkFastDecode(t *testing.T, r Record) bool {
	t.Helper()
	want, wantErr := decodeRecordReference(r)
	// The fast path reads a private copy of the record, overwritten
	// afterwards: the Event must not alias it.
	cp := Record{Key: bytes.Clone(r.Key), Value: bytes.Clone(r.Value)}
	for _, h := range r.Headers {
		cp.Headers = append(cp.Headers, Header{Key: h.Key, Value: bytes.Clone(h.Value)})
	}
	got, ok := decodeRecordFast(cp)
	clear(cp.Key)
	clear(cp.Value)
	for _, h := range cp.Headers {
		clear(h.Value)
	}
	if ok {
		if wantErr != nil {
			t.Fatalf("decodeRecordFast(%s) = %+v; the reference path fails: %v", formatRecord(r), got, wantErr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decodeRecordFast(%s) =\n%#v\nthe reference path gives\n%#v", formatRecord(r), got, want)
		}
	}
	e, err := DecodeRecord(r)
	switch {
	case (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error():
		t.Fatalf("DecodeRecord(%s) error = %v; the reference path's: %v", formatRecord(r), err, wantErr)
	case !reflect.DeepEqual(e, want):
		t.Fatalf("DecodeRecord(%s) =\n%#v\nthe reference path gives\n%#v", formatRecord(r), e, want)
	}
	return ok
}

// TestDecodeRecordFastTakesEncoderOutput: every record EncodeEvent writes
// (golden streams of the mapper, snapshot and control records, progress,
// dead letters, derived events, escapes) takes the fast path, in both modes,
// and decodes to what the reference path gives.
func TestDecodeRecordFastTakesEncoderOutput(t *testing.T) {
	rs := encodeAll(t, decodeSampleEvents(t))
	for _, r := range rs {
		if !checkFastDecode(t, r) {
			t.Errorf("decodeRecordFast did not take a record EncodeEvent wrote:\n%s", formatRecord(r))
		}
	}
}

// TestDecodeRecordFastEdges checks records the fast path must leave to the
// reference path (which then decodes them or gives its error) and records
// it must take, and that both paths agree on all of them.
func TestDecodeRecordFastEdges(t *testing.T) {
	e := envelopeEvents()["domain"]
	s, err := EncodeEvent(e, "t", Structured)
	if err != nil {
		t.Fatal(err)
	}
	b, err := EncodeEvent(e, "t", Binary)
	if err != nil {
		t.Fatal(err)
	}
	v := string(s.Value)
	structured := func(value string) Record {
		return Record{Key: s.Key, Value: []byte(value), Headers: s.Headers}
	}
	// plain is a structured record without key.
	plain := func(value string) Record {
		return Record{Value: []byte(value), Headers: s.Headers}
	}
	// replace returns the structured record with old replaced by new in its value.
	replace := func(old, new string) Record {
		if !strings.Contains(v, old) {
			t.Fatalf("%q is not in %s", old, v)
		}
		return structured(strings.Replace(v, old, new, 1))
	}
	withHeaders := func(edit func([]Header) []Header) Record {
		r := b
		r.Headers = edit(append([]Header(nil), b.Headers...))
		return r
	}
	ct := func(value string) []Header { return []Header{{Key: "content-type", Value: []byte(value)}} }
	tests := []struct {
		name string
		r    Record
		fast bool // the fast path takes it
	}{
		{"structured", s, true},
		{"binary", b, true},
		{"end LSN", Record{Key: s.Key, Value: s.Value, Headers: append(slices.Clip(s.Headers), Header{Key: HeaderEndLSN, Value: []byte("00000016B374D900")})}, true},
		{"end LSN in lower case", Record{Key: s.Key, Value: s.Value, Headers: append(slices.Clip(s.Headers), Header{Key: HeaderEndLSN, Value: []byte("00000016b374d900")})}, true},
		{"binary end LSN", Record{Key: b.Key, Value: b.Value, Headers: append(slices.Clip(b.Headers), Header{Key: HeaderEndLSN, Value: []byte("00000016B374D848")})}, true},
		{"end LSN before the commit", Record{Key: s.Key, Value: s.Value, Headers: append(slices.Clip(s.Headers), Header{Key: HeaderEndLSN, Value: []byte("0000000000000001")})}, false},
		{"end LSN short", Record{Key: s.Key, Value: s.Value, Headers: append(slices.Clip(s.Headers), Header{Key: HeaderEndLSN, Value: []byte("16B374D900")})}, false},
		{"end LSN not hex", Record{Key: s.Key, Value: s.Value, Headers: append(slices.Clip(s.Headers), Header{Key: HeaderEndLSN, Value: []byte("00000016B374D90g")})}, false},
		{"no key", Record{Value: s.Value, Headers: s.Headers}, true},
		{"content-type without parameters", Record{Key: s.Key, Value: s.Value, Headers: ct("application/cloudevents+json")}, true},
		{"Content-Type", Record{Key: s.Key, Value: s.Value, Headers: []Header{{Key: "Content-Type", Value: []byte(StructuredContentType)}}}, true},
		{"other headers", Record{Key: s.Key, Value: s.Value, Headers: append(ct(StructuredContentType), Header{Key: "traceparent", Value: []byte("00-x")})}, true},
		{"members reordered", plain(`{"type":"T","id":"1","data":{"a":1},"source":"s","specversion":"1.0"}`), true},
		{"escaped attributes", replace(`"subject":"42"`, `"subject":"4\u0032"`), true}, // the partitionkey and the key "42" match it
		{"escaped subject and key", Record{Key: []byte("a\"b"), Value: []byte(`{"specversion":"1.0","id":"1","source":"s","type":"T","subject":"a\"b","partitionkey":"a\u0022b"}`), Headers: s.Headers}, true},
		{"surrogate pair", plain(`{"specversion":"1.0","id":"\ud83d\ude00","source":"s","type":"T"}`), true},
		{"lone surrogate", plain(`{"specversion":"1.0","id":"\ud83d\u0041","source":"s\udc00","type":"T\ud800"}`), true},
		{"data null", plain(`{"specversion":"1.0","id":"1","source":"s","type":"T","data":null}`), true},
		{"data with white space", plain(`{"specversion":"1.0","id":"1","source":"s","type":"T","data":{ "a" : [1, 2] }}`), true},
		{"no subject, partitionkey", plain(`{"specversion":"1.0","id":"1","source":"s","type":"T","partitionkey":"k"}`), true},
		{"datacontenttype with parameters", replace(`"datacontenttype":"application/json"`, `"datacontenttype":"application/json; charset=utf-8"`), true}, // parsed by mime, as before

		// Left to the reference path, which decodes them.
		{"unknown extension", replace(`"pgxid"`, `"pgendlsn":"16/B374D900","pgxid"`), false},
		{"upper-case name", replace(`"pgxid"`, `"PGXID"`), false},
		{"escaped name", replace(`"pgxid"`, `"pg\u0078id"`), false},
		{"duplicate", replace(`"pgxid":"4242"`, `"pgxid":"1","pgxid":"4242"`), false},
		{"duplicate by case", replace(`"pgxid":"4242"`, `"pgxid":"4242","PgXid":"4242"`), false},
		{"white space", structured(strings.ReplaceAll(v, `,"`, `, "`)), false},
		{"white space before data", replace(`"data":`, `"data": `), false},
		{"null attribute", replace(`"pgxid":"4242"`, `"pgxid":null`), false},
		{"invalid UTF-8 attribute", replace(`"source":"`, "\"source\":\"\xff"), false},
		{"invalid UTF-8 data", replace(`"note":"`, "\"note\":\"\xff"), false},
		{"trailing space", structured(v + " "), false},
		{"binary content-type with parameters", withHeaders(func(hs []Header) []Header {
			for i := range hs {
				if hs[i].Key == "content-type" {
					hs[i].Value = []byte("application/json; charset=utf-8")
				}
			}
			return hs
		}), false},
		{"binary unknown extension", withHeaders(func(hs []Header) []Header {
			return append(hs, Header{Key: "ce_pgendlsn", Value: []byte("16/B374D900")})
		}), false},
		{"binary invalid UTF-8 data", Record{Key: b.Key, Value: []byte("\"\xff\""), Headers: b.Headers}, false},

		// Refused, with the reference path's errors.
		{"number attribute", replace(`"pgxid":"4242"`, `"pgxid":4242`), false},
		{"key differs", Record{Key: []byte("43"), Value: s.Value, Headers: s.Headers}, false},
		{"partitionkey differs", replace(`"partitionkey":"42"`, `"partitionkey":"43"`), false},
		{"specversion", replace(`"specversion":"1.0"`, `"specversion":"1.1"`), false},
		{"bad data", replace(`"data":{`, `"data":{,`), false},
		{"trailing data", structured(v + "x"), false},
		{"two objects", structured(v + v), false},
		{"bad time", replace(`"time":"2026`, `"time":"0026-13`), false},
		{"dataschema", replace(`OrderPromised:v2"`, `OrderPromised:v02"`), false},
		{"data_base64", replace(`"pgxid"`, `"data_base64":"AAA=","pgxid"`), false},
		{"duplicate content-type", Record{Key: s.Key, Value: s.Value, Headers: append(ct(StructuredContentType), ct(StructuredContentType)...)}, false},
		{"binary duplicate", withHeaders(func(hs []Header) []Header { return append(hs, Header{Key: "ce_id", Value: []byte("y")}) }), false},
		{"binary datacontenttype header", withHeaders(func(hs []Header) []Header {
			return append(hs, Header{Key: "ce_datacontenttype", Value: []byte(DataContentType)})
		}), false},
		{"binary no content-type", withHeaders(func(hs []Header) []Header { return hs[:len(hs)-1] }), false},
		{"empty object", plain(`{}`), false},
		{"not an object", plain(`null`), false},
		{"empty", plain(``), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := checkFastDecode(t, tt.r); got != tt.fast {
				t.Errorf("decodeRecordFast took the record: %v; want %v\n%s", got, tt.fast, formatRecord(tt.r))
			}
		})
	}
}

// TestAppendUnescaped compares the unescaping of JSON strings with
// encoding/json's.
func TestAppendUnescaped(t *testing.T) {
	for _, s := range []string{``, `plain`, `\"\\\/\b\f\n\r\t`, `\u0000\u001f\u00e9\u20ac\uFFFD`, `\ud83d\ude00`, `\ud83d`, `\ud83dx`,
		`\ude00\ud83d`, `\ud83d\u0041`, `\ud83d\ud83d\ude00`, `\udbff\udfff`, `a\u2028b`, `é€😀`, `x\\u0041`} {
		v := fastValidator{b: []byte(`"` + s + `"`)}
		raw, _, ok := v.rawString()
		if !ok {
			t.Fatalf("rawString(%q) refused it", s)
		}
		var want string
		if err := json.Unmarshal([]byte(`"`+s+`"`), &want); err != nil {
			t.Fatal(err)
		}
		if got := appendUnescaped([]byte("p"), raw); string(got) != "p"+want {
			t.Errorf("appendUnescaped(%q) = %q; encoding/json gives %q", s, got[1:], want)
		}
	}
}

// FuzzDecodeRecordFast checks on arbitrary records that the fast path,
// when it takes a record, gives exactly the reference path's Event (and the
// reference path no error), without aliasing the record, and that
// DecodeRecord gives exactly the reference path's Event or error. The seeds
// are records EncodeEvent writes in both modes (see decodeSampleEvents) and
// edited ones; headers are "key:value" lines.
func FuzzDecodeRecordFast(f *testing.F) {
	for _, r := range encodeAll(f, decodeSampleEvents(f)) {
		f.Add(r.Key, r.Value, headerText(r.Headers))
	}
	sct := "content-type:" + StructuredContentType + "\n"
	f.Add([]byte("k"), []byte(`{"specversion":"1.0","id":"\ud83d\u0041","source":"s","type":"T","subject":"k","PartitionKey":"k","data":null}`), sct)
	f.Add([]byte(nil), []byte(`{"specversion":"1.0","id":"1","source":"s","type":"T","id":"2","comexampleext":"x","data":{ "a" : [1] }}`), sct)
	f.Add([]byte(nil), []byte(`{"specversion":"1.0", "id":"1","source":"s","type":"T","time":"2026-11-23T10:15:00+01:00","datacontenttype":"application/json; charset=utf-8","data":1}`), sct)
	f.Add([]byte(nil), []byte(`[1]`), "ce_specversion:1.0\nce_id:1\nce_source:s\nce_type:T\nContent-Type:application/json\n")
	f.Fuzz(func(t *testing.T, key, value []byte, headers string) {
		checkFastDecode(t, Record{Key: key, Value: value, Headers: parseHeaderText(headers)})
	})
}

// FuzzDecodeParsers checks the fast path's hand-written parsers of
// sequence, time and pglsn against the general ones: whatever they accept,
// the general ones accept with the same value.
func FuzzDecodeParsers(f *testing.F) {
	for _, s := range []string{"00000016B374D848-00000003-0001", "00000016b374d848-00000003-0001", "0000000000000000-00000000-0000",
		"2026-11-23T10:15:00.123456Z", "2026-11-23T10:15:00Z", "2024-02-29T23:59:59.999999999Z", "2023-02-29T00:00:00Z",
		"0000-01-01T00:00:00.1Z", "9999-12-31T23:59:59.0000000000Z", "2026-11-23T10:15:60Z", "2026-11-23T10:15:00.Z",
		"2026-11-23t10:15:00z", "2026-11-23T10:15:00+01:00", "16/B374D848", "0/0", "ffffffff/FFFFFFFF", "1/", "/1", "123456789/0", "1//2",
		` {"a" : [1, -2.5e+3, "x\u00e9y", null, true, false, {}]} `, `{"a":1,}`, `01`, `1.`, `"\q"`, "\"\xff\"", `[[[]]]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if validPosition(s) {
			if _, _, _, err := ParsePosition(s); err != nil {
				t.Fatalf("validPosition(%q) = true; ParsePosition: %v", s, err)
			}
		}
		if got, ok := parseTimeUTC(s); ok {
			want, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				t.Fatalf("parseTimeUTC(%q) = %v; time.Parse: %v", s, got, err)
			}
			if want = want.UTC(); got != want {
				t.Fatalf("parseTimeUTC(%q) = %#v; time.Parse gives %#v", s, got, want)
			}
		}
		if validJSON([]byte(s)) && !json.Valid([]byte(s)) {
			t.Fatalf("validJSON(%q) = true; json.Valid = false", s)
		}
		if got, ok := parseLSN(s); ok {
			want, err := capture.ParseLSN(s)
			if err != nil || got != want {
				t.Fatalf("parseLSN(%q) = %v; capture.ParseLSN gives %v, %v", s, got, want, err)
			}
		}
	})
}

// TestDecodeParsersTakeUsualForms: the hand-written parsers take the forms
// EncodeEvent writes (else the fast path would be slow, not wrong).
func TestDecodeParsersTakeUsualForms(t *testing.T) {
	for _, s := range []string{"00000016B374D848-00000003-0001", string(MakePosition(^capture.LSN(0), ^uint32(0), ^uint16(0)))} {
		if !validPosition(s) {
			t.Errorf("validPosition(%q) = false", s)
		}
	}
	for _, tm := range []time.Time{time.Date(2026, 11, 23, 10, 15, 0, 123456000, time.UTC), time.Date(2024, 2, 29, 23, 59, 59, 0, time.UTC), time.Date(1, 1, 1, 0, 0, 0, 1000, time.UTC)} {
		s := string(appendTime(nil, tm))
		if got, ok := parseTimeUTC(s); !ok || got != tm {
			t.Errorf("parseTimeUTC(%q) = %v, %v; want %v", s, got, ok, tm)
		}
	}
	for _, lsn := range []capture.LSN{0, 1, 0x16B374D848, ^capture.LSN(0)} {
		s := string(appendLSN(nil, lsn))
		if got, ok := parseLSN(s); !ok || got != lsn {
			t.Errorf("parseLSN(%q) = %v, %v; want %v", s, got, ok, lsn)
		}
	}
}

// TestValidJSON compares validJSON with json.Valid: they agree on valid
// UTF-8 of shallow nesting; validJSON refuses more.
func TestValidJSON(t *testing.T) {
	deepest := strings.Repeat("[", maxScanDepth) + strings.Repeat("]", maxScanDepth)
	deep := "[" + deepest + "]"
	for _, s := range []string{`{}`, `[]`, `{"a":1}`, ` {"a" : [1, 2.5e3, "x y", null, true, false, {}]} `, `"\u00e9\n"`, `-0.5E-7`, `0`,
		`{"a":1,}`, `[1,]`, `{"a"}`, `{1:2}`, `01`, `1.`, `-`, `.5`, `1e`, `"\x01"`, `"\q"`, `"\u12"`, `{"a":"b"}x`, ``, ` `, `nul`, `tru`, `[1 2]`,
		`{"a":1 "b":2}`, "\"a\tb\"", "\"\x7f\"", "\"é€😀\"", deepest} {
		if got, want := validJSON([]byte(s)), json.Valid([]byte(s)); got != want {
			t.Errorf("validJSON(%q) = %v; json.Valid = %v", s, got, want)
		}
	}
	for _, s := range []string{"\"\xff\"", "\"\xed\xa0\x80\"", deep} {
		if validJSON([]byte(s)) {
			t.Errorf("validJSON(%q) = true; want false (left to the general path)", s)
		}
	}
}

// TestSpecialBytes checks the eight-byte test of scanString against
// plainByte: for every byte in every lane among plain neighbours, and for
// random words, which byte it flags first.
func TestSpecialBytes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		var b [8]byte
		for k := range b {
			// Mostly plain bytes, some special ones anywhere.
			if rng.IntN(4) == 0 {
				b[k] = byte(rng.IntN(256))
			} else {
				b[k] = byte(0x20 + rng.IntN(0x60))
			}
		}
		first := 8
		for k := range b {
			if !plainByte[b[k]] {
				first = k
				break
			}
		}
		got := 8
		if m := specialBytes(binary.LittleEndian.Uint64(b[:])); m != 0 {
			got = bits.TrailingZeros64(m) >> 3
		}
		if got != first {
			t.Fatalf("specialBytes(%q) flags byte %d first; want %d", b, got, first)
		}
	}
	for lane := range 8 {
		for c := range 256 {
			b := []byte("abcdefgh")
			b[lane] = byte(c)
			x := binary.LittleEndian.Uint64(b)
			m := specialBytes(x)
			if got := m != 0; got != !plainByte[c] {
				t.Errorf("specialBytes(%q) != 0 is %v; want %v", b, got, !plainByte[c])
			}
			if m != 0 && bits.TrailingZeros64(m)>>3 != lane {
				t.Errorf("specialBytes(%q) flags byte %d first; want %d", b, bits.TrailingZeros64(m)>>3, lane)
			}
		}
	}
}

// BenchmarkDecodeRecord measures DecodeRecord (the fast path) against the
// reference path (what DecodeRecord did before it had the fast path), in
// both modes, on a typical domain event and on a wide one (60 columns of
// text, numbers, a jsonb object and an array). The sub-benchmark names are
// key=value pairs, so that benchstat -col /path compares the paths.
func BenchmarkDecodeRecord(b *testing.B) {
	wide := envelopeEvents()["domain"]
	row := map[string]any{}
	for i := range 20 {
		row[fmt.Sprintf("text_%02d", i)] = fmt.Sprintf("value %d of a wide row, with some text in it", i)
		row[fmt.Sprintf("num_%02d", i)] = i * 1234567
		row[fmt.Sprintf("dec_%02d", i)] = fmt.Sprintf("%d.%04d", i*1000, i)
	}
	row["attrs"] = map[string]any{"color": "red", "sizes": []int{1, 2, 3}, "note": "café"}
	row["tags"] = []string{"a", "b", "c"}
	data, err := json.Marshal(row)
	if err != nil {
		b.Fatal(err)
	}
	wide.Data = data
	for _, ev := range []struct {
		name string
		e    Event
	}{{"domain", envelopeEvents()["domain"]}, {"wide", wide}} {
		for _, mode := range []EnvelopeMode{Structured, Binary} {
			r, err := EncodeEvent(ev.e, "cdcflow.order", mode)
			if err != nil {
				b.Fatal(err)
			}
			for _, p := range []struct {
				name   string
				decode func(Record) (Event, error)
			}{{"reference", decodeRecordReference}, {"fast", DecodeRecord}} {
				b.Run("event="+ev.name+"/mode="+mode.String()+"/path="+p.name, func(b *testing.B) {
					b.ReportAllocs()
					b.SetBytes(int64(len(r.Value)))
					for b.Loop() {
						if _, err := p.decode(r); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}
