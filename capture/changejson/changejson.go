// Package changejson renders capture messages as the JSON objects `cdcflow
// tail` prints, one per message: a debugging view of the decoded change
// stream. Values follow DESIGN.md's table of event JSON values.
//
// It imports only the standard library and capture; the one place it
// writes is the io.Writer a Printer is given.
package changejson

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/cdcflow/cdcflow/capture"
)

// Line renders m as the JSON object `cdcflow tail` prints, or false when it
// prints nothing for m: a heartbeat, or a change of a table show rejects
// (show nil: every table). A TRUNCATE is shown when show accepts any of its
// tables.
func Line(m capture.Message, show func(*capture.Relation) bool) (map[string]any, bool) {
	switch m := m.(type) {
	case *capture.Connected:
		return map[string]any{"type": "connected", "source": m.Source.URI(), "start_lsn": m.StartLSN.String(), "new_source": m.NewSource}, true
	case *capture.Begin:
		return map[string]any{"type": "begin", "lsn": m.FinalLSN.String(), "xid": m.XID, "commit_time": timeText(m.CommitTime)}, true
	case *capture.Commit:
		return map[string]any{"type": "commit", "lsn": m.FinalLSN.String(), "end_lsn": m.EndLSN.String(), "xid": m.XID, "commit_time": timeText(m.CommitTime)}, true
	case *capture.Marker:
		if m.Kind == capture.MarkerHeartbeat {
			return nil, false
		}
		var tables []string
		for _, rel := range m.Tables {
			tables = append(tables, rel.QualifiedName())
		}
		return map[string]any{"type": m.Kind.String(), "epoch": m.Epoch, "lsn": m.LSN.String(), "time": timeText(m.Time), "tables": tables}, true
	case *capture.Change:
		if show != nil && !shown(m, show) {
			return nil, false
		}
		line := map[string]any{
			"type": m.Op.String(), "lsn": m.FinalLSN.String(), "index": m.Index, "xid": m.XID,
			"commit_time": timeText(m.CommitTime), "table": m.Relation.QualifiedName(),
		}
		if m.Op == capture.OpRead {
			line["epoch"] = m.Epoch
		}
		if m.Op == capture.OpTruncate {
			var names []string
			for _, rel := range m.Truncated {
				names = append(names, rel.QualifiedName())
			}
			line["tables"], line["cascade"], line["restart_identity"] = names, m.Cascade, m.RestartIdentity
			return line, true
		}
		if m.Old != nil {
			line["old"], _ = row(m.Relation, m.Old)
		}
		if m.New != nil {
			r, unchanged := row(m.Relation, m.New)
			line["new"] = r
			if len(unchanged) > 0 {
				line["unchanged"] = unchanged
			}
		}
		return line, true
	}
	return nil, false
}

func shown(c *capture.Change, show func(*capture.Relation) bool) bool {
	rels := c.Truncated
	if len(rels) == 0 {
		rels = []*capture.Relation{c.Relation}
	}
	for _, rel := range rels {
		if rel != nil && show(rel) {
			return true
		}
	}
	return false
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000000Z07:00")
}

// row renders a tuple as column -> JSON value; absent columns are left
// out, unchanged TOAST values too, and listed.
func row(rel *capture.Relation, vals []capture.Value) (map[string]any, []string) {
	out := make(map[string]any, len(vals))
	var unchanged []string
	for i, v := range vals {
		if i >= len(rel.Columns) {
			break
		}
		name := rel.Columns[i].Name
		switch v.Kind {
		case capture.KindNull:
			out[name] = nil
		case capture.KindUnchangedTOAST:
			unchanged = append(unchanged, name)
		case capture.KindValue:
			out[name] = Value(v.Data)
		case capture.KindEncoded:
			// A deferred value is decoded here; one that does not decode
			// is shown as the text PostgreSQL sent.
			if d, err := v.Decoded(); err == nil {
				out[name] = Value(d.Data)
			} else {
				out[name] = fmt.Sprint(v.Data)
			}
		}
	}
	return out, unchanged
}

// Value renders a decoded column value (capture.Value.Data) as DESIGN.md's
// event JSON column says: numerics and special floats as strings, times in
// ISO 8601, bytea as base64, JSON as it is, arrays element by element.
func Value(d any) any {
	switch d := d.(type) {
	case capture.Numeric:
		return string(d)
	case float64:
		switch {
		case math.IsNaN(d):
			return "NaN"
		case math.IsInf(d, 1):
			return "Infinity"
		case math.IsInf(d, -1):
			return "-Infinity"
		}
		return d
	case capture.LocalTime:
		return d.Format("2006-01-02T15:04:05.999999")
	case time.Time:
		return d.UTC().Format("2006-01-02T15:04:05.999999Z07:00")
	case []byte:
		return base64.StdEncoding.EncodeToString(d)
	case json.RawMessage:
		if json.Valid(d) {
			return d
		}
		return string(d)
	case []any:
		out := make([]any, len(d))
		for i, e := range d {
			if e != nil {
				out[i] = Value(e)
			}
		}
		return out
	}
	return d
}
