package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/cdcflow/cdcflow/backpressure"
	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/sinks/kafka"
)

// Exactly-once delivery (kafka.delivery: exactly_once), docs/delivery.md.
//
// Every record the mapper emits gets a cursor: the unit it belongs to — the
// commit LSN of its source transaction, or for snapshot rows and markers the
// epoch's consistent point - 1 — and its ordinal among the records of that
// unit. Units arrive in increasing LSN order and the mapper emits the same
// records in the same order whenever it is given the same WAL, so (unit,
// ordinal) orders every record of the stream and identifies it across
// restarts. Each Kafka transaction stores the cursor of its last record in
// the position topic; on start the flow skips every record at or below the
// stored cursor.
//
// The cursor counts records rather than comparing event positions because,
// within a transaction, the mapper may emit a gathering event (whose
// position is that of the last change it absorbed) after events of later
// changes, and a snapshot's begin markers share the position of its first
// row. A cursor is valid at any record boundary, which is what lets one
// source transaction span several Kafka transactions.

// txCursor is a point in the stream of records: after the Records-th record
// of the unit at LSN, from Source. It is what the position topic holds, as
// JSON.
type txCursor struct {
	Source  string
	LSN     capture.LSN
	Records uint32
	// Mapping is a digest of the mapping file the records were mapped
	// with ("" if unknown).
	Mapping string
}

// txCursorJSON is txCursor's stored form.
type txCursorJSON struct {
	Source  string `json:"source"`
	LSN     string `json:"lsn"`
	Records uint32 `json:"records"`
	Mapping string `json:"mapping,omitempty"`
}

func (c txCursor) encode() []byte {
	b, _ := json.Marshal(txCursorJSON{Source: c.Source, LSN: c.LSN.String(), Records: c.Records, Mapping: c.Mapping})
	return b
}

func parseTxCursor(b []byte) (txCursor, error) {
	if b == nil {
		return txCursor{}, nil
	}
	var j txCursorJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return txCursor{}, fmt.Errorf("parse stored position %q: %w", b, err)
	}
	lsn, err := capture.ParseLSN(j.LSN)
	if err != nil {
		return txCursor{}, fmt.Errorf("parse stored position %q: %w", b, err)
	}
	return txCursor{Source: j.Source, LSN: lsn, Records: j.Records, Mapping: j.Mapping}, nil
}

// recCursor is a record's place in its source's stream: the ordinal-th
// record (from 1) of the unit at lsn.
type recCursor struct {
	lsn capture.LSN
	n   uint32
}

// after reports whether c comes after the skip cursor's point.
func (c recCursor) after(skip txCursor) bool {
	if c.lsn != skip.LSN {
		return c.lsn > skip.LSN
	}
	return c.n > skip.Records
}

// cursorState numbers the records the handler emits with their cursors, in
// both delivery modes, and in exactly-once mode skips those the stored
// position covers. It is used only by the handler goroutine.
type cursorState struct {
	// skip: records at or below it are already in Kafka (stored by an
	// earlier incarnation) or handed on by this one. It starts at the
	// stored position and follows each record handed on.
	skip    txCursor
	source  string
	stream  uint32 // kafka.StreamID of source and mapping
	mapping string // digest of the mapping in use
	unit    capture.LSN
	n       uint32
	cursors []kafka.Cursor // of f.records
	// closing is set while the records of a snapshot end marker are
	// emitted (kafka.Cursor.ClosesEpoch).
	closing bool
	// handed is set once this process handed a record on; lastCloses is
	// the ClosesEpoch of the last one (progress records repeat its cursor).
	handed, lastCloses bool
	log                *slog.Logger
	// skipped counts the records not handed on, reported the number
	// already logged.
	skipped, reported int64
}

// connected starts a session that resumes at start: a new session resends
// from the start of a transaction, so the unit's ordinals start again. A
// source other than the stored position's (a restore, point-in-time recovery
// or promoted standby may reuse LSNs) makes the stored position meaningless.
// The one expected case is a resumed failover slot crossing to the promoted
// server's timeline at its switch point (capture.Connected): same cluster and
// database, and everything stored lies before start, so nothing was to be
// skipped past it anyway; that is said at Info, not as a warning.
func (s *cursorState) connected(src capture.Source, start capture.LSN) {
	s.source = src.URI()
	s.stream = kafka.StreamID(s.source, s.mapping)
	s.unit, s.n = 0, 0
	if s.skip.Source == "" || s.skip.Source == s.source {
		return
	}
	if sameDatabase(s.skip.Source, s.source) && s.skip.LSN < start {
		s.log.Info("exactly-once: the source moved to a newer timeline past the stored position; positions after the switch point are new",
			"stored_source", s.skip.Source, "source", s.source, "switch_point", start.String())
	} else {
		s.log.Warn("exactly-once: the stored position belongs to another source; nothing is skipped",
			"stored_source", s.skip.Source, "source", s.source)
	}
	s.skip = txCursor{}
}

// sameDatabase reports whether two source URIs
// (postgres://<system id>/<database>?tl=<timeline>) name the same cluster and
// database, whatever their timelines.
func sameDatabase(a, b string) bool {
	a, _, _ = strings.Cut(a, "?")
	b, _, _ = strings.Cut(b, "?")
	return a == b
}

// newCursorState returns the handler's bookkeeping for a stream whose stored
// cursor is stored, mapped now with the mapping of digest mapping. Records
// are counted per mapping: after a mapping change the count of the stored
// unit means nothing, so that unit is published again whole (its records
// may repeat, none is lost) and only the units before it are skipped.
func newCursorState(stored txCursor, mapping string, log *slog.Logger) *cursorState {
	if stored.Mapping != "" && mapping != "" && stored.Mapping != mapping && stored.Records > 0 {
		log.Warn("exactly-once: the mapping changed since the stored position; the source transaction at it is published again whole, and its records written before may repeat",
			"lsn", stored.LSN.String(), "records", stored.Records)
		stored.Records = 0
	}
	return &cursorState{skip: stored, mapping: mapping, log: log}
}

// enter notes that the following records belong to the unit at lsn.
func (s *cursorState) enter(lsn capture.LSN) {
	if lsn != s.unit {
		s.unit, s.n = lsn, 0
	}
}

// next numbers the next record emitted and reports whether it is to be
// handed on (true) or was already (false).
func (s *cursorState) next() (recCursor, bool) {
	s.n++
	c := recCursor{lsn: s.unit, n: s.n}
	if !c.after(s.skip) {
		s.skipped++
		return c, false
	}
	s.skip = txCursor{Source: s.source, LSN: c.lsn, Records: c.n}
	s.handed, s.lastCloses = true, s.closing
	if s.skipped > s.reported {
		s.log.Info("exactly-once: skipped records already in kafka", "skipped", s.skipped-s.reported, "resumed_at_lsn", c.lsn.String(), "resumed_at_record", c.n)
		s.reported = s.skipped
	}
	return c, true
}

// track updates the unit from a capture message.
func (s *cursorState) track(m capture.Message) {
	switch m := m.(type) {
	case *capture.Begin:
		s.enter(m.FinalLSN)
	case *capture.Change:
		s.enter(m.FinalLSN)
	case *capture.Commit:
		s.enter(m.FinalLSN)
	case *capture.Marker:
		if m.Kind == capture.MarkerSnapshotBegin || m.Kind == capture.MarkerSnapshotEnd {
			s.enter(m.LSN)
		}
	}
}

// txShutdownGrace is how long a Kafka transaction in progress may take to
// commit once the flow is stopping.
const txShutdownGrace = 10 * time.Second

// publishTx takes batches from the queue, writes them in Kafka transactions
// with their position and, once a transaction has committed, completes the
// batches' watermark tickets. Transactions are synchronous: while one
// commits, the next batches gather in the queue (and capture waits when
// the budget is full).
func (f *Flow) publishTx(ctx context.Context) error {
	// A transaction under way is given time to commit on shutdown, so the
	// next start re-reads as little as possible.
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel() // also ends the goroutine below
	go func() {
		select {
		case <-pctx.Done():
			return
		case <-ctx.Done():
		}
		t := time.NewTimer(txShutdownGrace)
		defer t.Stop()
		select {
		case <-pctx.Done():
		case <-t.C:
			cancel()
		}
	}()

	// Cuts inside a batch let TxPublisher end a Kafka transaction before a
	// large source transaction's batch ends.
	cutEvery := max(f.txMax/16, 64<<10)
	var (
		batches []*batch
		recs    []kafka.TxRecord
	)
	for {
		var err error
		batches, _, err = f.queue.Take(ctx, batches[:0], 0, int64(f.txMax))
		if errors.Is(err, backpressure.ErrClosed) {
			return nil
		}
		if err != nil {
			return err
		}
		recs = recs[:0]
		var newest time.Time
		for _, b := range batches {
			since := 0
			for i, r := range b.records {
				tr := kafka.TxRecord{Record: r}
				since += len(r.Key) + len(r.Value)
				if i == len(b.records)-1 || since >= cutEvery {
					c := b.cursors[i]
					tr.Cut = txCursor{Source: b.source, LSN: capture.LSN(c.LSN), Records: c.N, Mapping: f.cur.mapping}.encode()
					since = 0
				}
				recs = append(recs, tr)
			}
			if b.commitTime.After(newest) {
				newest = b.commitTime
			}
		}
		if _, err := f.tx.Publish(pctx, recs, newest); err != nil {
			return txError(err)
		}
		wm := f.wm.Load()
		for _, b := range batches {
			if b.progress {
				continue // no ticket: progress records confirm nothing
			}
			f.published.Add(int64(len(b.records)))
			if err := wm.Done(b.ticket); err != nil {
				return err
			}
		}
		clear(recs) // release the records for the garbage collector
	}
}

// txError explains a failed exactly-once publication. Every such error
// stops the flow: the next start fences this producer, reads the position
// Kafka holds and resumes from there.
func txError(err error) error {
	if _, ok := errors.AsType[*kafka.CommitUnknownError](err); ok {
		return fmt.Errorf("exactly-once: %w; cdcflow run stops, and its next start reads the position Kafka committed and resumes from there", err)
	}
	if errors.Is(err, kafka.ErrConnectionLost) {
		return fmt.Errorf("exactly-once: %w; cdcflow run stops, and its next start reads the position Kafka committed and writes these records again", err)
	}
	if kafka.IsFenced(err) {
		return fmt.Errorf("exactly-once: the Kafka transaction was fenced: either the broker aborted it (open longer than kafka.transaction_timeout, e.g. during a broker outage) or another cdcflow run with the same slot name started on this Kafka cluster; start cdcflow again (it resumes from the position Kafka committed) once it is the only one: %w", err)
	}
	return fmt.Errorf("exactly-once: publish kafka transaction: %w", err)
}

// SnapshotDone reports whether, in exactly-once mode, the stored position
// (what TxPublisher.Start returned) shows the snapshot epoch of src complete
// in Kafka: a record of a unit after the epoch's (consistent point - 1) was
// committed, so the epoch's end marker was too. For
// replication.Config.SnapshotDone.
func SnapshotDone(stored []byte, src capture.Source, epoch uint64) bool {
	c, err := parseTxCursor(stored)
	return err == nil && c.Source == src.URI() && uint64(c.LSN) > epoch-1
}
