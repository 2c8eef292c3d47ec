package flow

import (
	"context"
	"log/slog"
	"slices"
	"testing"

	"github.com/cdcflow/cdcflow/capture"
)

func TestTxCursorRoundTrip(t *testing.T) {
	c := txCursor{Source: "postgres://7/db?tl=1", LSN: 0x16B3748, Records: 17, Mapping: "0123456789abcdef"}
	got, err := parseTxCursor(c.encode())
	if err != nil || got != c {
		t.Fatalf("parseTxCursor(%s) = %+v, %v; want %+v", c.encode(), got, err, c)
	}
	if got, err := parseTxCursor(nil); err != nil || got != (txCursor{}) {
		t.Errorf("parseTxCursor(nil) = %+v, %v; want the zero cursor", got, err)
	}
	for _, bad := range []string{`{`, `{"lsn":"x"}`} {
		if _, err := parseTxCursor([]byte(bad)); err == nil {
			t.Errorf("parseTxCursor(%s) succeeded; want error", bad)
		}
	}
}

// TestEOSStateSkip replays the messages of a stream as a restart would and
// checks which records are handed on.
func TestEOSStateSkip(t *testing.T) {
	src := capture.Source{SystemID: "7", Database: "db", Timeline: 1}
	other := capture.Source{SystemID: "7", Database: "db", Timeline: 2}
	type step struct {
		msg  capture.Message
		emit int // records the mapper emits for msg
	}
	tx := func(lsn capture.LSN, n int) []step {
		return []step{
			{msg: &capture.Begin{FinalLSN: lsn}},
			{msg: &capture.Change{FinalLSN: lsn}, emit: n},
			{msg: &capture.Commit{FinalLSN: lsn, EndLSN: lsn + 8}},
		}
	}
	snapshot := []step{
		{msg: &capture.Marker{Kind: capture.MarkerSnapshotBegin, LSN: 99}, emit: 2},
		{msg: &capture.Change{Op: capture.OpRead, FinalLSN: 99}, emit: 1},
		{msg: &capture.Change{Op: capture.OpRead, FinalLSN: 99}, emit: 1},
		{msg: &capture.Marker{Kind: capture.MarkerSnapshotEnd, LSN: 99}, emit: 2},
	}
	var stream []step
	stream = append(stream, snapshot...)
	stream = append(stream, tx(100, 3)...)
	stream = append(stream, tx(200, 5)...)
	tests := []struct {
		name   string
		stored txCursor
		source capture.Source
		want   []recCursor // handed on
	}{
		{name: "nothing stored", source: src, want: []recCursor{
			{99, 1}, {99, 2}, {99, 3}, {99, 4}, {99, 5}, {99, 6},
			{100, 1}, {100, 2}, {100, 3}, {200, 1}, {200, 2}, {200, 3}, {200, 4}, {200, 5}}},
		{name: "inside a transaction", source: src, stored: txCursor{Source: src.URI(), LSN: 200, Records: 2},
			want: []recCursor{{200, 3}, {200, 4}, {200, 5}}},
		{name: "after a whole transaction", source: src, stored: txCursor{Source: src.URI(), LSN: 100, Records: 3},
			want: []recCursor{{200, 1}, {200, 2}, {200, 3}, {200, 4}, {200, 5}}},
		{name: "inside the snapshot", source: src, stored: txCursor{Source: src.URI(), LSN: 99, Records: 3},
			want: []recCursor{{99, 4}, {99, 5}, {99, 6}, {100, 1}, {100, 2}, {100, 3}, {200, 1}, {200, 2}, {200, 3}, {200, 4}, {200, 5}}},
		{name: "another source skips nothing", source: other, stored: txCursor{Source: src.URI(), LSN: 200, Records: 5}, want: []recCursor{
			{99, 1}, {99, 2}, {99, 3}, {99, 4}, {99, 5}, {99, 6},
			{100, 1}, {100, 2}, {100, 3}, {200, 1}, {200, 2}, {200, 3}, {200, 4}, {200, 5}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &cursorState{skip: tt.stored, log: slog.New(slog.DiscardHandler)}
			var got []recCursor
			run := func(steps []step) {
				for _, st := range steps {
					s.track(st.msg)
					for range st.emit {
						if c, ok := s.next(); ok {
							got = append(got, c)
						}
					}
				}
			}
			s.connected(tt.source, 0)
			run(stream)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("handed on %v; want %v", got, tt.want)
			}
			// A reconnect resends the last transaction whole: nothing
			// more is handed on.
			got = nil
			s.connected(tt.source, 0)
			run(tx(200, 5))
			if len(got) != 0 {
				t.Errorf("after a reconnect resending transaction 200, handed on %v; want nothing", got)
			}
		})
	}
}

func TestNewEOSStateMappingChange(t *testing.T) {
	stored := txCursor{Source: "postgres://7/db?tl=1", LSN: 200, Records: 2, Mapping: "aaaa"}
	tests := []struct {
		name, mapping string
		want          txCursor
	}{
		{name: "same mapping", mapping: "aaaa", want: stored},
		{name: "unknown mapping", mapping: "", want: stored},
		{name: "changed mapping: the unit again whole", mapping: "bbbb",
			want: txCursor{Source: stored.Source, LSN: 200, Records: 0, Mapping: "aaaa"}},
	}
	for _, tt := range tests {
		s := newCursorState(stored, tt.mapping, slog.New(slog.DiscardHandler))
		if s.skip != tt.want {
			t.Errorf("%s: skip = %+v; want %+v", tt.name, s.skip, tt.want)
		}
	}
}

func TestSnapshotDone(t *testing.T) {
	src := capture.Source{SystemID: "7", Database: "db", Timeline: 1}
	const epoch = 0x500 // its records' unit is 0x4FF
	stored := func(c txCursor) []byte { return c.encode() }
	tests := []struct {
		name   string
		stored []byte
		want   bool
	}{
		{"nothing stored", nil, false},
		{"inside the epoch", stored(txCursor{Source: src.URI(), LSN: epoch - 1, Records: 40}), false},
		{"a later transaction committed", stored(txCursor{Source: src.URI(), LSN: 0x600, Records: 1}), true},
		{"another source", stored(txCursor{Source: "postgres://7/db?tl=2", LSN: 0x600, Records: 1}), false},
		{"before the epoch", stored(txCursor{Source: src.URI(), LSN: 0x400, Records: 3}), false},
		{"not a position", []byte("{"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SnapshotDone(tt.stored, src, epoch); got != tt.want {
				t.Errorf("SnapshotDone(%s) = %v; want %v", tt.stored, got, tt.want)
			}
		})
	}
}

// TestCursorStateTimelineCrossing: a resumed failover slot crossing to the
// promoted server's timeline past the stored position is expected (Info);
// any other change of source is a warning. Either way nothing is skipped.
func TestCursorStateTimelineCrossing(t *testing.T) {
	stored := txCursor{Source: "postgres://7/db?tl=1", LSN: 200, Records: 2}
	tests := []struct {
		name   string
		source capture.Source
		start  capture.LSN
		want   slog.Level
	}{
		{name: "newer timeline past the stored position", source: capture.Source{SystemID: "7", Database: "db", Timeline: 2}, start: 300, want: slog.LevelInfo},
		{name: "newer timeline before the stored position", source: capture.Source{SystemID: "7", Database: "db", Timeline: 2}, start: 150, want: slog.LevelWarn},
		{name: "another cluster", source: capture.Source{SystemID: "8", Database: "db", Timeline: 1}, start: 300, want: slog.LevelWarn},
		{name: "another database", source: capture.Source{SystemID: "7", Database: "other", Timeline: 2}, start: 300, want: slog.LevelWarn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var levels []slog.Level
			h := &levelRecorder{levels: &levels}
			s := &cursorState{skip: stored, log: slog.New(h)}
			s.connected(tt.source, tt.start)
			if len(levels) != 1 || levels[0] != tt.want {
				t.Errorf("logged at %v; want one record at %v", levels, tt.want)
			}
			if s.skip != (txCursor{}) {
				t.Errorf("skip = %+v after a change of source; want nothing skipped", s.skip)
			}
		})
	}
}

// levelRecorder is a slog.Handler that keeps the level of every record.
type levelRecorder struct{ levels *[]slog.Level }

func (h *levelRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *levelRecorder) Handle(_ context.Context, r slog.Record) error {
	*h.levels = append(*h.levels, r.Level)
	return nil
}
func (h *levelRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *levelRecorder) WithGroup(string) slog.Handler      { return h }
