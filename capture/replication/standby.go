package replication

import (
	"fmt"
	"time"

	"github.com/jackc/pglogrepl"

	"github.com/cdcflow/cdcflow/capture"
)

// confirmWake bounds how long an idle stream waits before it reports a
// position the consumer confirmed meanwhile.
const confirmWake = 100 * time.Millisecond

// standby sends the standby status updates of one session. Every update sets
// write = flush = apply = the Reader's confirmed watermark: never a position
// merely received (pglogrepl would replace a zero flush position with the
// write position, so neither is ever left at 0; the watermark starts at the
// slot's confirmed_flush_lsn). An update goes out at least every interval,
// at once when the watermark moves, and whenever the server asks for one.
type standby struct {
	conn     replConn
	r        *Reader // its Confirmed watermark and metrics
	interval time.Duration

	lastSent capture.LSN
	next     time.Time // the next update is due; zero: right away
	wakeAt   time.Time // the next wake-up to report a Confirm on an idle stream
}

// due reports whether an update must go out now: its interval passed, or the
// watermark moved since the last one.
func (s *standby) due(now time.Time) bool {
	return !now.Before(s.next) || s.r.Confirmed() != s.lastSent
}

// send sends an update with the confirmed watermark and schedules the next.
func (s *standby) send(now time.Time) error {
	confirmed := s.r.Confirmed()
	if err := s.conn.sendStatus(pglogrepl.StandbyStatusUpdate{
		WALWritePosition: pglogrepl.LSN(confirmed),
		WALFlushPosition: pglogrepl.LSN(confirmed),
		WALApplyPosition: pglogrepl.LSN(confirmed),
		ClientTime:       now,
	}); err != nil {
		return fmt.Errorf("send standby status update: %w", err)
	}
	s.lastSent, s.next = confirmed, now.Add(s.interval)
	s.r.metrics.confirmed(confirmed)
	return nil
}

// wake returns when the loop must wake up, at the latest, to keep the
// schedule: the next update, or the next confirmWake tick to report a
// Confirm made meanwhile. It moves only when one of them does.
func (s *standby) wake(now time.Time) time.Time {
	if !now.Before(s.wakeAt) {
		s.wakeAt = now.Add(confirmWake)
	}
	return minTime(s.next, s.wakeAt)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
