package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	cebinding "github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/binding/format"
	"github.com/cloudevents/sdk-go/v2/binding/spec"
	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/cdcflow/cdcflow/capture"
)

// envelopeEvents are the events of the envelope golden files.
func envelopeEvents() map[string]Event {
	src := capture.Source{SystemID: "7301234567890123456", Timeline: 1, Database: "orders"}.URI()
	commit := time.Date(2026, 11, 23, 10, 15, 0, 123456000, time.UTC)
	pos := MakePosition(0x16B374D848, 3, 1)
	snap := SnapshotPosition(0x16B0000000-1, 41, 0)
	begin := MakePosition(0x16B0000000-1, 0, 0)
	return map[string]Event{
		"domain": {
			ID: EventID(src, pos), Source: src, Type: "OrderPromised", Version: 2,
			AggregateType: "order", AggregateID: "42", Position: pos,
			LSN: 0x16B374D848, XID: 4242, Time: commit,
			Data: json.RawMessage(`{"order_id":42,"total":"1234.5600","promised_at":"2026-11-23T10:15:00.123456Z","note":"<a&b>"}`),
		},
		"state": {
			ID: SnapshotEventID(src, 3, "public.orders", "42"), Source: src, Type: "OrderStateObserved", Version: 1,
			AggregateType: "order", AggregateID: "42", Position: snap,
			LSN: 0x16B0000000 - 1, XID: 900, Time: commit, Epoch: 3,
			Data: json.RawMessage(`{"order_id":42,"status":"P"}`),
		},
		"control": {
			ID: EventID(src, begin), Source: src, Type: SnapshotBeginType, Version: 1,
			AggregateType: "order", Position: begin, LSN: 0x16B0000000 - 1, Time: commit, Epoch: 3,
			Data: json.RawMessage(`{"epoch":3,"tables":["public.orders"]}`), Control: ControlSnapshotBegin,
		},
		"deadletter": {
			ID: EventID(src, pos), Source: src, Type: DeadLetterType, Version: 1,
			Position: pos, LSN: 0x16B374D848, XID: 4242, Time: commit,
			Data: json.RawMessage(`{"reason":"no rule","position":"00000016B374D848-00000003-0001","lsn":"16/B374D848"}`), DeadLetter: true,
		},
		"minimal": {ID: "x", Source: "s", Type: "T"},
	}
}

// formatRecord renders a record for a golden file.
func formatRecord(r Record) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "topic: %s\nkey: %q\nall_partitions: %v\ndead_letter: %v\n", r.Topic, r.Key, r.AllPartitions, r.DeadLetter)
	for _, h := range r.Headers {
		fmt.Fprintf(&b, "header %s: %s\n", h.Key, h.Value)
	}
	fmt.Fprintf(&b, "value:\n%s\n", r.Value)
	return b.Bytes()
}

// TestEnvelopeGolden encodes the sample events in both modes and compares the
// records with testdata/envelope/*.golden (rewritten with -update).
func TestEnvelopeGolden(t *testing.T) {
	for name, e := range envelopeEvents() {
		for _, mode := range []EnvelopeMode{Structured, Binary} {
			t.Run(name+"/"+mode.String(), func(t *testing.T) {
				r, err := EncodeEvent(e, "cdcflow.order", mode)
				if err != nil {
					t.Fatalf("EncodeEvent: %v", err)
				}
				got := formatRecord(r)
				path := filepath.Join("testdata", "envelope", name+"."+mode.String()+".golden")
				if *update {
					if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, got, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("read golden file (run with -update to create it): %v", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("EncodeEvent(%s, %s):\n%s\nwant:\n%s", name, mode, got, want)
				}
			})
		}
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	for name, e := range envelopeEvents() {
		for _, mode := range []EnvelopeMode{Structured, Binary} {
			r, err := EncodeEvent(e, "t", mode)
			if err != nil {
				t.Fatalf("EncodeEvent(%s, %s): %v", name, mode, err)
			}
			if r.AllPartitions != (e.Control != NotControl) || r.DeadLetter != e.DeadLetter {
				t.Errorf("EncodeEvent(%s, %s): AllPartitions %v, DeadLetter %v", name, mode, r.AllPartitions, r.DeadLetter)
			}
			if string(r.Key) != e.AggregateID || (e.AggregateID == "") != (r.Key == nil) {
				t.Errorf("EncodeEvent(%s, %s): key %q; want %q", name, mode, r.Key, e.AggregateID)
			}
			got, err := DecodeRecord(r)
			if err != nil {
				t.Fatalf("DecodeRecord(%s, %s): %v", name, mode, err)
			}
			if !eventsEqual(got, e) {
				t.Errorf("DecodeRecord(EncodeEvent(%s, %s)) =\n%+v\nwant\n%+v", name, mode, got, e)
			}
			// The decoded event owns its data.
			for i := range r.Value {
				r.Value[i] = ' '
			}
			if !eventsEqual(got, e) {
				t.Errorf("DecodeRecord(%s, %s): the event aliases the record value", name, mode)
			}
		}
	}
}

// TestEncodeEventType checks that every record carries its event's type,
// control records and dead letters included, in both modes, and that the
// type a sink counts by is the one a consumer decodes.
func TestEncodeEventType(t *testing.T) {
	want := map[string]string{
		"domain": "OrderPromised", "state": "OrderStateObserved", "control": SnapshotBeginType,
		"deadletter": DeadLetterType, "minimal": "T",
	}
	for name, e := range envelopeEvents() {
		for _, mode := range []EnvelopeMode{Structured, Binary} {
			r, err := EncodeEvent(e, "t", mode)
			if err != nil {
				t.Fatalf("EncodeEvent(%s, %s): %v", name, mode, err)
			}
			if r.Type != want[name] {
				t.Errorf("EncodeEvent(%s, %s).Type = %q; want %q", name, mode, r.Type, want[name])
			}
			got, err := DecodeRecord(r)
			if err != nil {
				t.Fatalf("DecodeRecord(%s, %s): %v", name, mode, err)
			}
			if got.Type != r.Type {
				t.Errorf("DecodeRecord(%s, %s).Type = %q; the record says %q", name, mode, got.Type, r.Type)
			}
		}
	}
	var deadLetters, controls int
	checkType := func(e Event) {
		r, err := EncodeEvent(e, "t", Binary)
		if err != nil {
			t.Fatalf("EncodeEvent(%s %s): %v", e.Type, e.Position, err)
		}
		if r.Type != e.Type || r.Type == "" {
			t.Errorf("EncodeEvent(%s %s).Type = %q", e.Type, e.Position, r.Type)
		}
		if r.DeadLetter {
			deadLetters++
			if r.Type != DeadLetterType {
				t.Errorf("dead letter %s: Type %q; want %q", e.Position, r.Type, DeadLetterType)
			}
		}
		if r.AllPartitions {
			controls++
		}
	}
	// The events of the golden streams, as the mapper builds them: domain
	// events, control records and dead letters.
	for _, path := range []string{"testdata/golden/orders/stream.json", "testdata/golden/gather/stream.json"} {
		s := readStream(t, path)
		m := loadMapping(t, s.mappingPath, LoadOptions{Timezone: s.timezone})
		mp, err := NewMapper(m, MapperOptions{Validate: true})
		if err != nil {
			t.Fatal(err)
		}
		feed(t, mp, s, checkType)
	}
	if deadLetters == 0 || controls == 0 {
		t.Fatalf("the golden streams gave %d dead letters and %d control records; want some of each", deadLetters, controls)
	}
}

// eventsEqual compares events, times by instant.
func eventsEqual(a, b Event) bool {
	if !a.Time.Equal(b.Time) {
		return false
	}
	a.Time, b.Time = time.Time{}, time.Time{}
	if len(a.Data) == 0 && len(b.Data) == 0 {
		a.Data, b.Data = nil, nil
	}
	return reflect.DeepEqual(a, b)
}

func TestEncodeEventNormalizes(t *testing.T) {
	e := envelopeEvents()["domain"]
	e.Time = time.Date(2026, 11, 23, 11, 15, 0, 123456789, time.FixedZone("CET", 3600))
	e.Data = json.RawMessage("{ \"a\" : [1, 2] }\n")
	for _, mode := range []EnvelopeMode{Structured, Binary} {
		r, err := EncodeEvent(e, "t", mode)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeRecord(r)
		if err != nil {
			t.Fatal(err)
		}
		if want := time.Date(2026, 11, 23, 10, 15, 0, 123456000, time.UTC); got.Time != want {
			t.Errorf("%s: time = %v; want %v (UTC, truncated to microseconds)", mode, got.Time, want)
		}
		if string(got.Data) != `{"a":[1,2]}` {
			t.Errorf("%s: data = %s; want it compacted", mode, got.Data)
		}
	}
}

func TestEncodeEventErrors(t *testing.T) {
	ok := envelopeEvents()["domain"]
	tests := []struct {
		name string
		edit func(*Event)
		mode EnvelopeMode
		want string
	}{
		{"no id", func(e *Event) { e.ID = "" }, Structured, "no id"},
		{"no source", func(e *Event) { e.Source = "" }, Binary, "no source"},
		{"no type", func(e *Event) { e.Type = "" }, Structured, "no type"},
		{"bad data", func(e *Event) { e.Data = json.RawMessage(`{"a":`) }, Binary, "data is not valid JSON"},
		{"negative version", func(e *Event) { e.Version = -1 }, Structured, "negative version"},
		{"control kind", func(e *Event) { e.Control = 9 }, Structured, "unknown control kind 9"},
		{"year", func(e *Event) { e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, Structured, "year outside"},
		{"mode", func(e *Event) {}, EnvelopeMode(7), "unknown envelope mode 7"},
	}
	for _, tt := range tests {
		e := ok
		tt.edit(&e)
		if r, err := EncodeEvent(e, "t", tt.mode); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: EncodeEvent = %s, %v; want an error containing %q", tt.name, r.Value, err, tt.want)
		}
	}
}

// TestDecodeRecordErrors edits valid records and checks that decoding names
// what is wrong.
func TestDecodeRecordErrors(t *testing.T) {
	e := envelopeEvents()["domain"]
	structured, err := EncodeEvent(e, "t", Structured)
	if err != nil {
		t.Fatal(err)
	}
	binary, err := EncodeEvent(e, "t", Binary)
	if err != nil {
		t.Fatal(err)
	}
	// withField returns the structured record with one field of its value replaced (nil: removed).
	withField := func(name string, v any) Record {
		var m map[string]any
		if err := json.Unmarshal(structured.Value, &m); err != nil {
			t.Fatal(err)
		}
		if v == nil {
			delete(m, name)
		} else {
			m[name] = v
		}
		r := structured
		r.Value, _ = json.Marshal(m)
		return r
	}
	// withHeader returns the binary record with one header replaced (nil: removed) or added.
	withHeader := func(key string, v []byte) Record {
		r := binary
		r.Headers = nil
		found := false
		for _, h := range binary.Headers {
			if h.Key == key {
				found = true
				if v == nil {
					continue
				}
				h.Value = v
			}
			r.Headers = append(r.Headers, h)
		}
		if !found {
			r.Headers = append(r.Headers, Header{Key: key, Value: v})
		}
		return r
	}
	tests := []struct {
		name string
		r    Record
		want string
	}{
		{"no headers", Record{Value: structured.Value}, "not a CloudEvent"},
		{"plain json", Record{Value: []byte(`{}`), Headers: []Header{{Key: "content-type", Value: []byte("application/json")}}}, "without ce_specversion"},
		{"bad content-type", Record{Headers: []Header{{Key: "content-type", Value: []byte(";;")}}}, "content-type"},
		{"not json", Record{Value: []byte(`{"id":`), Headers: structured.Headers}, "structured CloudEvent"},
		{"number attribute", withField("pgxid", 12), "pgxid"},
		{"specversion", withField("specversion", "0.3"), `specversion "0.3"`},
		{"no id", withField("id", nil), "no id"},
		{"no source", withField("source", ""), "no source"},
		{"no type", withField("type", nil), "no type"},
		{"time", withField("time", "yesterday"), `time "yesterday"`},
		{"dataschema type", withField("dataschema", "urn:cdcflow:schema:Other:v2"), "dataschema"},
		{"dataschema version", withField("dataschema", "urn:cdcflow:schema:OrderPromised:v02"), "not a positive integer"},
		{"sequence", withField("sequence", "16/B374D848"), "sequence"},
		{"pglsn", withField("pglsn", "16-B374D848"), "pglsn"},
		{"pgxid", withField("pgxid", "4294967296"), "pgxid"},
		{"epoch", withField("epoch", "-1"), "epoch"},
		{"control", withField("control", "snapshot"), `control "snapshot"`},
		{"deadletter", withField("deadletter", "yes"), "deadletter"},
		{"partitionkey", withField("partitionkey", "43"), "partitionkey"},
		{"datacontenttype", withField("datacontenttype", "text/plain"), "datacontenttype"},
		{"data_base64", withField("data_base64", "AAA="), "data_base64"},
		{"key", Record{Key: []byte("43"), Value: structured.Value, Headers: structured.Headers}, "record key"},
		{"binary specversion", withHeader("ce_specversion", []byte("2.0")), "specversion"},
		{"binary no id", withHeader("ce_id", nil), "no id"},
		{"binary duplicate", Record{Value: binary.Value, Headers: append(append([]Header{}, binary.Headers...), Header{Key: "ce_id", Value: []byte("y")})}, "duplicate header ce_id"},
		{"binary content-type", withHeader("content-type", []byte("text/plain")), "content-type"},
		{"binary no content-type", withHeader("content-type", nil), "content-type"},
		{"binary datacontenttype header", withHeader("ce_datacontenttype", []byte("application/json")), "ce_datacontenttype"},
		{"binary bad data", Record{Value: []byte(`{"a"`), Headers: binary.Headers}, "data is not valid JSON"},
		{"binary sequence", withHeader("ce_sequence", []byte("00000016b374d848-00000003-0001")), "sequence"},
	}
	for _, tt := range tests {
		got, err := DecodeRecord(tt.r)
		if err == nil {
			t.Errorf("%s: DecodeRecord = %+v; want an error containing %q", tt.name, got, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "decode record: ") {
			t.Errorf("%s: DecodeRecord error = %q; want it to contain %q", tt.name, err, tt.want)
		}
	}
}

// TestDecodeRecordForeign decodes records a CloudEvents SDK might write:
// unknown extensions are ignored, a missing subject falls back to the
// partitionkey, content-type parameters are accepted.
func TestDecodeRecordForeign(t *testing.T) {
	v := `{"specversion":"1.0","id":"1","source":"s","type":"T","partitionkey":"k","comexampleext":"x","time":"2026-11-23T10:15:00+01:00","datacontenttype":"application/json; charset=utf-8","data":null}`
	got, err := DecodeRecord(Record{Value: []byte(v), Headers: []Header{{Key: "Content-Type", Value: []byte("application/cloudevents+json")}}})
	if err != nil {
		t.Fatal(err)
	}
	want := Event{ID: "1", Source: "s", Type: "T", AggregateID: "k", Time: time.Date(2026, 11, 23, 9, 15, 0, 0, time.UTC), Data: json.RawMessage("null")}
	if !eventsEqual(got, want) {
		t.Errorf("DecodeRecord = %+v; want %+v", got, want)
	}
}

// sdkMessage is a Kafka record as a CloudEvents SDK cebinding.Message, read the
// way the SDK's Kafka protocol bindings read records: by content-type, ce_*
// headers mapped to attributes of spec version 1.0 and extensions.
type sdkMessage struct{ r Record }

func (m sdkMessage) header(key string) ([]byte, bool) {
	for _, h := range m.r.Headers {
		if strings.EqualFold(h.Key, key) {
			return h.Value, true
		}
	}
	return nil, false
}

func (m sdkMessage) ReadEncoding() cebinding.Encoding {
	if ct, ok := m.header("content-type"); ok && strings.HasPrefix(string(ct), "application/cloudevents") {
		return cebinding.EncodingStructured
	}
	if _, ok := m.header("ce_specversion"); ok {
		return cebinding.EncodingBinary
	}
	return cebinding.EncodingUnknown
}

func (m sdkMessage) ReadStructured(ctx context.Context, w cebinding.StructuredWriter) error {
	if m.ReadEncoding() != cebinding.EncodingStructured {
		return cebinding.ErrNotStructured
	}
	ct, _ := m.header("content-type")
	f := format.Lookup(string(ct))
	if f == nil {
		return fmt.Errorf("no CloudEvents format for %q", ct)
	}
	return w.SetStructuredEvent(ctx, f, bytes.NewReader(m.r.Value))
}

func (m sdkMessage) ReadBinary(ctx context.Context, w cebinding.BinaryWriter) error {
	if m.ReadEncoding() != cebinding.EncodingBinary {
		return cebinding.ErrNotBinary
	}
	versions := spec.WithPrefix("ce_")
	sv, _ := m.header("ce_specversion")
	version := versions.Version(string(sv))
	if version == nil {
		return fmt.Errorf("unknown spec version %q", sv)
	}
	if err := w.Start(ctx); err != nil {
		return err
	}
	for _, h := range m.r.Headers {
		var err error
		switch {
		case strings.EqualFold(h.Key, "content-type"):
			err = w.SetAttribute(version.AttributeFromKind(spec.DataContentType), string(h.Value))
		case strings.HasPrefix(h.Key, "ce_"):
			if a := version.Attribute(h.Key); a != nil {
				err = w.SetAttribute(a, string(h.Value))
			} else {
				err = w.SetExtension(strings.TrimPrefix(h.Key, "ce_"), string(h.Value))
			}
		}
		if err != nil {
			return err
		}
	}
	if len(m.r.Value) > 0 {
		if err := w.SetData(bytes.NewReader(m.r.Value)); err != nil {
			return err
		}
	}
	return w.End(ctx)
}

func (m sdkMessage) GetAttribute(k spec.Kind) (spec.Attribute, any) {
	sv, _ := m.header("ce_specversion")
	version := spec.WithPrefix("ce_").Version(string(sv))
	if version == nil {
		return nil, nil
	}
	a := version.AttributeFromKind(k)
	if a == nil {
		return nil, nil
	}
	key := a.PrefixedName()
	if k == spec.DataContentType {
		key = "content-type"
	}
	if v, ok := m.header(key); ok {
		return a, string(v)
	}
	return a, nil
}

func (m sdkMessage) GetExtension(name string) any {
	if v, ok := m.header("ce_" + name); ok {
		return string(v)
	}
	return nil
}

func (m sdkMessage) Finish(error) error { return nil }

// TestEnvelopeCloudEventsSDK has the CloudEvents Go SDK read our records, in
// both modes: through its binding package, and, for structured records, also
// by json.Unmarshal into event.Event. It must see valid events with the same
// attributes, extensions and data.
func TestEnvelopeCloudEventsSDK(t *testing.T) {
	for name, e := range envelopeEvents() {
		for _, mode := range []EnvelopeMode{Structured, Binary} {
			r, err := EncodeEvent(e, "t", mode)
			if err != nil {
				t.Fatal(err)
			}
			readers := map[string]func() (*event.Event, error){
				"binding": func() (*event.Event, error) { return cebinding.ToEvent(t.Context(), sdkMessage{r}) },
			}
			if mode == Structured {
				readers["json"] = func() (*event.Event, error) {
					var ce event.Event
					err := json.Unmarshal(r.Value, &ce)
					return &ce, err
				}
			}
			for reader, read := range readers {
				ce, err := read()
				if err != nil {
					t.Fatalf("%s/%s/%s: SDK read: %v", name, mode, reader, err)
				}
				if err := ce.Validate(); err != nil {
					t.Errorf("%s/%s/%s: SDK says invalid: %v", name, mode, reader, err)
				}
				checkSDKEvent(t, name+"/"+mode.String()+"/"+reader, ce, e)
			}
		}
	}
}

func checkSDKEvent(t *testing.T, name string, ce *event.Event, e Event) {
	t.Helper()
	check := func(attr string, got, want any) {
		t.Helper()
		if got != want {
			t.Errorf("%s: SDK %s = %v; want %v", name, attr, got, want)
		}
	}
	check("specversion", ce.SpecVersion(), "1.0")
	check("id", ce.ID(), e.ID)
	check("source", ce.Source(), e.Source)
	check("type", ce.Type(), e.Type)
	check("subject", ce.Subject(), e.AggregateID)
	check("time", ce.Time().UTC().Format(time.RFC3339Nano), e.Time.UTC().Format(time.RFC3339Nano))
	schema := ""
	if e.Version > 0 {
		schema = DataSchemaURI(e.Type, e.Version)
	}
	check("dataschema", ce.DataSchema(), schema)
	ext := ce.Extensions()
	str := func(name string) string {
		if v, ok := ext[name]; ok {
			return fmt.Sprint(v)
		}
		return ""
	}
	check("sequence", str("sequence"), string(e.Position))
	check("partitionkey", str("partitionkey"), e.AggregateID)
	check("aggregatetype", str("aggregatetype"), e.AggregateType)
	if e.LSN != 0 {
		check("pglsn", str("pglsn"), e.LSN.String())
	}
	if e.XID != 0 {
		check("pgxid", str("pgxid"), fmt.Sprint(e.XID))
	}
	if e.Epoch != 0 {
		check("epoch", str("epoch"), fmt.Sprint(e.Epoch))
	}
	if e.Control != NotControl {
		check("control", str("control"), controlNames[e.Control])
	}
	if e.DeadLetter {
		check("deadletter", str("deadletter"), "true")
	}
	if len(e.Data) > 0 {
		check("datacontenttype", ce.DataContentType(), DataContentType)
		var got, want any
		if err := json.Unmarshal(ce.Data(), &got); err != nil {
			t.Errorf("%s: SDK data %s: %v", name, ce.Data(), err)
		}
		_ = json.Unmarshal(e.Data, &want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: SDK data = %s; want %s", name, ce.Data(), e.Data)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	e := envelopeEvents()["domain"]
	for _, mode := range []EnvelopeMode{Structured, Binary} {
		b.Run(mode.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := EncodeEvent(e, "cdcflow.order", mode); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	e := envelopeEvents()["domain"]
	for _, mode := range []EnvelopeMode{Structured, Binary} {
		r, err := EncodeEvent(e, "cdcflow.order", mode)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(mode.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeRecord(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// structuredReference is the structured value as encoding/json writes the
// envelope, with HTML escaping off: what EncodeEvent wrote before it appended
// the JSON itself, and still the definition of its output.
func structuredReference(t testing.TB, e Event) []byte {
	t.Helper()
	env, err := toEnvelope(e)
	if err != nil {
		t.Fatalf("toEnvelope(%+v): %v", e, err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(env); err != nil {
		t.Fatalf("encoding/json: %v", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// TestStructuredMatchesEncodingJSON checks that the structured value is byte
// for byte what encoding/json writes for the envelope: for the sample events,
// the events of the golden streams and random events whose strings hold
// quotes, control characters, U+2028, HTML characters and invalid UTF-8.
func TestStructuredMatchesEncodingJSON(t *testing.T) {
	check := func(e Event) {
		t.Helper()
		r, err := EncodeEvent(e, "t", Structured)
		if err != nil {
			t.Fatalf("EncodeEvent(%+v): %v", e, err)
		}
		if want := structuredReference(t, e); !bytes.Equal(r.Value, want) {
			t.Fatalf("EncodeEvent(%+v):\n%s\nencoding/json:\n%s", e, r.Value, want)
		}
		if string(r.Key) != e.AggregateID || len(r.Headers) != 1 || string(r.Headers[0].Value) != StructuredContentType {
			t.Fatalf("EncodeEvent(%+v): key %q, headers %v", e, r.Key, r.Headers)
		}
	}
	for _, e := range envelopeEvents() {
		check(e)
	}
	for _, path := range []string{"testdata/golden/orders/stream.json", "testdata/golden/gather/stream.json", "testdata/golden/types/stream.json"} {
		s := readStream(t, path)
		m := loadMapping(t, s.mappingPath, LoadOptions{Timezone: s.timezone})
		mp, err := NewMapper(m, MapperOptions{Validate: m.schemas != nil})
		if err != nil {
			t.Fatal(err)
		}
		feed(t, mp, s, check)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	pieces := []string{"a", "Z", "0", " ", "\"", "\\", "/", "<", ">", "&", "\b", "\f", "\n", "\r", "\t", "\x00", "\x1f", "\x7f",
		"é", "€", "😀", "\u2028", "\u2029", "\ufffd", "\xff", "\xe2\x80", "+", "%", ":"}
	str := func(valid bool) string {
		var sb strings.Builder
		for range rng.IntN(8) {
			sb.WriteString(pieces[rng.IntN(len(pieces))])
		}
		if valid {
			return strings.ToValidUTF8(sb.String(), "?")
		}
		return sb.String()
	}
	for range 2000 {
		e := Event{
			ID: "i" + str(true), Source: "s" + str(true), Type: "T" + str(true), Version: rng.IntN(3),
			AggregateType: str(true), AggregateID: str(true), Position: Position(str(false)),
			LSN: capture.LSN(rng.Uint64() >> rng.IntN(64)), XID: rng.Uint32() >> rng.IntN(32), Epoch: rng.Uint64() >> rng.IntN(64),
			Control: ControlKind(rng.IntN(4)), DeadLetter: rng.IntN(2) == 0,
		}
		if rng.IntN(2) == 0 {
			// Any instant of the years 1 to 9999.
			e.Time = time.Unix(rng.Int64N(253402300799+62135596800)-62135596800, rng.Int64N(1e9)).In(time.FixedZone("x", 3600*(rng.IntN(25)-12)))
		}
		if rng.IntN(4) != 0 {
			data, _ := json.Marshal(map[string]any{str(true): str(false), "n": rng.IntN(1000), "l": []any{str(true), nil, true}})
			if rng.IntN(2) == 0 {
				data = bytes.ReplaceAll(data, []byte(","), []byte(" ,\n "))
			}
			e.Data = data
		}
		check(e)
	}
}

// checkCompact compares appendCompactJSON with json.Compact on data.
func checkCompact(t *testing.T, data []byte) {
	t.Helper()
	var want bytes.Buffer
	wantErr := json.Compact(&want, data)
	got, err := appendCompactJSON([]byte("prefix"), data)
	switch {
	case (err != nil) != (wantErr != nil):
		t.Fatalf("appendCompactJSON(%q) error %v; json.Compact error %v", data, err, wantErr)
	case err == nil && string(got) != "prefix"+want.String():
		t.Fatalf("appendCompactJSON(%q) = %q; json.Compact gives %q", data, got[len("prefix"):], want.Bytes())
	}
}

func TestAppendCompactJSON(t *testing.T) {
	for _, s := range []string{`{}`, `[]`, `{"a":1}`, ` {"a" : [1, 2.5e3, "x y", null, true, false, {}]} `, `"\u00e9\n"`,
		`{"a":1,}`, `[1,]`, `{"a"}`, `01`, `1.`, `-`, `"\x01"`, `"\q"`, "\"\xff\"", `{"a":"b"}x`, ``, ` `, `nul`,
		`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`} {
		checkCompact(t, []byte(s))
	}
}

// FuzzAppendCompactJSON checks appendCompactJSON against json.Compact.
func FuzzAppendCompactJSON(f *testing.F) {
	f.Add([]byte(`{"order_id":42,"total":"1234.5600","lines":[{"n":1},{"n":2.5e-3}],"x":null}`))
	f.Add([]byte(` [ true , false ] `))
	f.Add([]byte("\"\xff\""))
	f.Fuzz(checkCompact)
}

// TestDecodeRecordEndLSN: the cdcflow-end-lsn header becomes Event.EndLSN
// in both modes; a malformed one, or one before the commit LSN, is an
// error; without it EndLSN is 0.
func TestDecodeRecordEndLSN(t *testing.T) {
	for name, e := range envelopeEvents() {
		if e.LSN == 0 {
			continue
		}
		for _, mode := range []EnvelopeMode{Structured, Binary} {
			r, err := EncodeEvent(e, "t", mode)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := DecodeRecord(r); err != nil || got.EndLSN != 0 {
				t.Fatalf("DecodeRecord(%s, %s) without the header: EndLSN %X, %v; want 0", name, mode, got.EndLSN, err)
			}
			end := e.LSN + 0x38
			hr := r
			hr.Headers = append(r.Headers[:len(r.Headers):len(r.Headers)], Header{Key: HeaderEndLSN, Value: AppendEndLSN(nil, end)})
			got, err := DecodeRecord(hr)
			if err != nil || got.EndLSN != end {
				t.Errorf("DecodeRecord(%s, %s) with %s %s: EndLSN %X, %v; want %X", name, mode, HeaderEndLSN, hr.Headers[len(hr.Headers)-1].Value, got.EndLSN, err, end)
			}
			for _, bad := range []string{"12", "zz00000000000000", "0000000000000000"[:15] + "G", "00000000000000001"} {
				hr.Headers[len(hr.Headers)-1].Value = []byte(bad)
				if _, err := DecodeRecord(hr); err == nil {
					t.Errorf("DecodeRecord(%s, %s) with %s %q: no error", name, mode, HeaderEndLSN, bad)
				}
			}
			hr.Headers[len(hr.Headers)-1].Value = AppendEndLSN(nil, e.LSN-1)
			if _, err := DecodeRecord(hr); err == nil {
				t.Errorf("DecodeRecord(%s, %s) with an end before the commit LSN: no error", name, mode)
			}
		}
	}
	if got := string(AppendEndLSN(nil, 0x16B374D848)); got != "00000016B374D848" {
		t.Errorf("AppendEndLSN = %s; want 00000016B374D848", got)
	}
}
