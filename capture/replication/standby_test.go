package replication

import (
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/capture"
)

// newTestReader returns a Reader that captures the table of OID 1, at slot
// position start, with heartbeats off.
func newTestReader(t *testing.T, cfg Config, start capture.LSN) *Reader {
	t.Helper()
	cfg.DSN, cfg.Tables, cfg.HeartbeatInterval = "postgres://localhost/db", []string{"t"}, -1
	r, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.tableOIDs = map[uint32]bool{1: true}
	r.startSlot(start, true)
	return r
}

func TestStandbySendsTheConfirmedWatermark(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	r := newTestReader(t, Config{}, 0x100)
	f := newFakeConn(t.Context())
	s := standby{conn: f, r: r, interval: 10 * time.Second}

	steps := []struct {
		name    string
		at      time.Duration
		given   capture.LSN // handed on before the step (0: nothing)
		confirm capture.LSN // confirmed before the step (0: nothing)
		due     bool
		want    capture.LSN // the position the update carries, when due
	}{
		{"first update right away", 0, 0, 0, true, 0x100},
		{"nothing moved", time.Second, 0x200, 0, false, 0},
		{"confirmed moved", 2 * time.Second, 0, 0x180, true, 0x180},
		{"confirm past what was handed on is capped", 3 * time.Second, 0, 0x900, true, 0x200},
		{"interval passed", 13 * time.Second, 0, 0, true, 0x200},
	}
	for _, st := range steps {
		if st.given != 0 {
			r.give([]capture.Message{&capture.Commit{EndLSN: st.given}})
		}
		if st.confirm != 0 {
			r.Confirm(st.confirm)
		}
		now := t0.Add(st.at)
		if got := s.due(now); got != st.due {
			t.Fatalf("%s: due = %v; want %v", st.name, got, st.due)
		}
		if !st.due {
			continue
		}
		if err := s.send(now); err != nil {
			t.Fatal(err)
		}
		sent := f.sent()
		u := sent[len(sent)-1]
		if u.WALWritePosition != u.WALFlushPosition || u.WALFlushPosition != u.WALApplyPosition || capture.LSN(u.WALWritePosition) != st.want {
			t.Errorf("%s: update write %s flush %s apply %s; want all %s", st.name, u.WALWritePosition, u.WALFlushPosition, u.WALApplyPosition, st.want)
		}
		if !u.ClientTime.Equal(now) || !s.next.Equal(now.Add(s.interval)) {
			t.Errorf("%s: client time %v, next %v; want %v and %v", st.name, u.ClientTime, s.next, now, now.Add(s.interval))
		}
	}
}

func TestStandbyWake(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	s := standby{next: t0.Add(time.Second)}
	tests := []struct {
		now, want time.Duration
	}{
		{0, confirmWake},
		{confirmWake / 2, confirmWake}, // unchanged until it passes
		{confirmWake, 2 * confirmWake},
		{time.Second - time.Millisecond, time.Second}, // the status update comes first
	}
	for _, tt := range tests {
		if got := s.wake(t0.Add(tt.now)); !got.Equal(t0.Add(tt.want)) {
			t.Errorf("wake(+%v) = +%v; want +%v", tt.now, got.Sub(t0), tt.want)
		}
	}
}
