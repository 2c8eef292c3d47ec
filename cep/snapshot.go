package cep

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/cdcflow/cdcflow/pipeline"
)

// snapshotFormat is the version of Snapshot's encoding.
const snapshotFormat = 1

// snapshot is the whole state of an Engine, as Snapshot encodes it.
type snapshot struct {
	Format     int        `json:"format"`
	Source     string     `json:"source"`
	Watermark  time.Time  `json:"watermark"`
	Partitions []snapPart `json:"partitions"`
	Seq        seqState   `json:"seq"`
	Rules      []snapRule `json:"rules"`
	Duplicates uint64     `json:"duplicates,omitempty"`
}

type snapPart struct {
	Topic     string            `json:"topic"`
	Partition int32             `json:"partition"`
	Offset    int64             `json:"offset"`
	Position  pipeline.Position `json:"position,omitempty"`
}

type snapRule struct {
	Name    string              `json:"name"`
	Version int                 `json:"version"`
	Digest  string              `json:"digest"`
	Stats   RuleStats           `json:"stats"`
	Keys    map[string]*keyJSON `json:"keys"`
}

// Snapshot returns the engine's whole state as bytes: the watermark, each
// partition's last released offset and position, and every rule's open
// matches and windows (timers are rebuilt from them). The same state
// always gives the same bytes (JSON with sorted keys). Records buffered by
// the merge are not part of it: a restart seeks each partition to
// Offsets()+1 and reads them again. Store it atomically with the derived
// events and the consumed offsets.
func (e *Engine) Snapshot() ([]byte, error) {
	s := snapshot{Format: snapshotFormat, Source: e.cfg.Source, Watermark: e.wm, Seq: e.seq, Duplicates: e.duplicates}
	for _, p := range e.parts {
		s.Partitions = append(s.Partitions, snapPart{Topic: p.id.Topic, Partition: p.id.Partition, Offset: p.offset, Position: p.rel})
	}
	for _, rs := range e.state {
		keys := make(map[string]*keyJSON, len(rs.keys))
		for k, ks := range rs.keys {
			keys[k] = ks.toJSON(rs.r, k)
		}
		s.Rules = append(s.Rules, snapRule{Name: rs.r.name, Version: rs.r.version, Digest: rs.r.digest, Stats: rs.stats, Keys: keys})
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("cep: encode snapshot: %w", err)
	}
	return b, nil
}

// Restore replaces the engine's state with a Snapshot's. Rule evolution:
// a rule whose name and version are in the snapshot gets its state back
// (the same version with another definition is an error: bump the
// version); a rule that is new, or has a new version, starts empty from
// the snapshot's offsets; a rule of the snapshot that is gone is dropped.
// A partition of the snapshot that is no longer configured is an error
// (the partition count of an event topic never changes); a new one starts
// from offset -1. Buffered records are dropped.
func (e *Engine) Restore(b []byte) error {
	var s snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("cep: decode snapshot: %w", err)
	}
	if s.Format != snapshotFormat {
		return fmt.Errorf("cep: snapshot format %d: want %d", s.Format, snapshotFormat)
	}
	if s.Source != e.cfg.Source {
		return fmt.Errorf("cep: snapshot of source %q, engine's is %q: ids would change", s.Source, e.cfg.Source)
	}
	for _, p := range e.parts {
		p.buf, p.head, p.offset, p.pos, p.rel = nil, 0, -1, "", ""
	}
	for _, sp := range s.Partitions {
		id := PartitionID{Topic: sp.Topic, Partition: sp.Partition}
		ix, ok := e.partIx[id]
		if !ok {
			return fmt.Errorf("cep: snapshot has partition %s, which is not in Config.Partitions", id)
		}
		p := e.parts[ix]
		p.offset, p.pos, p.rel = sp.Offset, sp.Position, sp.Position
	}
	byName := map[string]snapRule{}
	for _, sr := range s.Rules {
		byName[sr.Name] = sr
	}
	e.wm, e.seq, e.duplicates = s.Watermark, s.Seq, s.Duplicates
	for i := range e.timers {
		e.timers[i] = nil
	}
	for _, rs := range e.state {
		r := rs.r
		rs.keys = map[string]*keyState{}
		rs.stats = RuleStats{Rule: r.name, Version: r.version}
		sr, ok := byName[r.name]
		if !ok || sr.Version != r.version {
			continue // new rule or new version: empty state
		}
		if sr.Digest != r.digest {
			return fmt.Errorf("cep: rule %q version %d changed since the snapshot: give it a new version", r.name, r.version)
		}
		rs.stats = sr.Stats
		rs.stats.OpenMatches, rs.stats.Timers = 0, 0
		for _, k := range sortedKeys(sr.Keys) {
			kj := sr.Keys[k]
			if kj == nil {
				continue
			}
			ks := e.keyFromJSON(kj, k)
			rs.keys[k] = ks
			e.touch(rs, k, ks, weight{})
		}
	}
	for i := range e.timers {
		e.timers[i].init()
	}
	return nil
}
