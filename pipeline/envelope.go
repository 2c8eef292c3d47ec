package pipeline

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/internal/jsonx"
)

// EnvelopeMode says how EncodeEvent lays an Event out in a Kafka record,
// following the Kafka protocol binding of CloudEvents 1.0.
type EnvelopeMode uint8

// The envelope modes. The zero EnvelopeMode is Structured.
const (
	// Structured puts the whole CloudEvent in the record value as
	// application/cloudevents+json, the event data embedded under "data".
	Structured EnvelopeMode = iota
	// Binary puts the attributes in ce_* headers and the data alone in the
	// record value, with content-type application/json.
	Binary
)

// String returns "structured" or "binary".
func (m EnvelopeMode) String() string {
	switch m {
	case Structured:
		return "structured"
	case Binary:
		return "binary"
	}
	return "envelopemode(" + strconv.Itoa(int(m)) + ")"
}

// Content types of the envelope.
const (
	// StructuredContentType is the content-type header of structured records.
	StructuredContentType = "application/cloudevents+json; charset=UTF-8"
	// DataContentType is the CloudEvents datacontenttype of every event, and
	// the content-type header of binary records.
	DataContentType = "application/json"
)

// The CloudEvents attribute and extension names of the envelope. Extension
// names are lower-case letters and digits only, as CloudEvents requires.
const (
	attrSpecVersion     = "specversion"
	attrID              = "id"
	attrSource          = "source"
	attrType            = "type"
	attrSubject         = "subject"
	attrTime            = "time"
	attrDataContentType = "datacontenttype"
	attrDataSchema      = "dataschema"
	extSequence         = "sequence"      // the Position (CloudEvents sequence extension)
	extPartitionKey     = "partitionkey"  // the aggregate id (Kafka binding: the record key)
	extPgLSN            = "pglsn"         // commit LSN, as PostgreSQL prints it: "16/B374D848"
	extPgXID            = "pgxid"         // transaction id, decimal
	extAggregateType    = "aggregatetype" // the aggregate type, the topic's
	extEpoch            = "epoch"         // snapshot epoch, decimal
	extControl          = "control"       // control record kind: "snapshot_begin", "snapshot_end", "truncate", "progress"
	extDeadLetter       = "deadletter"    // "true" on dead-letter records
	headerPrefix        = "ce_"
	headerContentType   = "content-type"
	specVersion         = "1.0"
	timeLayout          = "2006-01-02T15:04:05.000000Z07:00"
)

// controlNames are the extControl values, by ControlKind.
var controlNames = [...]string{
	ControlSnapshotBegin: "snapshot_begin",
	ControlSnapshotEnd:   "snapshot_end",
	ControlTruncate:      "truncate",
	ControlProgress:      "progress",
}

// dataSchemaPrefix opens every dataschema URI.
const dataSchemaPrefix = "urn:cdcflow:schema:"

// DataSchemaURI returns the CloudEvents dataschema of version version of event
// type eventType: "urn:cdcflow:schema:<type>:v<version>", e.g.
// "urn:cdcflow:schema:OrderRequested:v2", the type path-escaped. It names a
// schema kept with the mapping (and listed in the AsyncAPI catalogue) rather
// than a URL to fetch, so moving the catalogue never changes released events.
func DataSchemaURI(eventType string, version int) string {
	return dataSchemaPrefix + url.PathEscape(eventType) + ":v" + strconv.Itoa(version)
}

// envelope is the structured form, in the order the fields are written.
// Absent attributes are the zero values of the Event fields they carry.
type envelope struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject,omitempty"`
	Time            string          `json:"time,omitempty"`
	DataContentType string          `json:"datacontenttype,omitempty"`
	DataSchema      string          `json:"dataschema,omitempty"`
	Sequence        string          `json:"sequence,omitempty"`
	PartitionKey    string          `json:"partitionkey,omitempty"`
	PgLSN           string          `json:"pglsn,omitempty"`
	PgXID           string          `json:"pgxid,omitempty"`
	AggregateType   string          `json:"aggregatetype,omitempty"`
	Epoch           string          `json:"epoch,omitempty"`
	Control         string          `json:"control,omitempty"`
	DeadLetter      string          `json:"deadletter,omitempty"`
	Data            json.RawMessage `json:"data,omitempty"`
	DataBase64      *string         `json:"data_base64,omitempty"` // read only, to refuse it
}

// EncodeEvent encodes e as a record for topic in the given mode, following the
// CloudEvents 1.0 Kafka protocol binding. The attributes are:
//
//	specversion     "1.0"
//	id              e.ID
//	source          e.Source
//	type            e.Type
//	subject         e.AggregateID (omitted when empty)
//	time            e.Time in RFC 3339, UTC, truncated to microseconds (omitted when zero)
//	datacontenttype "application/json" (when there is data)
//	dataschema      DataSchemaURI(e.Type, e.Version) (omitted for version 0)
//	sequence        e.Position
//	partitionkey    e.AggregateID
//	pglsn           e.LSN as PostgreSQL prints it, "16/B374D848" (omitted when 0)
//	pgxid           e.XID in decimal (omitted when 0)
//	aggregatetype   e.AggregateType
//	epoch           e.Epoch in decimal (omitted when 0)
//	control         "snapshot_begin", "snapshot_end", "truncate" or "progress" for control records
//	deadletter      "true" for dead-letter records
//
// The record key is e.AggregateID (nil when empty); Type is e.Type (for every
// record: events, control records and dead letters); AllPartitions is set for
// control records and DeadLetter for dead letters. e.Data must be valid JSON or
// empty (no data); it is written compacted. LSN, XID and epoch are strings
// because CloudEvents integers are 32-bit. EncodeEvent fails on an event
// without id, source or type, on invalid data and on a negative version or an
// unknown control kind, and on attributes that are not valid UTF-8 (CloudEvents
// strings are Unicode); it never panics. The Record owns its byte slices.
func EncodeEvent(e Event, topic string, mode EnvelopeMode) (Record, error) {
	if err := checkEvent(e); err != nil {
		return Record{}, fmt.Errorf("encode event %q: %w", e.ID, err)
	}
	r := Record{
		Topic:         topic,
		Type:          e.Type,
		AllPartitions: e.Control != NotControl,
		DeadLetter:    e.DeadLetter,
	}
	switch mode {
	case Structured:
		// The value, the key and the content-type header share one
		// allocation, each slice capped at its own end.
		n := structuredSize(e)
		buf := make([]byte, 0, n+len(e.AggregateID)+len(StructuredContentType))
		buf, err := appendStructured(buf, e)
		if err != nil {
			return Record{}, fmt.Errorf("encode event %q: %w", e.ID, err)
		}
		end := len(buf)
		r.Value = buf[:end:end]
		if e.AggregateID != "" {
			buf = append(buf, e.AggregateID...)
			r.Key = buf[end:len(buf):len(buf)]
			end = len(buf)
		}
		buf = append(buf, StructuredContentType...)
		r.Headers = []Header{{Key: headerContentType, Value: buf[end:len(buf):len(buf)]}}
	case Binary:
		env, err := toEnvelope(e)
		if err != nil {
			return Record{}, fmt.Errorf("encode event %q: %w", e.ID, err)
		}
		if e.AggregateID != "" {
			r.Key = []byte(e.AggregateID)
		}
		r.Value = env.Data
		r.Headers = binaryHeaders(env)
	default:
		return Record{}, fmt.Errorf("encode event %q: unknown envelope mode %d", e.ID, mode)
	}
	return r, nil
}

// checkEvent returns why e cannot be encoded, or nil.
func checkEvent(e Event) error {
	switch {
	case e.ID == "":
		return errors.New("no id")
	case e.Source == "":
		return errors.New("no source")
	case e.Type == "":
		return errors.New("no type")
	case e.Version < 0:
		return fmt.Errorf("negative version %d", e.Version)
	case int(e.Control) >= len(controlNames):
		return fmt.Errorf("unknown control kind %d", e.Control)
	}
	for _, a := range [...]struct{ name, v string }{
		{attrID, e.ID}, {attrSource, e.Source}, {attrType, e.Type},
		{attrSubject, e.AggregateID}, {extAggregateType, e.AggregateType},
	} {
		if !utf8.ValidString(a.v) {
			return fmt.Errorf("%s %q is not valid UTF-8", a.name, a.v)
		}
	}
	if !e.Time.IsZero() {
		if y := e.Time.UTC().Year(); y < 1 || y > 9999 {
			return fmt.Errorf("time %v: year outside 1-9999", e.Time)
		}
	}
	return nil
}

// structuredSize is the size of e's structured value when no attribute needs
// escaping: enough for one allocation in the usual case.
func structuredSize(e Event) int {
	n := 320 + len(e.ID) + len(e.Source) + 2*len(e.Type) + 2*len(e.AggregateID) +
		len(e.AggregateType) + len(e.Position) + len(e.Data)
	return n
}

// appendStructured appends e's structured CloudEvent: the JSON object
// encoding/json writes for e's envelope with HTML escaping off, byte for byte
// (TestStructuredMatchesEncodingJSON), without reflection. e has been checked.
func appendStructured(b []byte, e Event) ([]byte, error) {
	b = append(b, `{"specversion":"1.0","id":`...)
	b = jsonx.AppendString(b, e.ID)
	b = append(b, `,"source":`...)
	b = jsonx.AppendString(b, e.Source)
	b = append(b, `,"type":`...)
	b = jsonx.AppendString(b, e.Type)
	if e.AggregateID != "" {
		b = append(b, `,"subject":`...)
		b = jsonx.AppendString(b, e.AggregateID)
	}
	if !e.Time.IsZero() {
		b = append(b, `,"time":"`...)
		b = appendTime(b, e.Time)
		b = append(b, '"')
	}
	if len(e.Data) > 0 {
		b = append(b, `,"datacontenttype":"`+DataContentType+`"`...)
	}
	if e.Version > 0 {
		b = append(b, `,"dataschema":"`...)
		b = appendDataSchema(b, e.Type, e.Version)
		b = append(b, '"')
	}
	if e.Position != "" {
		b = append(b, `,"sequence":`...)
		b = jsonx.AppendString(b, string(e.Position))
	}
	if e.AggregateID != "" {
		b = append(b, `,"partitionkey":`...)
		b = jsonx.AppendString(b, e.AggregateID)
	}
	if e.LSN != 0 {
		b = append(b, `,"pglsn":"`...)
		b = appendLSN(b, e.LSN)
		b = append(b, '"')
	}
	if e.XID != 0 {
		b = append(b, `,"pgxid":"`...)
		b = strconv.AppendUint(b, uint64(e.XID), 10)
		b = append(b, '"')
	}
	if e.AggregateType != "" {
		b = append(b, `,"aggregatetype":`...)
		b = jsonx.AppendString(b, e.AggregateType)
	}
	if e.Epoch != 0 {
		b = append(b, `,"epoch":"`...)
		b = strconv.AppendUint(b, e.Epoch, 10)
		b = append(b, '"')
	}
	if e.Control != NotControl {
		b = append(b, `,"control":"`...)
		b = append(b, controlNames[e.Control]...)
		b = append(b, '"')
	}
	if e.DeadLetter {
		b = append(b, `,"deadletter":"true"`...)
	}
	if len(e.Data) > 0 {
		b = append(b, `,"data":`...)
		var err error
		if b, err = appendCompactJSON(b, e.Data); err != nil {
			return nil, fmt.Errorf("data is not valid JSON: %w", err)
		}
	}
	return append(b, '}'), nil
}

// appendCompactJSON appends data compacted as json.Compact does, or returns
// its error. Data the mapper wrote is already compact: when a strict one-pass
// check finds valid JSON without white space between tokens (what json.Compact
// would return unchanged), it is copied as it is.
func appendCompactJSON(b, data []byte) ([]byte, error) {
	v := fastValidator{b: data}
	if v.value(nil, 0) && v.i == len(data) && !v.sawSpace {
		return append(b, data...), nil
	}
	// json.Compact appends to the buffer in place.
	buf := bytes.NewBuffer(b)
	if err := json.Compact(buf, data); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// appendTime appends t in UTC as t.UTC().Format(timeLayout) does:
// "2026-11-23T10:15:00.123456Z", the fraction truncated to microseconds. The
// year is 1 to 9999 (checkEvent).
func appendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	b = append(b, '.')
	b = appendDigits(b, t.Nanosecond()/1000, 6)
	return append(b, 'Z')
}

// appendDigits appends v, which is not negative, in exactly width decimal
// digits.
func appendDigits(b []byte, v, width int) []byte {
	var tmp [8]byte
	for i := width - 1; i >= 0; i-- {
		tmp[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, tmp[:width]...)
}

// appendDataSchema appends DataSchemaURI(eventType, version).
func appendDataSchema(b []byte, eventType string, version int) []byte {
	b = append(b, dataSchemaPrefix...)
	plain := true
	for i := 0; i < len(eventType); i++ {
		c := eventType[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~') {
			plain = false
			break
		}
	}
	if plain {
		b = append(b, eventType...)
	} else {
		b = append(b, url.PathEscape(eventType)...)
	}
	b = append(b, ":v"...)
	return strconv.AppendInt(b, int64(version), 10)
}

// appendLSN appends lsn as capture.LSN.String writes it: "16/B374D848".
func appendLSN(b []byte, lsn capture.LSN) []byte {
	b = appendUpperHex(b, uint32(lsn>>32))
	b = append(b, '/')
	return appendUpperHex(b, uint32(lsn))
}

func appendUpperHex(b []byte, v uint32) []byte {
	const hex = "0123456789ABCDEF"
	var tmp [8]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = hex[v&0xf]
		v >>= 4
		if v == 0 {
			break
		}
	}
	return append(b, tmp[i:]...)
}

// toEnvelope checks e and returns its attributes.
func toEnvelope(e Event) (*envelope, error) {
	if err := checkEvent(e); err != nil {
		return nil, err
	}
	env := &envelope{
		SpecVersion:   specVersion,
		ID:            e.ID,
		Source:        e.Source,
		Type:          e.Type,
		Subject:       e.AggregateID,
		Sequence:      string(e.Position),
		PartitionKey:  e.AggregateID,
		AggregateType: e.AggregateType,
		Control:       controlNames[e.Control],
	}
	if !e.Time.IsZero() {
		env.Time = e.Time.UTC().Format(timeLayout)
	}
	if e.Version > 0 {
		env.DataSchema = DataSchemaURI(e.Type, e.Version)
	}
	if e.LSN != 0 {
		env.PgLSN = e.LSN.String()
	}
	if e.XID != 0 {
		env.PgXID = strconv.FormatUint(uint64(e.XID), 10)
	}
	if e.Epoch != 0 {
		env.Epoch = strconv.FormatUint(e.Epoch, 10)
	}
	if e.DeadLetter {
		env.DeadLetter = "true"
	}
	if len(e.Data) > 0 {
		var buf bytes.Buffer
		buf.Grow(len(e.Data))
		if err := json.Compact(&buf, e.Data); err != nil {
			return nil, fmt.Errorf("data is not valid JSON: %w", err)
		}
		env.Data = buf.Bytes()
		env.DataContentType = DataContentType
	}
	return env, nil
}

// binaryHeaders returns the ce_* headers of env and its content-type. The
// header values share one allocation.
func binaryHeaders(env *envelope) []Header {
	attrs := [...]struct{ name, v string }{
		{attrSpecVersion, env.SpecVersion}, {attrID, env.ID}, {attrSource, env.Source},
		{attrType, env.Type}, {attrSubject, env.Subject}, {attrTime, env.Time},
		{attrDataSchema, env.DataSchema}, {extSequence, env.Sequence},
		{extPartitionKey, env.PartitionKey}, {extPgLSN, env.PgLSN}, {extPgXID, env.PgXID},
		{extAggregateType, env.AggregateType}, {extEpoch, env.Epoch},
		{extControl, env.Control}, {extDeadLetter, env.DeadLetter},
		// The Kafka binding maps datacontenttype to the content-type header.
		{headerContentType, env.DataContentType},
	}
	n := 0
	for _, a := range attrs {
		n += len(a.v)
	}
	buf := make([]byte, 0, n)
	h := make([]Header, 0, len(attrs))
	for _, a := range attrs {
		if a.v == "" {
			continue
		}
		key := a.name
		if key != headerContentType {
			key = headerKeys[key]
		}
		start := len(buf)
		buf = append(buf, a.v...)
		h = append(h, Header{Key: key, Value: buf[start:len(buf):len(buf)]})
	}
	return h
}

// headerKeys maps attribute names to their binary-mode header keys, so that
// encoding does not build the keys again for every record.
var headerKeys = func() map[string]string {
	m := map[string]string{}
	for _, name := range []string{attrSpecVersion, attrID, attrSource, attrType, attrSubject, attrTime,
		attrDataSchema, extSequence, extPartitionKey, extPgLSN, extPgXID, extAggregateType,
		extEpoch, extControl, extDeadLetter} {
		m[name] = headerPrefix + name
	}
	return m
}()

// DecodeRecord decodes a record written by EncodeEvent, in either mode: a
// content-type of application/cloudevents+json means structured, a
// ce_specversion header binary. It validates what it reads (specversion 1.0,
// id, source and type present, the formats of time, dataschema, sequence,
// pglsn, pgxid, epoch and control, JSON data, and that partitionkey and the
// record key agree with subject) and returns an error naming the attribute
// otherwise; it never panics. The aggregate id is the subject, or the
// partitionkey when a foreign writer sent no subject. Structured attribute
// names are matched the way encoding/json matches struct fields, which also
// accepts other letter cases ("ID" for "id"). Unknown extensions are ignored, so that records
// from a newer writer still decode.
//
// The Event never aliases r: its strings and its Data are copies, so the
// caller may reuse r's buffers as soon as DecodeRecord returns. Its ID,
// Source, Type and AggregateType may share one allocation (keeping one of
// them keeps the bytes of the others); its AggregateID, Position and Data
// have allocations of their own, so a caller that keeps only an aggregate id
// or a position (as a map key or a guard, say) keeps only its bytes.
//
// Records as EncodeEvent writes them take a single-pass decoder
// (decodeRecordFast); anything it is not sure of (other attribute names or
// letter cases, duplicates, white space between attributes, null or number
// attributes, content-type parameters other than EncodeEvent's, any invalid
// value) is decoded by the general path (decodeRecordReference), which gives
// the same Event or the error; FuzzDecodeRecordFast checks that they agree.
// DecodeRecord is safe for concurrent use.
func DecodeRecord(r Record) (Event, error) {
	if e, ok := decodeRecordFast(r); ok {
		return e, nil
	}
	return decodeRecordReference(r)
}

// decodeRecordReference is DecodeRecord's general path: encoding/json into
// the envelope struct, then fromEnvelope. It is the definition of what
// DecodeRecord returns, which the fast path must match.
func decodeRecordReference(r Record) (Event, error) {
	var ct string
	var ctSeen, binary bool
	var endLSN capture.LSN
	for _, h := range r.Headers {
		switch {
		case h.Key == HeaderEndLSN:
			n, err := strconv.ParseUint(string(h.Value), 16, 64)
			if err != nil || len(h.Value) != 16 {
				return Event{}, fmt.Errorf("decode record: header %s: %q is not 16 hexadecimal digits", HeaderEndLSN, h.Value)
			}
			endLSN = capture.LSN(n)
		case strings.EqualFold(h.Key, headerContentType):
			if ctSeen {
				return Event{}, errors.New("decode record: duplicate content-type header")
			}
			ct, ctSeen = string(h.Value), true
		case h.Key == headerPrefix+attrSpecVersion:
			binary = true
		}
	}
	mediaType := ""
	if ctSeen {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil {
			return Event{}, fmt.Errorf("decode record: content-type %q: %w", ct, err)
		}
		mediaType = mt
	}
	var env envelope
	switch {
	case mediaType == "application/cloudevents+json":
		if err := decodeStructured(r.Value, &env); err != nil {
			return Event{}, fmt.Errorf("decode record: %w", err)
		}
	case binary:
		if err := decodeBinary(r, mediaType, &env); err != nil {
			return Event{}, fmt.Errorf("decode record: %w", err)
		}
	case ctSeen:
		return Event{}, fmt.Errorf("decode record: content-type %q without ce_specversion header: not a CloudEvent", ct)
	default:
		return Event{}, errors.New("decode record: neither a content-type nor a ce_specversion header: not a CloudEvent")
	}
	e, err := fromEnvelope(&env, false)
	if err != nil {
		return Event{}, fmt.Errorf("decode record: event %q: %w", env.ID, err)
	}
	if len(r.Key) > 0 && string(r.Key) != e.AggregateID {
		return Event{}, fmt.Errorf("decode record: event %q: record key %q is not the subject %q", env.ID, r.Key, e.AggregateID)
	}
	if endLSN != 0 && endLSN < e.LSN {
		return Event{}, fmt.Errorf("decode record: event %q: header %s %016X is before its commit LSN %016X", env.ID, HeaderEndLSN, uint64(endLSN), uint64(e.LSN))
	}
	e.EndLSN = endLSN
	return e, nil
}

// decodeStructured reads a structured value into env.
func decodeStructured(value []byte, env *envelope) error {
	// Every attribute must be a string: decoding into string fields refuses
	// other JSON types, with an error naming the field.
	// json.Unmarshal copies the data into env.Data: the Event does not alias value.
	if err := json.Unmarshal(value, env); err != nil {
		return fmt.Errorf("structured CloudEvent: %w", err)
	}
	if env.DataBase64 != nil {
		return errors.New("structured CloudEvent: data_base64 is not supported: the data of an event is JSON")
	}
	return nil
}

// decodeBinary reads the ce_* headers and the value of a binary record into env.
func decodeBinary(r Record, mediaType string, env *envelope) error {
	fields := map[string]*string{
		attrSpecVersion:  &env.SpecVersion,
		attrID:           &env.ID,
		attrSource:       &env.Source,
		attrType:         &env.Type,
		attrSubject:      &env.Subject,
		attrTime:         &env.Time,
		attrDataSchema:   &env.DataSchema,
		extSequence:      &env.Sequence,
		extPartitionKey:  &env.PartitionKey,
		extPgLSN:         &env.PgLSN,
		extPgXID:         &env.PgXID,
		extAggregateType: &env.AggregateType,
		extEpoch:         &env.Epoch,
		extControl:       &env.Control,
		extDeadLetter:    &env.DeadLetter,
	}
	seen := make(map[string]bool, len(r.Headers))
	for _, h := range r.Headers {
		name, ok := strings.CutPrefix(h.Key, headerPrefix)
		if !ok {
			continue
		}
		if seen[name] {
			return fmt.Errorf("binary CloudEvent: duplicate header %s", h.Key)
		}
		seen[name] = true
		if name == attrDataContentType {
			return fmt.Errorf("binary CloudEvent: header %s: the binding carries datacontenttype in content-type", h.Key)
		}
		if f := fields[name]; f != nil {
			*f = string(h.Value)
		}
	}
	if len(r.Value) == 0 {
		return nil
	}
	if mediaType != DataContentType {
		return fmt.Errorf("binary CloudEvent: content-type %q: want %s", mediaType, DataContentType)
	}
	env.DataContentType = mediaType
	env.Data = bytes.Clone(r.Value)
	return nil
}

// fromEnvelope checks env and returns its Event. fast is set by the fast
// path of DecodeRecord: it has checked that env.Data is valid JSON, and the
// usual forms of sequence, time and pglsn are read by hand-written parsers
// (which leave anything else to the general ones), so that the result is the
// same as with fast false.
func fromEnvelope(env *envelope, fast bool) (Event, error) {
	switch {
	case env.SpecVersion != specVersion:
		return Event{}, fmt.Errorf("specversion %q: want %q", env.SpecVersion, specVersion)
	case env.ID == "":
		return Event{}, errors.New("no id")
	case env.Source == "":
		return Event{}, errors.New("no source")
	case env.Type == "":
		return Event{}, errors.New("no type")
	case env.PartitionKey != "" && env.Subject != "" && env.PartitionKey != env.Subject:
		return Event{}, fmt.Errorf("partitionkey %q is not the subject %q", env.PartitionKey, env.Subject)
	}
	e := Event{
		ID:            env.ID,
		Source:        env.Source,
		Type:          env.Type,
		AggregateType: env.AggregateType,
		AggregateID:   cmp.Or(env.Subject, env.PartitionKey),
		Position:      Position(env.Sequence),
	}
	if env.Sequence != "" && !(fast && validPosition(env.Sequence)) {
		if _, _, _, err := ParsePosition(env.Sequence); err != nil {
			return Event{}, fmt.Errorf("sequence: %w", err)
		}
	}
	if env.Time != "" {
		t, ok := time.Time{}, false
		if fast {
			t, ok = parseTimeUTC(env.Time)
		}
		if !ok {
			var err error
			if t, err = time.Parse(time.RFC3339Nano, env.Time); err != nil {
				return Event{}, fmt.Errorf("time %q: %w", env.Time, err)
			}
		}
		e.Time = t.UTC()
	}
	if env.DataSchema != "" {
		v, err := parseDataSchema(env.DataSchema, env.Type)
		if err != nil {
			return Event{}, err
		}
		e.Version = v
	}
	if env.PgLSN != "" {
		lsn, ok := capture.LSN(0), false
		if fast {
			lsn, ok = parseLSN(env.PgLSN)
		}
		if !ok {
			var err error
			if lsn, err = capture.ParseLSN(env.PgLSN); err != nil {
				return Event{}, fmt.Errorf("pglsn: %w", err)
			}
		}
		e.LSN = lsn
	}
	if env.PgXID != "" {
		x, err := strconv.ParseUint(env.PgXID, 10, 32)
		if err != nil {
			return Event{}, fmt.Errorf("pgxid %q: want a 32-bit unsigned decimal", env.PgXID)
		}
		e.XID = uint32(x)
	}
	if env.Epoch != "" {
		ep, err := strconv.ParseUint(env.Epoch, 10, 64)
		if err != nil {
			return Event{}, fmt.Errorf("epoch %q: want an unsigned decimal", env.Epoch)
		}
		e.Epoch = ep
	}
	if env.Control != "" {
		k, err := parseControl(env.Control)
		if err != nil {
			return Event{}, err
		}
		e.Control = k
	}
	switch env.DeadLetter {
	case "":
	case "true":
		e.DeadLetter = true
	default:
		return Event{}, fmt.Errorf("deadletter %q: want \"true\" or absent", env.DeadLetter)
	}
	if env.Data != nil {
		if ct := env.DataContentType; ct != "" && ct != DataContentType {
			if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != DataContentType {
				return Event{}, fmt.Errorf("datacontenttype %q: want %s", ct, DataContentType)
			}
		}
		if !fast && !json.Valid(env.Data) {
			return Event{}, errors.New("data is not valid JSON")
		}
		e.Data = env.Data
	}
	return e, nil
}

// parseDataSchema returns the version of a dataschema URI written by
// DataSchemaURI for eventType.
func parseDataSchema(s, eventType string) (int, error) {
	// Three prefixes in turn, rather than their concatenation, so that a
	// valid URI costs no allocation (PathEscape returns a plain type as it is).
	rest, ok := strings.CutPrefix(s, dataSchemaPrefix)
	if ok {
		rest, ok = strings.CutPrefix(rest, url.PathEscape(eventType))
	}
	if ok {
		rest, ok = strings.CutPrefix(rest, ":v")
	}
	if !ok {
		return 0, fmt.Errorf("dataschema %q: want %s%s:v<version>", s, dataSchemaPrefix, url.PathEscape(eventType))
	}
	v, err := strconv.Atoi(rest)
	if err != nil || v <= 0 || strconv.Itoa(v) != rest {
		return 0, fmt.Errorf("dataschema %q: version %q is not a positive integer", s, rest)
	}
	return v, nil
}

// parseControl returns the ControlKind named s.
func parseControl(s string) (ControlKind, error) {
	for k, name := range controlNames {
		if name != "" && name == s {
			return ControlKind(k), nil
		}
	}
	return 0, fmt.Errorf("control %q: want snapshot_begin, snapshot_end, truncate or progress", s)
}
