package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/internal/services"
	"github.com/cdcflow/cdcflow/internal/testenv"
	"github.com/cdcflow/cdcflow/pipeline"
)

// produceFault makes the in-process broker answer produce requests with a
// partition error while it is on, cycling through codes; it counts the
// requests it failed.
type produceFault struct {
	codes  []int16
	on     atomic.Bool
	failed atomic.Int64
}

// install keeps the fault's control function on c for the test's life.
func (f *produceFault) install(c *kfake.Cluster) {
	c.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if !f.on.Load() {
			return nil, nil, false
		}
		n := f.failed.Add(1)
		return produceErrorResponse(kreq.(*kmsg.ProduceRequest), f.codes[int(n-1)%len(f.codes)]), nil, true
	})
}

// produceErrorResponse answers req with code for every partition in it.
func produceErrorResponse(req *kmsg.ProduceRequest, code int16) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition, sp.ErrorCode = rp.Partition, code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// confirmedLSN returns the slot's confirmed_flush_lsn.
func confirmedLSN(t *testing.T, db *testenv.DB, slot string) capture.LSN {
	t.Helper()
	s := testenv.QueryValue[string](t, db, `SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1`, slot)
	lsn, err := capture.ParseLSN(s)
	if err != nil {
		t.Fatalf("parse confirmed_flush_lsn %q: %v", s, err)
	}
	return lsn
}

// positionLSN returns the commit LSN a position starts with.
func positionLSN(t *testing.T, p pipeline.Position) capture.LSN {
	t.Helper()
	lsn, _, _, err := pipeline.ParsePosition(string(p))
	if err != nil {
		t.Fatalf("parse position %q: %v", p, err)
	}
	return lsn
}

// idsWithPositions returns, for each id the fold has seen, its position.
func idsWithPositions(f *orderFold) map[string]pipeline.Position {
	out := make(map[string]pipeline.Position, len(f.ids))
	for id, what := range f.ids {
		pos, _, _ := strings.Cut(what, " ")
		out[id] = pipeline.Position(pos)
	}
	return out
}

// checkNotConfirmedPast checks the watermark rule against a moment when the
// broker accepted nothing: every event whose commit LSN is below the slot's
// confirmed position then must have been on the topic then (held). It
// returns how many events of the final topic were not, all above it.
func checkNotConfirmedPast(t *testing.T, confirmed capture.LSN, held, final map[string]pipeline.Position) int {
	t.Helper()
	pending := 0
	for id, pos := range final {
		if _, ok := held[id]; ok {
			continue
		}
		pending++
		if lsn := positionLSN(t, pos); lsn < confirmed {
			t.Errorf("event %s at %s (commit LSN %s) was not in Kafka, yet the slot confirmed %s", id, pos, lsn, confirmed)
		}
	}
	return pending
}

// checkAggregateOrder reads topic from its start and checks that each
// aggregate's events come in strictly increasing position order (no
// duplicate, nothing out of order), returning how many records it read.
func checkAggregateOrder(t *testing.T, addrs []string, topic string) int {
	t.Helper()
	cl := consumer(t, addrs, topic)
	last := map[string]pipeline.Position{}
	n := 0
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		got := 0
		fs.EachRecord(func(r *kgo.Record) {
			ev, err := pipeline.DecodeRecord(recordOf(r))
			if err != nil {
				t.Fatalf("decode %s/%d@%d: %v", r.Topic, r.Partition, r.Offset, err)
			}
			if ev.Control != pipeline.NotControl {
				// Progress records keep coming while run idles: only
				// events count as something new.
				return
			}
			got++
			n++
			if prev, ok := last[ev.AggregateID]; ok && !prev.Less(ev.Position) {
				t.Errorf("aggregate %s: %s %s after %s (partition %d offset %d): out of order or repeated",
					ev.AggregateID, ev.Type, ev.Position, prev, r.Partition, r.Offset)
			}
			last[ev.AggregateID] = ev.Position
		})
		if got == 0 {
			return n
		}
	}
}

// labeledMetric returns the sum of the samples of name whose labels contain
// every one of labels (e.g. `type="OrderRequested"`), or -1 when none.
func labeledMetric(t *testing.T, addr, name string, labels ...string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("get metrics: %v", err)
	}
	defer resp.Body.Close()
	sum, found := 0.0, false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
next:
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(line, l) {
				continue next
			}
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum, found = sum+v, true
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if !found {
		return -1
	}
	return sum
}

// TestIntegrationRunProduceRetries fails every produce request of a running
// `cdcflow run` with retriable errors (NOT_LEADER_FOR_PARTITION and
// REQUEST_TIMED_OUT in turn) for a while under load, then lets them
// through, then answers three appends the broker made as timed out. The flow must not stop; while nothing is acknowledged the slot
// must not be confirmed past what Kafka holds; afterwards shop.order folds to
// the database, holds every audited change, and each aggregate's events are
// in order without repeats; the client's retries are counted.
func TestIntegrationRunProduceRetries(t *testing.T) {
	ctx := t.Context()
	db, seed := orderDB(t, testenv.Postgres(t), 50)
	broker := testenv.NewKafka(t, services.KafkaOptions{SyncWrites: true, NoAutoCreateTopics: true})
	fault := &produceFault{codes: []int16{kerr.NotLeaderForPartition.Code, kerr.RequestTimedOut.Code}}
	fault.install(broker.Cluster())
	metricsAddr := freeAddr(t)
	slot, env := ordersRunEnv(t, db, broker.Addrs(), "retry", "CDCFLOW_KAFKA_TOPICS_PARTITIONS=3", "CDCFLOW_METRICS_ADDR="+metricsAddr)
	p := startRun(t, env...)
	fold := newOrderFold(consumer(t, broker.Addrs(), "shop.order"))
	awaitSnapshot(t, ctx, p, fold)
	installAudit(t, db)
	loaded := make(chan error, 1)
	go func() {
		_, err := loadOrders(ctx, db.DSN, seed+1, 600, 40)
		loaded <- err
	}()
	snapshotted := fold.records
	testenv.Await(t, 30*time.Second, "streamed events on shop.order", func() (bool, error) {
		return fold.records > snapshotted+20, fold.poll(ctx)
	})

	// The fault: every produce request fails until at least four have.
	retriesBefore := labeledMetric(t, metricsAddr, "cdcflow_kafka_retries_total")
	fault.on.Store(true)
	testenv.Await(t, 60*time.Second, "four produce requests failed", func() (bool, error) {
		return fault.failed.Load() >= 4, p.running()
	})
	// Nothing is acknowledged now: what the slot confirms must be on Kafka.
	confirmed := confirmedLSN(t, db, slot)
	if err := fold.drain(ctx); err != nil {
		t.Fatal(err)
	}
	held := idsWithPositions(fold)
	heldRecords := fold.records
	fault.on.Store(false)
	t.Logf("fault over: %d produce requests failed; slot confirmed %s with %d records on shop.order", fault.failed.Load(), confirmed, heldRecords)

	// Then appends the broker makes but answers as timed out (as Kafka may
	// when replication is slow): the client sends them again with the same
	// sequence numbers, and the broker must not store them twice.
	timedOut := broker.Cluster().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "shop.order", Err: kerr.RequestTimedOut, Count: 3})
	testenv.Await(t, 30*time.Second, "three appends to shop.order answered as timed out", func() (bool, error) {
		return timedOut.Hits() >= 3, p.running()
	})

	if err := <-loaded; err != nil {
		t.Fatalf("load: %v", err)
	}
	awaitConverged(t, p, db, fold, 90*time.Second)
	if err := fold.drain(ctx); err != nil {
		t.Fatal(err)
	}
	pending := checkNotConfirmedPast(t, confirmed, held, idsWithPositions(fold))
	if pending == 0 {
		t.Errorf("no event was held back by the fault: the test proved nothing about the watermark")
	}
	if fold.duplicates != 0 {
		t.Errorf("%d duplicates on shop.order; the idempotent producer retries without any", fold.duplicates)
	}
	events := checkAggregateOrder(t, broker.Addrs(), "shop.order")
	retries := labeledMetric(t, metricsAddr, "cdcflow_kafka_retries_total") - retriesBefore
	if retries < 1 {
		t.Errorf("cdcflow_kafka_retries_total moved by %v during the fault; want at least 1", retries)
	}
	_, audited := missingAudited(t, db, fold)
	var wantRequested, requested float64
	for k := range fold.seen {
		if k[1] == "OrderRequested" {
			wantRequested++
		}
	}
	// The consumer may have seen the last events before their
	// acknowledgements (which count them) reached cdcflow.
	testenv.Await(t, 30*time.Second, "OrderRequested events counted", func() (bool, error) {
		requested = labeledMetric(t, metricsAddr, "cdcflow_kafka_events_total", `topic="shop.order"`, `type="OrderRequested"`)
		return requested >= wantRequested, nil
	})
	if err := p.running(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d events held back during the fault, all delivered after it; %d events in per-aggregate order; %d audited changes; %v retries counted; %v OrderRequested events counted",
		pending, events, audited, retries, requested)
}

// TestIntegrationRunFatalProduceError makes the broker refuse shop.order
// with TOPIC_AUTHORIZATION_FAILED under load: `cdcflow run` must stop
// promptly with a message naming the topic and what to do, must not have
// confirmed past what Kafka holds, and once the authorization is back a
// restart must deliver everything.
func TestIntegrationRunFatalProduceError(t *testing.T) {
	ctx := t.Context()
	db, seed := orderDB(t, testenv.Postgres(t), 30)
	broker := testenv.NewKafka(t, services.KafkaOptions{SyncWrites: true, NoAutoCreateTopics: true})
	var denied atomic.Pointer[[16]byte] // shop.order's topic id while refused
	var refused atomic.Int64
	c := broker.Cluster()
	c.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := kreq.(*kmsg.ProduceRequest)
		id := denied.Load()
		if id == nil || !producesTo(req, "shop.order", *id) {
			return nil, nil, false
		}
		refused.Add(1)
		// Only shop.order is refused; the other topics a request carries
		// get a retriable error, so that the fatal one is shop.order's.
		resp := produceErrorResponse(req, kerr.TopicAuthorizationFailed.Code).(*kmsg.ProduceResponse)
		for i := range resp.Topics {
			if rt := &resp.Topics[i]; rt.Topic != "shop.order" && rt.TopicID != *id {
				for j := range rt.Partitions {
					rt.Partitions[j].ErrorCode = kerr.NotLeaderForPartition.Code
				}
			}
		}
		return resp, nil, true
	})
	slot, env := ordersRunEnv(t, db, broker.Addrs(), "fatal")
	p := startRun(t, env...)
	fold := newOrderFold(consumer(t, broker.Addrs(), "shop.order"))
	awaitSnapshot(t, ctx, p, fold)
	installAudit(t, db)
	info := c.TopicInfo("shop.order")
	if info == nil {
		t.Fatal("no topic shop.order")
	}
	denied.Store(&info.TopicID)
	deniedAt := time.Now()
	loaded := make(chan error, 1)
	go func() {
		_, err := loadOrders(ctx, db.DSN, seed+1, 100, 50)
		loaded <- err
	}()

	var exitErr error
	var stoppedIn time.Duration
	select {
	case exitErr = <-p.exited:
		p.cmd = nil
		stoppedIn = time.Since(deniedAt)
	case <-time.After(30 * time.Second):
		t.Fatalf("cdcflow run still runs 30s after shop.order was refused (%d produce requests refused)", refused.Load())
	}
	out, err := os.ReadFile(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	last := tailLines(out, 1)
	if exitErr == nil {
		t.Errorf("cdcflow run exited with status 0; want a failure")
	}
	for _, want := range []string{"cdcflow run:", `topic "shop.order"`, "TOPIC_AUTHORIZATION_FAILED", "grant it WRITE", "start cdcflow again"} {
		if !strings.Contains(last, want) {
			t.Errorf("last line of the output does not say %q:\n%s", want, last)
		}
	}
	t.Logf("exit (%v) %v after the refusal began (load running), after %d refused produce requests: %s",
		exitErr, stoppedIn.Round(time.Millisecond), refused.Load(), last)

	// Nothing was acknowledged for shop.order since the refusal began: what
	// the slot confirms must be on the topic now.
	confirmed := confirmedLSN(t, db, slot)
	if err := fold.drain(ctx); err != nil {
		t.Fatal(err)
	}
	held := idsWithPositions(fold)
	if err := <-loaded; err != nil {
		t.Fatalf("load: %v", err)
	}

	// The operator grants the permission and starts it again.
	denied.Store(nil)
	p.start()
	awaitConverged(t, p, db, fold, 90*time.Second)
	if err := fold.drain(ctx); err != nil {
		t.Fatal(err)
	}
	pending := checkNotConfirmedPast(t, confirmed, held, idsWithPositions(fold))
	if pending == 0 {
		t.Errorf("no event waited for the restart: the refusal held nothing back")
	}
	_, audited := missingAudited(t, db, fold)
	t.Logf("slot confirmed %s at the stop; %d events delivered after the restart; %d audited changes, %d duplicates", confirmed, pending, audited, fold.duplicates)
}

// producesTo reports whether req writes to topic, named or by its id (produce
// v13 and later name topics by id).
func producesTo(req *kmsg.ProduceRequest, topic string, id [16]byte) bool {
	for _, rt := range req.Topics {
		if rt.Topic == topic || rt.TopicID == id {
			return true
		}
	}
	return false
}

// bigMapping publishes notes with their body.
const bigMapping = `version: 1
topics:
  prefix: big.
  dead_letter: big.deadletter
tables:
  - table: public.notes
    aggregate:
      type: note
      id: string(row.id)
    events:
      - type: NoteAdded
        version: 1
        when: op == "insert"
        data:
          id: row.id
          body: row.body
`

// TestIntegrationRunOversized streams rows whose events are too large: one
// above everything (a 3 MB TOASTed text), one below the mapping's
// max_event_bytes (1 MiB) but above the event topic's max.message.bytes
// (256 KiB, set before cdcflow starts), to which cdcflow lowers its cap. Both must land in the dead-letter topic by reference, with their
// reason in a header and in the data, and the rows around them must be
// published: the flow goes on.
func TestIntegrationRunOversized(t *testing.T) {
	ctx := t.Context()
	db := testenv.Postgres(t).NewDatabase(t)
	db.Exec(t, `CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL)`)
	mappingPath := filepath.Join(t.TempDir(), "mapping.yaml")
	if err := os.WriteFile(mappingPath, []byte(bigMapping), 0o644); err != nil {
		t.Fatal(err)
	}
	broker := testenv.NewKafka(t, services.KafkaOptions{SyncWrites: true, NoAutoCreateTopics: true})
	const topicLimit = 256 << 10
	if err := broker.Cluster().CreateTopic("big.note", 3, map[string]string{"max.message.bytes": strconv.Itoa(topicLimit)}); err != nil {
		t.Fatal(err)
	}
	metricsAddr := freeAddr(t)
	slot := uniqueSlot("oversized")
	p := startRun(t,
		"CDCFLOW_SOURCE_DSN="+db.DSN,
		"CDCFLOW_MAPPING_FILE="+mappingPath,
		"CDCFLOW_MAPPING_NO_VALIDATION=true",
		"CDCFLOW_KAFKA_BROKERS="+strings.Join(broker.Addrs(), ","),
		"CDCFLOW_CAPTURE_SLOT="+slot,
		"CDCFLOW_CAPTURE_PUBLICATION="+slot,
		"CDCFLOW_DATA_DIR="+t.TempDir(),
		"CDCFLOW_METRICS_ADDR="+metricsAddr,
	)
	testenv.Await(t, 30*time.Second, "the slot to be streaming", func() (bool, error) {
		if err := p.running(); err != nil {
			return false, err
		}
		return testenv.QueryValue[bool](t, db, `SELECT count(*) = 1 FROM pg_replication_slots WHERE slot_name = $1 AND active`, slot), nil
	})
	// 3.2 MB of md5 text (TOASTed, and above the mapping's 1 MiB cap), and
	// 320 KB (below the cap, above the topic's limit).
	for id := 1; id <= 10; id++ {
		switch id {
		case 4:
			db.Exec(t, `INSERT INTO notes SELECT 4, string_agg(md5(i::text), '') FROM generate_series(1, 100000) i`)
		case 7:
			db.Exec(t, `INSERT INTO notes SELECT 7, string_agg(md5(i::text), '') FROM generate_series(1, 10000) i`)
		default:
			db.Exec(t, `INSERT INTO notes VALUES ($1, $2)`, id, fmt.Sprintf("note %d", id))
		}
	}

	cl := consumer(t, broker.Addrs(), "big.note", "big.deadletter")
	added := map[string]bool{}
	dead := map[string]*kgo.Record{}
	testenv.Await(t, 60*time.Second, "8 notes on big.note and 2 dead letters", func() (bool, error) {
		if err := p.running(); err != nil {
			return false, err
		}
		err := pollEvents(ctx, cl, func(r *kgo.Record, ev pipeline.Event) error {
			switch {
			case ev.Control != pipeline.NotControl:
			case ev.DeadLetter:
				var dl pipeline.DeadLetter
				if err := json.Unmarshal(ev.Data, &dl); err != nil {
					return err
				}
				dead[string(dl.Key)] = r
			default:
				added[ev.AggregateID] = true
			}
			return nil
		})
		return len(added) == 8 && len(dead) == 2, err
	})
	if added["4"] || added["7"] {
		t.Errorf("an oversized note was published as an event: %v", added)
	}
	// Both exceed the cap lowered to fit the topic's limit.
	wantCap := fmt.Sprintf("max_event_bytes %d", topicLimit-4096)
	for _, key := range []string{`{"id":4}`, `{"id":7}`} {
		r := dead[key]
		if r == nil {
			t.Errorf("no dead letter for key %s; have %v", key, dead)
			continue
		}
		if len(r.Value) > 4096 {
			t.Errorf("dead letter of key %s is %d bytes; want it by reference (small)", key, len(r.Value))
		}
		var reason string
		for _, h := range r.Headers {
			if h.Key == "cdcflow-reason" {
				reason = string(h.Value)
			}
		}
		if !strings.Contains(reason, "exceeds "+wantCap) {
			t.Errorf("dead letter of key %s: reason header %q; want the size above %s", key, reason, wantCap)
		}
		ev, err := pipeline.DecodeRecord(recordOf(r))
		if err != nil {
			t.Fatal(err)
		}
		var dl pipeline.DeadLetter
		if err := json.Unmarshal(ev.Data, &dl); err != nil {
			t.Fatal(err)
		}
		if dl.Reason != reason || dl.Table != "public.notes" || dl.AggregateType != "note" || dl.Row != nil || len(dl.Omitted) == 0 {
			t.Errorf("dead letter data of key %s = %+v; want by reference with the same reason", key, dl)
		}
		t.Logf("dead letter %s on big.deadletter (%d bytes): %s; omitted %v", key, len(r.Value), reason, dl.Omitted)
	}
	// A consumer may see the dead letters before the producer's
	// acknowledgement (which counts them) reaches cdcflow.
	testenv.Await(t, 30*time.Second, `cdcflow_kafka_dead_letters_total{kind="oversized"} = 2`, func() (bool, error) {
		return labeledMetric(t, metricsAddr, "cdcflow_kafka_dead_letters_total", `kind="oversized"`) == 2, nil
	})
	out, err := os.ReadFile(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "events above the Kafka record limit become dead letters by reference") {
		t.Errorf("no log line about the lowered event cap in:\n%s", tailLines(out, 20))
	}
	// The flow goes on after them.
	db.Exec(t, `INSERT INTO notes VALUES (11, 'after')`)
	testenv.Await(t, 30*time.Second, "the note after the oversized ones", func() (bool, error) {
		if err := p.running(); err != nil {
			return false, err
		}
		fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		cl.PollFetches(fctx).EachRecord(func(r *kgo.Record) {
			if ev, err := pipeline.DecodeRecord(recordOf(r)); err == nil && !ev.DeadLetter {
				added[ev.AggregateID] = true
			}
		})
		return added["11"], nil
	})
	if err := p.running(); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}
