package pipeline

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/internal/jsonx"
)

// DeadLetterType is the Type of dead-letter events.
const DeadLetterType = "cdcflow.DeadLetter"

// Control event types, by ControlKind.
const (
	SnapshotBeginType = "cdcflow.SnapshotBegin"
	SnapshotEndType   = "cdcflow.SnapshotEnd"
	TruncateType      = "cdcflow.Truncate"
	ProgressType      = "cdcflow.Progress"
)

func controlType(k ControlKind) string {
	switch k {
	case ControlSnapshotBegin:
		return SnapshotBeginType
	case ControlSnapshotEnd:
		return SnapshotEndType
	case ControlTruncate:
		return TruncateType
	case ControlProgress:
		return ProgressType
	}
	return ""
}

// DeadLetter is the data of a dead-letter event: a change (or an event) that
// could not be mapped, with the reason. Excluded columns are never in it. An
// event too large to publish is dead-lettered by reference: Row and Old are
// left out and Omitted names what was left out, so that the record stays small
// and the row can be looked up by Table and Key.
type DeadLetter struct {
	Reason   string   `json:"reason"`
	Rule     string   `json:"rule,omitempty"`
	Table    string   `json:"table,omitempty"`
	Op       string   `json:"op,omitempty"`
	Position Position `json:"position"`
	LSN      string   `json:"lsn"`
	XID      uint32   `json:"xid,omitempty"`
	// Key is the row's replica-identity key, column -> value.
	Key json.RawMessage `json:"key,omitempty"`
	// Row and Old are the new and old tuples, column -> value.
	Row json.RawMessage `json:"row,omitempty"`
	Old json.RawMessage `json:"old,omitempty"`
	// EventType, Version, AggregateType and AggregateID name the event that
	// could not be published, when there was one.
	EventType     string `json:"event_type,omitempty"`
	Version       int    `json:"version,omitempty"`
	AggregateType string `json:"aggregate_type,omitempty"`
	AggregateID   string `json:"aggregate_id,omitempty"`
	// Omitted lists the columns (or "data") left out of a by-reference record.
	Omitted []string `json:"omitted,omitempty"`
}

// deadLetter returns the dead-letter event of a change that rule could not map.
// byRef leaves the row values out, listing them in Omitted.
func (mp *Mapper) deadLetter(c *capture.Change, b *binding, rule string, ordinal uint16, reason string, byRef []string) Event {
	dl := DeadLetter{
		Reason:   reason,
		Rule:     rule,
		Table:    RelationName(c.Relation).String(),
		Op:       c.Op.String(),
		Position: MakePosition(c.FinalLSN, c.Index, ordinal),
		LSN:      c.FinalLSN.String(),
		XID:      c.XID,
	}
	keyVals := c.New
	if c.Op == capture.OpDelete || keyVals == nil {
		keyVals = c.Old
	}
	dl.Key = rowJSON(b, keyVals, true)
	if byRef != nil {
		dl.Omitted = byRef
	} else {
		dl.Row = rowJSON(b, c.New, false)
		dl.Old = rowJSON(b, c.Old, false)
	}
	if b.t != nil {
		dl.AggregateType = b.t.aggType
	}
	return mp.deadLetterEvent(dl, c.CommitTime, c.FinalLSN, c.XID, c.Epoch)
}

// oversized returns the by-reference dead letter of an event larger than the
// mapping's max_event_bytes.
func (mp *Mapper) oversized(ev Event, size int, c *capture.Change, b *binding, r *eventRule) Event {
	reason := fmt.Sprintf("event %s of %d bytes exceeds max_event_bytes %d", ev.Type, size, mp.maxEvent)
	if c != nil {
		var omitted []string
		for i, col := range b.rel.Columns {
			if !col.Key && !b.hidden[i] {
				omitted = append(omitted, col.Name)
			}
		}
		if omitted == nil {
			omitted = []string{}
		}
		e := mp.deadLetter(c, b, r.name, positionOrdinal(ev.Position), reason, omitted)
		return withEvent(e, ev)
	}
	dl := DeadLetter{Reason: reason, Rule: r.name, Table: r.table, Position: ev.Position, LSN: ev.LSN.String(), XID: ev.XID, Omitted: []string{"data"}}
	return withEvent(mp.deadLetterEvent(dl, ev.Time, ev.LSN, ev.XID, ev.Epoch), ev)
}

// eventDeadLetter returns the dead letter of a gathered event that failed its
// schema; it carries the event's data, which holds only mapped fields.
func (mp *Mapper) eventDeadLetter(ev Event, data []byte, r *eventRule, reason string) Event {
	dl := DeadLetter{Reason: reason, Rule: r.name, Table: r.table, Position: ev.Position, LSN: ev.LSN.String(), XID: ev.XID, Row: append(json.RawMessage(nil), data...)}
	return withEvent(mp.deadLetterEvent(dl, ev.Time, ev.LSN, ev.XID, ev.Epoch), ev)
}

// withEvent records in a dead-letter event which event it stands for.
func withEvent(dlEvent, ev Event) Event {
	var dl DeadLetter
	if json.Unmarshal(dlEvent.Data, &dl) != nil {
		return dlEvent
	}
	dl.EventType, dl.Version, dl.AggregateType, dl.AggregateID = ev.Type, ev.Version, ev.AggregateType, ev.AggregateID
	data, err := json.Marshal(dl)
	if err != nil {
		return dlEvent
	}
	dlEvent.Data = data
	return dlEvent
}

func (mp *Mapper) deadLetterEvent(dl DeadLetter, t time.Time, lsn capture.LSN, xid uint32, epoch uint64) Event {
	data, err := json.Marshal(dl)
	if err == nil && len(data) > mp.maxEvent && (dl.Row != nil || dl.Old != nil) {
		// A dead letter must not be too large to publish either: it keeps
		// the key and leaves the row out.
		dl.Reason = fmt.Sprintf("%s (dead letter of %d bytes exceeds max_event_bytes %d: row left out)", dl.Reason, len(data), mp.maxEvent)
		dl.Row, dl.Old, dl.Omitted = nil, nil, []string{"row"}
		data, err = json.Marshal(dl)
	}
	if err != nil {
		// Every field is a string, number or valid raw JSON built here.
		data = []byte(`{"reason":"dead letter could not be encoded"}`)
	}
	return Event{
		ID:          EventID(mp.source, dl.Position),
		Source:      mp.source,
		Type:        DeadLetterType,
		Version:     1,
		AggregateID: dl.Table,
		Position:    dl.Position,
		LSN:         lsn,
		XID:         xid,
		Time:        t,
		Epoch:       epoch,
		Data:        data,
		DeadLetter:  true,
	}
}

// rowJSON returns a tuple as a JSON object of its visible columns (keyOnly:
// only the key columns), or nil when there is no tuple. Values that cannot be
// encoded are written as their Go text, so a dead letter never fails.
func rowJSON(b *binding, vals []capture.Value, keyOnly bool) json.RawMessage {
	if vals == nil || b == nil {
		return nil
	}
	out := []byte{'{'}
	n := 0
	for i, col := range b.rel.Columns {
		if i >= len(vals) || b.hidden[i] || keyOnly && !col.Key {
			continue
		}
		v := vals[i]
		if v.Kind == capture.KindAbsent || v.Kind == capture.KindUnchangedTOAST {
			continue
		}
		if n > 0 {
			out = append(out, ',')
		}
		n++
		out = jsonx.AppendString(out, col.Name)
		out = append(out, ':')
		// A value that does not decode is written as the text PostgreSQL sent.
		dv, err := v.Decoded()
		j := out
		if err == nil {
			j, err = appendValueJSON(out, dv, false)
		}
		if err != nil {
			j = jsonx.AppendString(out, fmt.Sprint(v.Data))
		}
		out = j
	}
	return append(out, '}')
}
