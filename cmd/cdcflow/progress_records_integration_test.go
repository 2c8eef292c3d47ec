package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/internal/testenv"
	"github.com/cdcflow/cdcflow/pipeline"
	"github.com/cdcflow/cdcflow/sinks/kafka"
)

// TestIntegrationProgressRecords runs `cdcflow run` in both delivery modes
// on the reference order database and reads every partition of the event
// topics (read_committed: in exactly-once mode only committed transactions
// show): while the database is idle, every partition gets a progress record
// at least every kafka.progress_interval (with slack for this shared
// machine), whose position reaches pg_current_wal_lsn() read after a write
// and whose time is that write's commit time; while orders are written
// fast, the busy order partitions get hardly any.
func TestIntegrationProgressRecords(t *testing.T) {
	for _, mode := range []string{"at_least_once", "exactly_once"} {
		t.Run(mode, func(t *testing.T) { progressRecords(t, mode) })
	}
}

// progressSeen is what one partition showed.
type progressSeen struct {
	times  []time.Time // Kafka timestamps of its progress records
	last   pipeline.Event
	events int // non-progress records
}

func progressRecords(t *testing.T, mode string) {
	ctx := t.Context()
	const interval = 500 * time.Millisecond
	db, seed := orderDB(t, testenv.Postgres(t), 20)
	broker := testenv.Kafka(t)
	_, env := ordersRunEnv(t, db, broker.Addrs(), "progress",
		"CDCFLOW_KAFKA_TOPICS_PARTITIONS=3",
		"CDCFLOW_KAFKA_DELIVERY="+mode,
		"CDCFLOW_KAFKA_PROGRESS_INTERVAL="+interval.String(),
		"CDCFLOW_CAPTURE_HEARTBEAT_INTERVAL=1s")
	p := startRun(t, env...)
	// The test's client would create missing topics with one partition:
	// it starts once the run has created them.
	testenv.Await(t, 60*time.Second, "cdcflow run streaming", func() (bool, error) {
		out, err := os.ReadFile(p.logPath)
		return strings.Contains(string(out), "replication starting"), errors.Join(err, p.running())
	})
	topics := []string{"shop.order", "shop.customer", "shop.product"}
	cl := broker.Client(t, kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	seen := map[string]*progressSeen{} // "topic/partition"
	poll := func() error {
		return pollEvents(ctx, cl, func(r *kgo.Record, ev pipeline.Event) error {
			k := fmt.Sprintf("%s/%d", r.Topic, r.Partition)
			s := seen[k]
			if s == nil {
				s = &progressSeen{}
				seen[k] = s
			}
			if ev.Control != pipeline.ControlProgress {
				s.events++
				return nil
			}
			if ev.Type != pipeline.ProgressType || len(r.Key) != 0 {
				return fmt.Errorf("progress record %s type %q key %q", k, ev.Type, r.Key)
			}
			if s.last.LSN > ev.LSN {
				return fmt.Errorf("%s: progress at %s after one at %s", k, ev.LSN, s.last.LSN)
			}
			s.times = append(s.times, r.Timestamp)
			s.last = ev
			return nil
		})
	}
	// The snapshot is done and every partition hears while idle.
	testenv.Await(t, 60*time.Second, "progress records on every partition of every event topic", func() (bool, error) {
		if err := p.running(); err != nil {
			return false, err
		}
		if err := poll(); err != nil {
			return false, err
		}
		for _, topic := range topics {
			for part := range 3 {
				if s := seen[fmt.Sprintf("%s/%d", topic, part)]; s == nil || len(s.times) < 3 {
					return false, nil
				}
			}
		}
		return true, nil
	})

	// An insert: every partition's progress reaches the WAL position read
	// after its commit, within about one interval.
	conn := db.Conn(t)
	var lsnText string
	var committed time.Time
	if err := conn.QueryRow(ctx, `INSERT INTO customers (email, full_name, country, created_at, updated_at) VALUES ('p@example.com', 'P', 'DE', now(), now()) RETURNING now()`).Scan(&committed); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&lsnText); err != nil {
		t.Fatal(err)
	}
	target, err := capture.ParseLSN(lsnText)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	testenv.Await(t, 30*time.Second, "progress records past the insert's WAL position on every partition", func() (bool, error) {
		if err := poll(); err != nil {
			return false, err
		}
		for _, s := range seen {
			if s.last.LSN < target {
				return false, nil
			}
		}
		return len(seen) == 9, nil
	})
	t.Logf("every partition proved %s %v after the commit", target, time.Since(start))

	// Idle for a while: the gaps between a partition's progress records
	// stay near the interval.
	mark := time.Now()
	testenv.Await(t, 30*time.Second, "four seconds of idle progress", func() (bool, error) {
		return time.Since(mark) > 4*time.Second, poll()
	})
	for k, s := range seen {
		var recent []time.Time
		for _, ts := range s.times {
			if ts.After(mark) {
				recent = append(recent, ts)
			}
		}
		if len(recent) < 3 {
			t.Errorf("%s: %d progress records in 4 s idle; want one every %v", k, len(recent), interval)
			continue
		}
		for i := 1; i < len(recent); i++ {
			if gap := recent[i].Sub(recent[i-1]); gap > interval+time.Second {
				t.Errorf("%s: %v between two progress records while idle; want at most %v (+1 s slack)", k, gap, interval)
			}
		}
	}

	// Busy: orders written back to back keep the order partitions current
	// by their events, with few progress records among them.
	before := map[string]progressSeen{}
	for k, s := range seen {
		before[k] = progressSeen{times: slices.Clone(s.times), events: s.events}
	}
	loadCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, _ = loadOrders(loadCtx, db.DSN, seed+1, 100000, 0) // until the deadline
	if err := poll(); err != nil {
		t.Fatal(err)
	}
	testenv.Await(t, 30*time.Second, "the load's events", func() (bool, error) { return true, poll() })
	for part := range 3 {
		k := fmt.Sprintf("shop.order/%d", part)
		events := seen[k].events - before[k].events
		progress := len(seen[k].times) - len(before[k].times)
		t.Logf("%s under load: %d events, %d progress records", k, events, progress)
		if events < 200 {
			t.Fatalf("%s: only %d events under load: the load is too light to test anything", k, events)
		}
		// Busy, a partition gets a progress record only in a pause of
		// its own events of at least half kafka.ProgressPrompt (5 ms) while
		// the position moved past what they prove (other partitions'
		// transactions): at most one per 10 ms of the 5 s load (plus the
		// trailing one and the idle ones around it), and few beside its
		// events.
		if bound := int(5*time.Second/kafka.ProgressPrompt(interval)) + 8; progress > bound || progress > events/4 {
			t.Errorf("%s: %d progress records among %d events under load; want at most %d and a quarter of the events", k, progress, events, bound)
		}
	}
}
