package pipeline

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/capture"
)

// This file reads recorded change streams: the JSON form of capture messages
// the golden tests, benchmarks and fuzz tests feed to a Mapper.
//
// A stream file is
//
//	{"mapping": "mapping.yaml",                 // relative to the stream file
//	 "relations": {"orders": {"schema": "public", "table": "orders", "identity": "f",
//	                "columns": [{"name": "id", "type": "int8", "key": true}, ...]}},
//	 "messages": [
//	   {"connected": {"system_id": "7301", "timeline": 1, "database": "shop"}},
//	   {"begin": {"lsn": "0/16B3748", "xid": 740, "time": "2026-11-23T10:15:00Z"}},
//	   {"change": {"op": "insert", "rel": "orders", "new": {"id": 1, ...}}},
//	   {"commit": {"end": "0/16B3778"}},
//	   {"relation": {"name": "orders", ...}},     // the table changed shape
//	   {"marker": {"kind": "snapshot_begin", "epoch": 1, "lsn": "0/1000", "tables": ["orders"]}},
//	   {"change": {"op": "read", "rel": "orders", "epoch": 1, "lsn": "0/1000", "index": 0, "new": {...}}}]}
//
// Column values are JSON typed by the column's type: numbers for integers,
// strings for numeric, dates, timestamps (RFC 3339 for timestamptz, without
// offset for timestamp), jsonb (the text PostgreSQL printed) and bytea (\x
// hex); arrays as JSON arrays; null for NULL; {"toast": true} for an unchanged
// TOAST value; a missing column is absent. Within a transaction, changes are
// indexed in order unless they give "index".

type streamFile struct {
	Mapping   string                 `json:"mapping"`
	Timezone  string                 `json:"timezone"`
	Relations map[string]relationDoc `json:"relations"`
	Messages  []messageDoc           `json:"messages"`
}

type relationDoc struct {
	Name     string      `json:"name"`
	Schema   string      `json:"schema"`
	Table    string      `json:"table"`
	Identity string      `json:"identity"`
	Columns  []columnDoc `json:"columns"`
}

type columnDoc struct {
	Name string `json:"name"`
	Type string `json:"type"`
	Key  bool   `json:"key"`
}

type messageDoc struct {
	Connected *struct {
		SystemID  string `json:"system_id"`
		Timeline  int32  `json:"timeline"`
		Database  string `json:"database"`
		NewSource bool   `json:"new_source"`
	} `json:"connected"`
	Begin *struct {
		LSN  string    `json:"lsn"`
		XID  uint32    `json:"xid"`
		Time time.Time `json:"time"`
	} `json:"begin"`
	Change *struct {
		Op              string                     `json:"op"`
		Rel             string                     `json:"rel"`
		Truncated       []string                   `json:"truncated"`
		Cascade         bool                       `json:"cascade"`
		RestartIdentity bool                       `json:"restart_identity"`
		Index           *uint32                    `json:"index"`
		LSN             string                     `json:"lsn"`
		Epoch           uint64                     `json:"epoch"`
		Time            time.Time                  `json:"time"`
		New             map[string]json.RawMessage `json:"new"`
		Old             map[string]json.RawMessage `json:"old"`
	} `json:"change"`
	Commit *struct {
		End string `json:"end"`
	} `json:"commit"`
	Relation *relationDoc `json:"relation"`
	Marker   *struct {
		Kind   string    `json:"kind"`
		Epoch  uint64    `json:"epoch"`
		LSN    string    `json:"lsn"`
		Time   time.Time `json:"time"`
		Tables []string  `json:"tables"`
	} `json:"marker"`
}

// stream is a decoded stream file.
type stream struct {
	mappingPath string
	timezone    string
	relations   map[string]*capture.Relation
	msgs        []capture.Message
}

func readStream(t testing.TB, path string) *stream {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := decodeStream(src)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if s.mappingPath != "" {
		s.mappingPath = filepath.Join(filepath.Dir(path), s.mappingPath)
	}
	return s
}

func decodeStream(src []byte) (*stream, error) {
	var f streamFile
	d := json.NewDecoder(bytes.NewReader(src))
	d.DisallowUnknownFields()
	if err := d.Decode(&f); err != nil {
		return nil, err
	}
	s := &stream{mappingPath: f.Mapping, timezone: f.Timezone, relations: map[string]*capture.Relation{}}
	for name, r := range f.Relations {
		s.relations[name] = r.relation()
	}
	var (
		begin    *capture.Begin
		index    uint32
		snapshot = map[string]uint32{}
	)
	for i, m := range f.Messages {
		switch {
		case m.Connected != nil:
			s.msgs = append(s.msgs, &capture.Connected{Source: capture.Source{SystemID: m.Connected.SystemID, Timeline: m.Connected.Timeline, Database: m.Connected.Database}, NewSource: m.Connected.NewSource})
		case m.Begin != nil:
			lsn, err := capture.ParseLSN(m.Begin.LSN)
			if err != nil {
				return nil, fmt.Errorf("message %d: %w", i, err)
			}
			begin = &capture.Begin{FinalLSN: lsn, XID: m.Begin.XID, CommitTime: m.Begin.Time}
			index = 0
			s.msgs = append(s.msgs, begin)
		case m.Commit != nil:
			if begin == nil {
				return nil, fmt.Errorf("message %d: commit without begin", i)
			}
			end, err := capture.ParseLSN(m.Commit.End)
			if err != nil {
				return nil, fmt.Errorf("message %d: %w", i, err)
			}
			s.msgs = append(s.msgs, &capture.Commit{FinalLSN: begin.FinalLSN, EndLSN: end, XID: begin.XID, CommitTime: begin.CommitTime})
			begin = nil
		case m.Relation != nil:
			s.relations[m.Relation.Name] = m.Relation.relation()
		case m.Marker != nil:
			lsn, err := capture.ParseLSN(m.Marker.LSN)
			if err != nil {
				return nil, fmt.Errorf("message %d: %w", i, err)
			}
			mk := &capture.Marker{Epoch: m.Marker.Epoch, LSN: lsn, Time: m.Marker.Time}
			switch m.Marker.Kind {
			case "snapshot_begin":
				mk.Kind = capture.MarkerSnapshotBegin
			case "snapshot_end":
				mk.Kind = capture.MarkerSnapshotEnd
			case "heartbeat":
				mk.Kind = capture.MarkerHeartbeat
			default:
				return nil, fmt.Errorf("message %d: marker kind %q", i, m.Marker.Kind)
			}
			for _, n := range m.Marker.Tables {
				r := s.relations[n]
				if r == nil {
					return nil, fmt.Errorf("message %d: no relation %q", i, n)
				}
				mk.Tables = append(mk.Tables, r)
			}
			s.msgs = append(s.msgs, mk)
		case m.Change != nil:
			mc := m.Change
			c := &capture.Change{Cascade: mc.Cascade, RestartIdentity: mc.RestartIdentity, Epoch: mc.Epoch}
			switch mc.Op {
			case "insert":
				c.Op = capture.OpInsert
			case "update":
				c.Op = capture.OpUpdate
			case "delete":
				c.Op = capture.OpDelete
			case "truncate":
				c.Op = capture.OpTruncate
			case "read":
				c.Op = capture.OpRead
			default:
				return nil, fmt.Errorf("message %d: op %q", i, mc.Op)
			}
			if c.Op == capture.OpTruncate {
				for _, n := range mc.Truncated {
					r := s.relations[n]
					if r == nil {
						return nil, fmt.Errorf("message %d: no relation %q", i, n)
					}
					c.Truncated = append(c.Truncated, r)
				}
				if len(c.Truncated) > 0 {
					c.Relation = c.Truncated[0]
				}
			} else {
				c.Relation = s.relations[mc.Rel]
				if c.Relation == nil {
					return nil, fmt.Errorf("message %d: no relation %q", i, mc.Rel)
				}
			}
			if c.Op == capture.OpRead {
				lsn, err := capture.ParseLSN(mc.LSN)
				if err != nil {
					return nil, fmt.Errorf("message %d: %w", i, err)
				}
				c.FinalLSN, c.CommitTime = lsn, mc.Time
				key := fmt.Sprint(mc.Epoch)
				c.Index = snapshot[key]
				snapshot[key]++
			} else {
				if begin == nil {
					return nil, fmt.Errorf("message %d: change outside a transaction", i)
				}
				c.FinalLSN, c.XID, c.CommitTime, c.Index = begin.FinalLSN, begin.XID, begin.CommitTime, index
				index++
			}
			if mc.Index != nil {
				c.Index = *mc.Index
			}
			var err error
			if c.Relation != nil && c.Op != capture.OpTruncate {
				if mc.New != nil {
					if c.New, err = tupleValues(c.Relation, mc.New); err != nil {
						return nil, fmt.Errorf("message %d: new: %w", i, err)
					}
				}
				if mc.Old != nil {
					if c.Old, err = tupleValues(c.Relation, mc.Old); err != nil {
						return nil, fmt.Errorf("message %d: old: %w", i, err)
					}
				}
			}
			s.msgs = append(s.msgs, c)
		default:
			return nil, fmt.Errorf("message %d: empty", i)
		}
	}
	return s, nil
}

func (r relationDoc) relation() *capture.Relation {
	rel := &capture.Relation{Schema: r.Schema, Table: r.Table, ReplicaIdentity: capture.IdentityDefault}
	if rel.Schema == "" {
		rel.Schema = "public"
	}
	if r.Identity != "" {
		rel.ReplicaIdentity = capture.ReplicaIdentity(r.Identity[0])
	}
	for _, c := range r.Columns {
		rel.Columns = append(rel.Columns, capture.Column{Name: c.Name, TypeName: c.Type, Key: c.Key})
	}
	return rel
}

func tupleValues(rel *capture.Relation, m map[string]json.RawMessage) ([]capture.Value, error) {
	vals := make([]capture.Value, len(rel.Columns))
	for name := range m {
		if rel.ColumnIndex(name) < 0 {
			return nil, fmt.Errorf("no column %q", name)
		}
	}
	for i, col := range rel.Columns {
		raw, ok := m[col.Name]
		if !ok {
			continue
		}
		v, err := columnValue(col.TypeName, raw)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", col.Name, err)
		}
		vals[i] = v
	}
	return vals, nil
}

func columnValue(typ string, raw json.RawMessage) (capture.Value, error) {
	trimmed := bytes.TrimSpace(raw)
	if string(trimmed) == "null" {
		return capture.Value{Kind: capture.KindNull}, nil
	}
	if string(trimmed) == `{"toast":true}` || string(trimmed) == `{"toast": true}` {
		return capture.Value{Kind: capture.KindUnchangedTOAST}, nil
	}
	d, err := columnData(typ, trimmed)
	if err != nil {
		return capture.Value{}, err
	}
	return capture.Value{Kind: capture.KindValue, Data: d}, nil
}

func columnData(typ string, raw json.RawMessage) (any, error) {
	if string(raw) == "null" {
		return nil, nil
	}
	if elem, ok := strings.CutPrefix(typ, "_"); ok {
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, err
		}
		out := make([]any, len(items))
		for i, it := range items {
			v, err := columnData(elem, it)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
	var s string
	switch typ {
	case "int2", "int4", "int8":
		var v int64
		err := json.Unmarshal(raw, &v)
		return v, err
	case "float4", "float8":
		var v float64
		if err := json.Unmarshal(raw, &v); err == nil {
			return v, nil
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		switch s {
		case "NaN":
			return nan(), nil
		case "Infinity":
			return inf(1), nil
		case "-Infinity":
			return inf(-1), nil
		}
		return nil, fmt.Errorf("float %q", s)
	case "bool":
		var v bool
		err := json.Unmarshal(raw, &v)
		return v, err
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("%s value must be a JSON string: %w", typ, err)
	}
	switch typ {
	case "numeric", "money":
		return capture.Numeric(s), nil
	case "timestamp":
		t, err := time.Parse("2006-01-02T15:04:05.999999", s)
		if err != nil {
			return s, nil // infinity and the like stay text
		}
		return capture.LocalTime{Time: t}, nil
	case "timestamptz":
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return s, nil
		}
		return t.UTC(), nil
	case "json", "jsonb":
		return json.RawMessage(s), nil
	case "bytea":
		h, ok := strings.CutPrefix(s, `\x`)
		if !ok {
			return base64.StdEncoding.DecodeString(s)
		}
		return hex.DecodeString(h)
	}
	return s, nil
}
