package replication

import (
	"context"
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgproto3"
)

// fakeConn is a replConn for tests: receive returns what the test sends on
// in, or nil at the read deadline or once ctx is done (as the session's end
// sets a deadline in the past on a real connection). Its timers are the
// runtime's, so testing/synctest fakes them.
type fakeConn struct {
	ctx context.Context
	in  chan pgproto3.BackendMessage

	mu           sync.Mutex
	deadline     time.Time
	deadlineSets int
	statuses     []sentStatus
}

// sentStatus is a status update and when (on the test's clock) it was sent.
type sentStatus struct {
	pglogrepl.StandbyStatusUpdate
	at time.Time
}

func newFakeConn(ctx context.Context) *fakeConn {
	return &fakeConn{ctx: ctx, in: make(chan pgproto3.BackendMessage)}
}

func (f *fakeConn) receive() (pgproto3.BackendMessage, error) {
	f.mu.Lock()
	t := time.NewTimer(time.Until(f.deadline))
	f.mu.Unlock()
	defer t.Stop()
	select {
	case m := <-f.in:
		return m, nil
	case <-t.C:
		return nil, nil
	case <-f.ctx.Done():
		return nil, nil
	}
}

func (f *fakeConn) sendStatus(u pglogrepl.StandbyStatusUpdate) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.statuses = append(f.statuses, sentStatus{u, time.Now()})
	return nil
}

func (f *fakeConn) setReadDeadline(t time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deadline = t
	f.deadlineSets++
	return nil
}

// sent returns the status updates sent so far.
func (f *fakeConn) sent() []sentStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sentStatus(nil), f.statuses...)
}

// keepalive builds a primary keepalive message.
func keepalive(walEnd uint64, reply bool) *pgproto3.CopyData {
	b := []byte{pglogrepl.PrimaryKeepaliveMessageByteID}
	b = binary.BigEndian.AppendUint64(b, walEnd)
	b = binary.BigEndian.AppendUint64(b, 0)
	if reply {
		return &pgproto3.CopyData{Data: append(b, 1)}
	}
	return &pgproto3.CopyData{Data: append(b, 0)}
}

// xlog wraps a pgoutput message in XLogData.
func xlog(walStart uint64, data []byte) *pgproto3.CopyData {
	b := []byte{pglogrepl.XLogDataByteID}
	b = binary.BigEndian.AppendUint64(b, walStart)
	b = binary.BigEndian.AppendUint64(b, walStart)
	b = binary.BigEndian.AppendUint64(b, 0)
	return &pgproto3.CopyData{Data: append(b, data...)}
}

func TestReadDeadlineMovesOnlyWhenItChanges(t *testing.T) {
	f := newFakeConn(t.Context())
	d := readDeadline{conn: f}
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	steps := []struct {
		at       time.Time
		wantSets int
	}{
		{t0, 1},
		{t0, 1}, // unchanged: no call on the connection
		{t0.Add(time.Millisecond), 2},
		{t0.Add(time.Millisecond), 2},
		{t0, 3},
	}
	for i, s := range steps {
		if err := d.set(s.at); err != nil {
			t.Fatal(err)
		}
		if f.deadlineSets != s.wantSets || !f.deadline.Equal(s.at) {
			t.Errorf("step %d: set(%v): %d calls, deadline %v; want %d calls", i, s.at, f.deadlineSets, f.deadline, s.wantSets)
		}
	}
}
