package pipeline

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// CatalogOptions describes the AsyncAPI document Catalog writes.
type CatalogOptions struct {
	// Title of the document. Default "cdcflow events".
	Title string
	// Version of the document (the API, not AsyncAPI's). Default "1.0.0".
	Version string
	// Derived are event types the mapping does not produce that are
	// catalogued too: the events CEP rules derive (cep.Rules.DerivedSchemas).
	// Each goes on the channel of its topic: an aggregate's channel when it
	// is that aggregate's topic, else a channel of its own.
	Derived []CatalogEvent
}

// CatalogEvent is one version of an event type that Catalog lists beside
// the mapping's: a derived event.
type CatalogEvent struct {
	Type          string
	Version       int
	AggregateType string
	// Topic is the topic the events are written to.
	Topic string
	// Summary says where the events come from ("Derived by CEP rule x").
	Summary string
	// Schema is the JSON Schema of the data; nil means any JSON object.
	Schema json.RawMessage
}

// asyncAPIVersion is the AsyncAPI specification version of the catalog.
const asyncAPIVersion = "3.0.0"

// kafkaBindingVersion is the version of AsyncAPI's Kafka bindings used.
const kafkaBindingVersion = "0.5.0"

// Catalog returns an AsyncAPI 3.0 document (JSON) of the mapping's events:
// one channel per topic (one per aggregate type, and the dead-letter topic),
// one message per event type and schema version, whose payload is the
// CloudEvents structured-mode envelope with the version's JSON Schema as its
// data, plus the control records every aggregate topic carries. The output is
// deterministic. A mapping without schemas gives messages whose data is any
// JSON object.
func (m *Mapping) Catalog(opts CatalogOptions) ([]byte, error) {
	if opts.Title == "" {
		opts.Title = "cdcflow events"
	}
	if opts.Version == "" {
		opts.Version = "1.0.0"
	}
	channels := map[string]any{}
	operations := map[string]any{}
	messages := map[string]any{}
	byAgg := map[string][]EventType{}
	for _, et := range m.EventTypes() {
		byAgg[et.AggregateType] = append(byAgg[et.AggregateType], et)
	}
	for _, agg := range m.AggregateTypes() {
		chanMsgs := map[string]any{}
		var refs []any
		add := func(id string, msg map[string]any) {
			messages[id] = msg
			chanMsgs[id] = map[string]any{"$ref": "#/components/messages/" + id}
			refs = append(refs, map[string]any{"$ref": "#/channels/" + agg + "/messages/" + id})
		}
		for _, et := range byAgg[agg] {
			versions := et.Versions
			if len(versions) == 0 {
				versions = []int{et.Version}
			}
			for _, v := range versions {
				data := any(map[string]any{"type": "object"})
				summary := ""
				if es := m.schemas.get(et.Type, v); es != nil {
					data = schemaBody(es.doc)
					if d, ok := es.doc.(map[string]any); ok {
						summary, _ = d["description"].(string)
					}
				}
				title := fmtType(et.Type, v)
				if v != et.Version {
					title += " (older version: readers upcast it to v" + strconv.Itoa(et.Version) + ")"
				}
				add(messageID(et.Type, v), message(et.Type, title, summary, v, data, false))
			}
		}
		for _, d := range opts.Derived {
			if d.Topic == m.Topic(agg) {
				msg, err := derivedMessage(d)
				if err != nil {
					return nil, err
				}
				add(messageID(d.Type, d.Version), msg)
			}
		}
		for _, c := range []struct {
			typ, summary string
			data         map[string]any
		}{
			{SnapshotBeginType, "Control record: snapshot epoch begins. Written to every partition.", controlSchema(true)},
			{SnapshotEndType, "Control record: snapshot epoch ended; views drop what the epoch did not contain. Written to every partition.", controlSchema(true)},
			{TruncateType, "Control record: the tables were truncated; views clear what they hold from them. Written to every partition.", controlSchema(false)},
		} {
			add(messageID(c.typ, 1)+"."+agg, message(c.typ, c.typ, c.summary, 1, c.data, true))
		}
		channels[agg] = map[string]any{
			"address":     m.Topic(agg),
			"title":       "Aggregate " + agg,
			"description": fmt.Sprintf("All events of aggregate type %q, keyed by aggregate id, in position order per key.", agg),
			"messages":    chanMsgs,
			"bindings":    map[string]any{"kafka": map[string]any{"topic": m.Topic(agg), "bindingVersion": kafkaBindingVersion}},
		}
		operations["publish."+agg] = map[string]any{
			"action":   "send",
			"title":    "cdcflow publishes " + agg + " events",
			"channel":  map[string]any{"$ref": "#/channels/" + agg},
			"messages": refs,
		}
	}
	if err := m.derivedChannels(opts.Derived, channels, operations, messages); err != nil {
		return nil, err
	}
	const dlID = "cdcflow.DeadLetter.v1"
	messages[dlID] = message(DeadLetterType, DeadLetterType, "A change or event that could not be mapped or published, with the reason; excluded columns are never in it.", 1, deadLetterSchema(), false)
	channels["deadletter"] = map[string]any{
		"address":     m.DeadLetterTopic(),
		"title":       "Dead letters",
		"description": "Changes that could not be mapped and events that failed their schema or size limit.",
		"messages":    map[string]any{dlID: map[string]any{"$ref": "#/components/messages/" + dlID}},
		"bindings":    map[string]any{"kafka": map[string]any{"topic": m.DeadLetterTopic(), "bindingVersion": kafkaBindingVersion}},
	}
	operations["publish.deadletter"] = map[string]any{
		"action":   "send",
		"title":    "cdcflow publishes dead letters",
		"channel":  map[string]any{"$ref": "#/channels/deadletter"},
		"messages": []any{map[string]any{"$ref": "#/channels/deadletter/messages/" + dlID}},
	}
	doc := map[string]any{
		"asyncapi": asyncAPIVersion,
		"info": map[string]any{
			"title":       opts.Title,
			"version":     opts.Version,
			"description": "Domain events cdcflow derives from the row changes of a PostgreSQL database, generated from mapping " + m.file + ". Every message is a CloudEvents 1.0 event in structured mode (binary mode carries the same attributes as ce_ headers).",
		},
		"defaultContentType": "application/cloudevents+json",
		"channels":           channels,
		"operations":         operations,
		"components":         map[string]any{"messages": messages},
	}
	return json.MarshalIndent(doc, "", "  ")
}

// derivedChannels adds a channel per topic of the derived events that is
// no aggregate's topic, with its messages and publish operation.
func (m *Mapping) derivedChannels(derived []CatalogEvent, channels, operations, messages map[string]any) error {
	aggTopic := map[string]bool{}
	for _, agg := range m.AggregateTypes() {
		aggTopic[m.Topic(agg)] = true
	}
	byTopic := map[string][]CatalogEvent{}
	var topics []string
	for _, d := range derived {
		if aggTopic[d.Topic] {
			continue
		}
		if _, ok := byTopic[d.Topic]; !ok {
			topics = append(topics, d.Topic)
		}
		byTopic[d.Topic] = append(byTopic[d.Topic], d)
	}
	for _, topic := range topics {
		id := "derived." + topic
		chanMsgs := map[string]any{}
		var refs []any
		for _, d := range byTopic[topic] {
			msg, err := derivedMessage(d)
			if err != nil {
				return err
			}
			mid := messageID(d.Type, d.Version)
			messages[mid] = msg
			chanMsgs[mid] = map[string]any{"$ref": "#/components/messages/" + mid}
			refs = append(refs, map[string]any{"$ref": "#/channels/" + id + "/messages/" + mid})
		}
		channels[id] = map[string]any{
			"address":     topic,
			"title":       "Derived events on " + topic,
			"description": "Events derived by CEP rules from the aggregate topics, keyed by the rule's key (the derived aggregate id), in position order per key.",
			"messages":    chanMsgs,
			"bindings":    map[string]any{"kafka": map[string]any{"topic": topic, "bindingVersion": kafkaBindingVersion}},
		}
		operations["publish."+id] = map[string]any{
			"action":   "send",
			"title":    "cdcflow cep publishes derived events on " + topic,
			"channel":  map[string]any{"$ref": "#/channels/" + id},
			"messages": refs,
		}
	}
	return nil
}

// derivedMessage is the message of one derived event version.
func derivedMessage(d CatalogEvent) (map[string]any, error) {
	data := any(map[string]any{"type": "object"})
	if len(d.Schema) > 0 {
		var doc any
		if err := json.Unmarshal(d.Schema, &doc); err != nil {
			return nil, fmt.Errorf("schema of derived event %s: %w", fmtType(d.Type, d.Version), err)
		}
		data = schemaBody(doc)
	}
	summary := d.Summary
	if summary == "" {
		if doc, ok := data.(map[string]any); ok {
			summary, _ = doc["description"].(string)
		}
	}
	return message(d.Type, fmtType(d.Type, d.Version), summary, d.Version, data, false), nil
}

// messageID returns the component id of an event version: Type.vN.
func messageID(typ string, v int) string { return typ + ".v" + strconv.Itoa(v) }

func message(typ, title, summary string, version int, data any, control bool) map[string]any {
	msg := map[string]any{
		"name":        typ,
		"title":       title,
		"contentType": "application/cloudevents+json",
		"payload":     envelopeSchema(typ, version, data, control),
		"bindings": map[string]any{"kafka": map[string]any{
			"key":            map[string]any{"type": "string", "description": "the aggregate id (control records: empty)"},
			"bindingVersion": kafkaBindingVersion,
		}},
	}
	if summary != "" {
		msg["summary"] = summary
	}
	return msg
}

// envelopeSchema is the CloudEvents structured-mode envelope around data,
// as EncodeEvent writes it.
func envelopeSchema(typ string, version int, data any, control bool) map[string]any {
	str := func(desc string) map[string]any { return map[string]any{"type": "string", "description": desc} }
	decimal := func(desc string) map[string]any {
		return map[string]any{"type": "string", "pattern": "^[0-9]+$", "description": desc}
	}
	props := map[string]any{
		"specversion":     map[string]any{"type": "string", "const": "1.0"},
		"id":              str("hash of source and position: the same change always has the same id"),
		"source":          str("postgres://<system_identifier>/<database>?tl=<timeline>"),
		"type":            map[string]any{"type": "string", "const": typ},
		"subject":         str("the aggregate id"),
		"time":            map[string]any{"type": "string", "format": "date-time", "description": "commit time of the source transaction"},
		"datacontenttype": map[string]any{"type": "string", "const": DataContentType},
		"dataschema":      map[string]any{"type": "string", "const": DataSchemaURI(typ, version)},
		"sequence":        map[string]any{"type": "string", "pattern": "^[0-9A-F]{16}-[0-9A-F]{8}-[0-9A-F]{4}$", "description": "the position: commit LSN, change index and event ordinal in fixed-width hex; sorts as a string"},
		"partitionkey":    str("the aggregate id, the record key"),
		"aggregatetype":   str("the aggregate type"),
		"pglsn":           str("commit LSN of the source transaction, as PostgreSQL prints it"),
		"pgxid":           decimal("transaction id of the source transaction"),
		"epoch":           decimal("snapshot epoch"),
		"data":            data,
	}
	required := []any{"specversion", "id", "source", "type", "sequence", "data"}
	if control {
		props["control"] = map[string]any{"type": "string", "enum": []any{"snapshot_begin", "snapshot_end", "truncate"}}
		required = append(required, "control")
	} else {
		required = append(required, "subject", "dataschema")
	}
	if typ == DeadLetterType {
		props["deadletter"] = map[string]any{"type": "string", "const": "true"}
		required = append(required, "deadletter")
	}
	return map[string]any{"type": "object", "required": required, "properties": props}
}

// schemaBody returns an event schema without the keywords that only make
// sense at a document's root.
func schemaBody(doc any) any {
	d, ok := doc.(map[string]any)
	if !ok {
		return doc
	}
	out := make(map[string]any, len(d))
	for k, v := range d {
		if k == "$schema" || k == "$id" {
			continue
		}
		out[k] = v
	}
	return out
}

func controlSchema(snapshot bool) map[string]any {
	tables := map[string]any{"type": "array", "items": map[string]any{"type": "string"}}
	if snapshot {
		return map[string]any{"type": "object", "required": []any{"epoch", "tables"}, "properties": map[string]any{
			"epoch": map[string]any{"type": "integer", "minimum": 0}, "tables": tables}}
	}
	return map[string]any{"type": "object", "required": []any{"tables"}, "properties": map[string]any{
		"tables": tables, "cascade": map[string]any{"type": "boolean"}, "restart_identity": map[string]any{"type": "boolean"}}}
}

func deadLetterSchema() map[string]any {
	str := map[string]any{"type": "string"}
	obj := map[string]any{"type": "object"}
	return map[string]any{"type": "object", "required": []any{"reason", "position", "lsn"}, "properties": map[string]any{
		"reason": str, "rule": str, "table": str, "op": str, "position": str, "lsn": str,
		"xid": map[string]any{"type": "integer"}, "key": obj, "row": obj, "old": obj,
		"event_type": str, "version": map[string]any{"type": "integer"}, "aggregate_type": str, "aggregate_id": str,
		"omitted": map[string]any{"type": "array", "items": str},
	}}
}
