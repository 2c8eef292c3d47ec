package pipeline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cdcflow/cdcflow/capture"
)

// envelopeFuzzArgs are the arguments of FuzzEnvelopeRoundTrip for e.
func envelopeFuzzArgs(e Event, binary bool) []any {
	lsn, index, ordinal, _ := ParsePosition(string(e.Position))
	var micros int64
	if !e.Time.IsZero() {
		micros = e.Time.UnixMicro()
	}
	return []any{e.ID, e.Source, e.Type, e.Version, e.AggregateType, e.AggregateID,
		uint64(lsn), index, ordinal, e.XID, micros, e.Epoch, []byte(e.Data), uint8(e.Control), e.DeadLetter, binary}
}

// FuzzEnvelopeRoundTrip encodes fuzzed events in both modes and checks that
// EncodeEvent fails exactly on invalid events and that DecodeRecord gives back
// every valid one (its data compacted, its time in UTC and truncated to
// microseconds). It then decodes the fuzzed data as a record value with
// fuzzed headers, which must not panic. The seed corpus in
// testdata/fuzz/FuzzEnvelopeRoundTrip holds the golden events in both modes
// (-update rewrites those files) and a few inputs found by fuzzing.
func FuzzEnvelopeRoundTrip(f *testing.F) {
	dir := filepath.Join("testdata", "fuzz", "FuzzEnvelopeRoundTrip")
	if *update {
		for name, e := range envelopeEvents() {
			for _, binary := range []bool{false, true} {
				writeFuzzSeed(f, dir, fmt.Sprintf("%s-%v", name, binary), envelopeFuzzArgs(e, binary))
			}
		}
	}
	f.Fuzz(func(t *testing.T, id, source, typ string, version int, aggType, aggID string,
		lsn uint64, index uint32, ordinal uint16, xid uint32, micros int64, epoch uint64,
		data []byte, control uint8, deadLetter, binary bool) {
		e := Event{
			ID: id, Source: source, Type: typ, Version: version,
			AggregateType: aggType, AggregateID: aggID,
			Position: MakePosition(capture.LSN(lsn), index, ordinal),
			LSN:      capture.LSN(lsn), XID: xid, Epoch: epoch,
			Data: data, Control: ControlKind(control), DeadLetter: deadLetter,
		}
		if micros != 0 {
			e.Time = time.UnixMicro(micros).UTC()
		}
		mode := Structured
		if binary {
			mode = Binary
		}
		valid := id != "" && source != "" && typ != "" && version >= 0 && control <= uint8(ControlProgress) &&
			utf8.ValidString(id) && utf8.ValidString(source) && utf8.ValidString(typ) &&
			utf8.ValidString(aggType) && utf8.ValidString(aggID) &&
			(len(data) == 0 || json.Valid(data)) &&
			(e.Time.IsZero() || e.Time.Year() >= 1 && e.Time.Year() <= 9999)
		r, err := EncodeEvent(e, "t", mode)
		if (err == nil) != valid {
			t.Fatalf("EncodeEvent(%+v) error = %v; valid = %v", e, err, valid)
		}
		if err == nil {
			got, err := DecodeRecord(r)
			if err != nil {
				t.Fatalf("DecodeRecord(EncodeEvent(%+v)): %v\nrecord: %s", e, err, formatRecord(r))
			}
			if len(e.Data) > 0 {
				var buf bytes.Buffer
				_ = json.Compact(&buf, e.Data)
				e.Data = buf.Bytes()
			}
			if !eventsEqual(got, e) {
				t.Fatalf("DecodeRecord(EncodeEvent(e)) =\n%+v\nwant\n%+v", got, e)
			}
		}
		// Arbitrary records must not panic the decoder.
		for _, rec := range []Record{
			{Value: data, Headers: []Header{{Key: "content-type", Value: []byte(typ)}}},
			{Value: data, Headers: []Header{{Key: "content-type", Value: []byte(StructuredContentType)}}},
			{Key: []byte(aggID), Value: data, Headers: []Header{
				{Key: "ce_specversion", Value: []byte(id)}, {Key: "ce_" + source, Value: []byte(aggType)},
				{Key: "content-type", Value: []byte(typ)}, {Key: "ce_time", Value: data},
			}},
		} {
			_, _ = DecodeRecord(rec)
		}
	})
}

// writeFuzzSeed writes args as a seed corpus file in the format of go test
// fuzz v1.
func writeFuzzSeed(tb testing.TB, dir, name string, args []any) {
	tb.Helper()
	var b bytes.Buffer
	b.WriteString("go test fuzz v1\n")
	for _, a := range args {
		switch v := a.(type) {
		case string:
			fmt.Fprintf(&b, "string(%q)\n", v)
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case uint8:
			fmt.Fprintf(&b, "byte(%q)\n", v)
		default:
			fmt.Fprintf(&b, "%T(%v)\n", v, v)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
		tb.Fatal(err)
	}
}
