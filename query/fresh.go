package query

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cdcflow/cdcflow/sinks/redisview"
)

// partFreshness is what one partition has applied.
type partFreshness struct {
	Partition  int32      `json:"partition"`
	AppliedLSN string     `json:"applied_lsn"`
	CommitTime *time.Time `json:"commit_time"`
	// StalenessSeconds is now minus CommitTime; null when the partition
	// has applied nothing yet.
	StalenessSeconds *float64 `json:"staleness_seconds"`
}

// freshness is on every answer: the generation read, each partition's
// applied source position and commit time, and the staleness (now minus the
// oldest of the partitions' commit times: how old the answer may be).
type freshness struct {
	Generation       int64           `json:"generation"`
	Partitions       []partFreshness `json:"partitions"`
	StalenessSeconds *float64        `json:"staleness_seconds"`
	// WaitedSeconds is how long a read-your-writes request waited.
	WaitedSeconds *float64 `json:"waited_seconds,omitempty"`
}

// freshnessBlock holds a freshness and what it points to for up to
// blockParts partitions, so that the answer of a read (every entity GET)
// costs one allocation, not four per partition.
type freshnessBlock struct {
	f     freshness
	parts [blockParts]partFreshness
	times [blockParts]time.Time
	secs  [blockParts]float64
}

const blockParts = 4

func (s *Server) freshnessOf(gen int64, states []redisview.PartitionState) *freshness {
	now := s.cfg.Now()
	var blk *freshnessBlock
	var f *freshness
	if len(states) <= blockParts {
		blk = &freshnessBlock{}
		f = &blk.f
		f.Partitions = blk.parts[:0]
	} else {
		f = &freshness{Partitions: make([]partFreshness, 0, len(states))}
	}
	f.Generation = gen
	var worst *float64
	for i, st := range states {
		pf := partFreshness{Partition: st.Partition, AppliedLSN: FormatLSN(st.AppliedLSN)}
		if !st.CommitTime.IsZero() {
			var t *time.Time
			var sec *float64
			if blk != nil {
				t, sec = &blk.times[i], &blk.secs[i]
			} else {
				t, sec = new(time.Time), new(float64)
			}
			*t = st.CommitTime.UTC()
			pf.CommitTime = t
			*sec = max(0, now.Sub(*t).Seconds())
			pf.StalenessSeconds = sec
			if worst == nil || *sec > *worst {
				worst = sec
			}
		}
		f.Partitions = append(f.Partitions, pf)
	}

	slices.SortFunc(f.Partitions, func(a, b partFreshness) int { return int(a.Partition - b.Partition) })
	f.StalenessSeconds = worst
	return f
}

// read is the start of every read: the snapshot (of generation gen, or the
// current one when gen is 0), after the read-your-writes wait the request
// asks for, and the freshness to answer with. The applied positions are read
// before the data, so the answer holds at least what they say.
func (s *Server) read(ctx context.Context, r *http.Request, gen int64) (*redisview.Snapshot, *freshness, error) {
	fw, err := s.wanted(r.URL.Query())
	if err != nil {
		return nil, nil, err
	}
	return s.readWanted(ctx, fw, gen)
}

// readWanted is read with the request's min_lsn and wait already parsed.
func (s *Server) readWanted(ctx context.Context, fw freshnessWanted, gen int64) (*redisview.Snapshot, *freshness, error) {
	var err error
	var snap *redisview.Snapshot
	switch {
	case gen > 0:
		snap = s.reader.At(gen)
	case fw.lsn > 0:
		// A wait must be on the generation being applied: no cached pointer.
		if snap, err = s.refreshGeneration(ctx, true); err != nil {
			return nil, nil, err
		}
	default:
		if snap, err = s.current(ctx); err != nil {
			return nil, nil, err
		}
	}
	var waited *float64
	var states []redisview.PartitionState
	if fw.lsn > 0 {
		start := time.Now()
		states, err = s.waitApplied(ctx, snap, fw)
		sec := time.Since(start).Seconds()
		waited = &sec
		s.cfg.Metrics.waited(sec, isTimeout(err))
		if err != nil {
			return nil, nil, err
		}
	} else if states, err = snap.Applied(ctx); err != nil {
		return nil, nil, err
	}
	f := s.freshnessOf(snap.Generation(), states)
	f.WaitedSeconds = waited
	return snap, f, nil
}

func isTimeout(err error) bool {
	e, ok := err.(*apiError)
	return ok && e.status == http.StatusGatewayTimeout
}

// behind lists the partitions that have not applied lsn.
func behind(states []redisview.PartitionState, lsn uint64) []redisview.PartitionState {
	var out []redisview.PartitionState
	for _, st := range states {
		if st.AppliedLSN < lsn {
			out = append(out, st)
		}
	}
	return out
}

// waitApplied waits until every partition of snap has applied fw.lsn, or
// fw.wait passes (504 saying how far behind each lagging partition is), or
// ctx ends. It wakes when the watcher sees a change-stream entry, and at
// the latest every pollEvery, so it never polls Redis hard.
func (s *Server) waitApplied(ctx context.Context, snap *redisview.Snapshot, fw freshnessWanted) ([]redisview.PartitionState, error) {
	const pollEvery = 250 * time.Millisecond
	deadline := time.Now().Add(fw.wait)
	if d, ok := ctx.Deadline(); ok && d.Add(-requestMargin).Before(deadline) {
		// Keep time to answer within the request timeout.
		deadline = d.Add(-requestMargin)
	}
	var late []redisview.PartitionState
	for {
		wake := s.watch.changed() // before the read: a change after it wakes us
		states, err := snap.Applied(ctx)
		if err != nil {
			if late != nil && ctx.Err() == context.DeadlineExceeded {
				return nil, lagError(fw, late)
			}
			return nil, err
		}
		if late = behind(states, fw.lsn); len(late) == 0 {
			return states, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, lagError(fw, late)
		}
		t := time.NewTimer(min(left, pollEvery))
		select {
		case <-ctx.Done():
			t.Stop()
			if ctx.Err() == context.DeadlineExceeded {
				return nil, lagError(fw, late)
			}
			return nil, ctx.Err()
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// lagError is the 504 of a read-your-writes wait: which partitions are
// behind min_lsn, by how many bytes of WAL.
func lagError(fw freshnessWanted, late []redisview.PartitionState) *apiError {
	var most uint64
	parts := make([]map[string]any, 0, len(late))
	names := make([]string, 0, len(late))
	for _, st := range late {
		b := fw.lsn - st.AppliedLSN
		most = max(most, b)
		parts = append(parts, map[string]any{"partition": st.Partition, "applied_lsn": FormatLSN(st.AppliedLSN), "behind_bytes": b})
		names = append(names, strconv.Itoa(int(st.Partition)))
	}
	e := errorf(http.StatusGatewayTimeout, "not_yet_applied",
		"after waiting %s, %d partition(s) (%s) have not applied min_lsn %s: up to %d bytes of WAL behind",
		fw.wait, len(late), strings.Join(names, ", "), FormatLSN(fw.lsn), most)
	e.details = map[string]any{"min_lsn": FormatLSN(fw.lsn), "behind": parts, "behind_bytes": most}
	return e
}

// watcher follows the change streams of the current generation with one
// blocking read at a time, and wakes read-your-writes waits and streams
// when entries arrive. Streams subscribe to get the entries themselves.
type watcher struct {
	s       *Server
	mu      sync.Mutex
	wake    chan struct{} // closed and replaced on every batch of entries
	subs    map[*subscription]struct{}
	running bool
}

// subscription is one stream's feed of change entries. When the stream
// falls behind by more than its buffer, lost is closed and the stream
// starts again from the current state.
type subscription struct {
	ch   chan changeBatch
	lost chan struct{}
	once sync.Once
}

// changeBatch is what one read of the change streams brought.
type changeBatch struct {
	gen     int64
	changes []redisview.Change
	// reset is set when the generation changed or entries were trimmed
	// before the watcher read them: subscribers must start again from the
	// state.
	reset bool
}

func newWatcher(s *Server) *watcher {
	return &watcher{s: s, wake: make(chan struct{}), subs: map[*subscription]struct{}{}}
}

// changed returns a channel closed at the next batch of entries.
func (w *watcher) changed() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.wake
}

// subscribe returns a feed of the entries read from now on; nil when the
// watcher does not run (the server is not Serve-ing).
func (w *watcher) subscribe() *subscription {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.running {
		return nil
	}
	sub := &subscription{ch: make(chan changeBatch, 64), lost: make(chan struct{})}
	w.subs[sub] = struct{}{}
	return sub
}

func (w *watcher) unsubscribe(sub *subscription) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.subs, sub)
}

func (w *watcher) publish(b changeBatch) {
	w.mu.Lock()
	defer w.mu.Unlock()
	close(w.wake)
	w.wake = make(chan struct{})
	for sub := range w.subs {
		select {
		case sub.ch <- b:
		default:
			// Too slow a reader: it starts again from the state rather
			// than block the others.
			sub.once.Do(func() { close(sub.lost) })
			delete(w.subs, sub)
		}
	}
}

// run reads the change streams until ctx is done. Redis errors are retried
// every second (the requests report them themselves).
func (w *watcher) run(ctx context.Context) error {
	w.mu.Lock()
	w.running = true
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.running = false
		for sub := range w.subs {
			sub.once.Do(func() { close(sub.lost) })
		}
		w.subs = map[*subscription]struct{}{}
		w.mu.Unlock()
	}()
	var gen int64
	var after map[int32]string
	pause := func() error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
			return nil
		}
	}
	for ctx.Err() == nil {
		snap, err := w.s.refreshGeneration(ctx, true)
		if err != nil {
			if err := pause(); err != nil {
				return err
			}
			continue
		}
		if snap.Generation() != gen || after == nil {
			if after, err = snap.ChangePositions(ctx); err != nil {
				if err := pause(); err != nil {
					return err
				}
				continue
			}
			moved := gen != 0
			gen = snap.Generation()
			if moved {
				w.publish(changeBatch{gen: gen, reset: true})
			}
		}
		chs, err := snap.Changes(ctx, after, time.Second, 256)
		switch {
		case err == nil:
		case isTrimmed(err):
			after = nil
			w.publish(changeBatch{gen: gen, reset: true})
			continue
		case ctx.Err() != nil:
			return ctx.Err()
		default:
			w.s.cfg.Logger.DebugContext(ctx, "read change streams", "err", err)
			if err := pause(); err != nil {
				return err
			}
			continue
		}
		for _, c := range chs {
			after[c.Partition] = c.ID
		}
		if len(chs) > 0 {
			w.publish(changeBatch{gen: gen, changes: chs})
		}
	}
	return ctx.Err()
}

func isTrimmed(err error) bool {
	return err != nil && (errors.Is(err, redisview.ErrChangesTrimmed))
}
