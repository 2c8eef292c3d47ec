package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	cebinding "github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/binding/format"
	"github.com/cloudevents/sdk-go/v2/binding/spec"
)

// recordMessage reads a Record the way the CloudEvents Kafka protocol binding
// says a receiver must: structured when content-type starts with
// application/cloudevents, binary (ce_ headers) otherwise. It is what the
// sdk-go Kafka bindings do, written against our Record so that the test needs
// no Kafka client.
type recordMessage struct{ r Record }

var ceVersions = spec.WithPrefix(headerPrefix)

func (m recordMessage) header(k string) (string, bool) {
	for _, h := range m.r.Headers {
		if strings.EqualFold(h.Key, k) {
			return string(h.Value), true
		}
	}
	return "", false
}

func (m recordMessage) ReadEncoding() cebinding.Encoding {
	if ct, _ := m.header(headerContentType); strings.HasPrefix(strings.ToLower(ct), "application/cloudevents") {
		return cebinding.EncodingStructured
	}
	if _, ok := m.header(headerPrefix + attrSpecVersion); ok {
		return cebinding.EncodingBinary
	}
	return cebinding.EncodingUnknown
}

func (m recordMessage) ReadStructured(ctx context.Context, w cebinding.StructuredWriter) error {
	if m.ReadEncoding() != cebinding.EncodingStructured {
		return cebinding.ErrNotStructured
	}
	return w.SetStructuredEvent(ctx, format.JSON, bytes.NewReader(m.r.Value))
}

func (m recordMessage) ReadBinary(ctx context.Context, w cebinding.BinaryWriter) error {
	if m.ReadEncoding() != cebinding.EncodingBinary {
		return cebinding.ErrNotBinary
	}
	sv, _ := m.header(headerPrefix + attrSpecVersion)
	version := ceVersions.Version(sv)
	if version == nil {
		return cebinding.ErrUnknownEncoding
	}
	for _, h := range m.r.Headers {
		k := strings.ToLower(h.Key)
		switch {
		case k == headerContentType:
			if err := w.SetAttribute(version.AttributeFromKind(spec.DataContentType), string(h.Value)); err != nil {
				return err
			}
		case strings.HasPrefix(k, headerPrefix):
			if attr := version.Attribute(k); attr != nil {
				if err := w.SetAttribute(attr, string(h.Value)); err != nil {
					return err
				}
			} else if err := w.SetExtension(strings.TrimPrefix(k, headerPrefix), string(h.Value)); err != nil {
				return err
			}
		}
	}
	if len(m.r.Value) > 0 {
		if err := w.SetData(bytes.NewReader(m.r.Value)); err != nil {
			return err
		}
	}
	return nil
}

// GetAttribute implements binding.MessageMetadataReader.
func (m recordMessage) GetAttribute(k spec.Kind) (spec.Attribute, any) {
	sv, _ := m.header(headerPrefix + attrSpecVersion)
	version := ceVersions.Version(sv)
	if version == nil {
		return nil, nil
	}
	attr := version.AttributeFromKind(k)
	if attr == nil {
		return nil, nil
	}
	if k == spec.DataContentType {
		if v, ok := m.header(headerContentType); ok {
			return attr, v
		}
		return attr, nil
	}
	if v, ok := m.header(attr.PrefixedName()); ok {
		return attr, v
	}
	return attr, nil
}

// GetExtension implements binding.MessageMetadataReader.
func (m recordMessage) GetExtension(name string) any {
	if v, ok := m.header(headerPrefix + name); ok {
		return v
	}
	return nil
}

func (m recordMessage) Finish(error) error { return nil }

// TestCloudEventsSDKReadsReferenceEvents maps the reference stream, encodes
// every event with EncodeEvent in both modes and has the CloudEvents Go SDK
// read them back: each must be a valid CloudEvent with our attributes.
func TestCloudEventsSDKReadsReferenceEvents(t *testing.T) {
	s := readStream(t, "testdata/golden/orders/stream.json")
	m := loadMapping(t, s.mappingPath, LoadOptions{Timezone: s.timezone})
	mp, err := NewMapper(m, MapperOptions{Validate: true})
	if err != nil {
		t.Fatal(err)
	}
	var events []Event
	feed(t, mp, s, func(e Event) { events = append(events, e) })
	if len(events) < 20 {
		t.Fatalf("the reference stream produced %d events; want at least 20", len(events))
	}
	for _, mode := range []EnvelopeMode{Structured, Binary} {
		for _, e := range events {
			topic := m.Topic(e.AggregateType)
			if e.DeadLetter {
				topic = m.DeadLetterTopic()
			}
			r, err := EncodeEvent(e, topic, mode)
			if err != nil {
				t.Fatalf("EncodeEvent(%s %s, %s) = %v", e.Type, e.Position, mode, err)
			}
			ce, err := cebinding.ToEvent(t.Context(), recordMessage{r})
			if err != nil {
				t.Fatalf("sdk-go ToEvent(%s %s, %s) = %v", e.Type, e.Position, mode, err)
			}
			if err := ce.Validate(); err != nil {
				t.Errorf("sdk-go: %s %s (%s) is not a valid CloudEvent: %v", e.Type, e.Position, mode, err)
			}
			ext := ce.Extensions()
			if ce.ID() != e.ID || ce.Type() != e.Type || ce.Source() != e.Source || ce.Subject() != e.AggregateID ||
				ext[extSequence] != string(e.Position) || ext[extPartitionKey] != nilIfEmpty(e.AggregateID) {
				t.Errorf("sdk-go read %s %s (%s) as id %q type %q source %q subject %q sequence %v partitionkey %v",
					e.Type, e.Position, mode, ce.ID(), ce.Type(), ce.Source(), ce.Subject(), ext[extSequence], ext[extPartitionKey])
			}
			if !ce.Time().Equal(e.Time.Truncate(1000)) {
				t.Errorf("sdk-go read %s %s (%s) time %v; want %v", e.Type, e.Position, mode, ce.Time(), e.Time)
			}
			if e.Version > 0 && ce.DataSchema() != DataSchemaURI(e.Type, e.Version) {
				t.Errorf("sdk-go read %s (%s) dataschema %q; want %q", e.Type, mode, ce.DataSchema(), DataSchemaURI(e.Type, e.Version))
			}
			var got, want any
			if err := json.Unmarshal(ce.Data(), &got); err != nil {
				t.Fatalf("sdk-go data of %s (%s): %v", e.Type, mode, err)
			}
			_ = json.Unmarshal(e.Data, &want)
			if gb, wb := mustJSON(got), mustJSON(want); gb != wb {
				t.Errorf("sdk-go data of %s %s (%s) = %s; want %s", e.Type, e.Position, mode, gb, wb)
			}
		}
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
