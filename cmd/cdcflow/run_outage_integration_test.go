package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/cdcflow/cdcflow/internal/services"
	"github.com/cdcflow/cdcflow/internal/testenv"
)

// TestIntegrationRunEOSBrokerOutage stops the broker (its own process) in
// exactly-once mode under load at a moment when a Kafka transaction with
// records is open at it (DescribeTransactions says Ongoing just before the
// stop, and the broker saves it as in progress at its clean shutdown), and
// keeps it stopped for longer, or shorter, than kafka.transaction_timeout.
// Either way read_committed consumers must see every audited change and no
// record twice, and whenever run stops it must say why (fenced, or commit
// outcome unknown, or connection lost) and resume from the stored cursor when started again.
// Longer than the timeout, the held transaction must end aborted (its
// position record written but not committed). Shorter, if run never
// stopped, no transaction may have been aborted.
//
// What happens in practice: the transaction open at the broker is almost
// always finishing when the broker goes: the client cannot reach the
// coordinator to commit (outcome unknown) or, before the commit, saw a
// connection fail (TxPublisher aborts), so run stops within about a second,
// whatever the outage's length; the restart, once the broker is back,
// fences that transaction (kfake has already aborted it at its start if it
// outlived its timeout) and resumes.
func TestIntegrationRunEOSBrokerOutage(t *testing.T) {
	for _, tc := range []struct {
		name      string
		txTimeout time.Duration
		outage    time.Duration
		// expires: the open transaction outlives its timeout.
		expires bool
	}{
		{name: "longer than the transaction timeout", txTimeout: 2 * time.Second, outage: 8 * time.Second, expires: true},
		{name: "shorter than the transaction timeout", txTimeout: 60 * time.Second, outage: 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			db, seed := orderDB(t, testenv.Postgres(t), 30)
			broker := testenv.BrokerProcess(t, "")
			slot, env := ordersRunEnv(t, db, broker.Addrs(), "eosoutage",
				"CDCFLOW_KAFKA_DELIVERY=exactly_once",
				"CDCFLOW_KAFKA_TRANSACTION_TIMEOUT="+tc.txTimeout.String())
			p := startRun(t, env...)
			fold := newOrderFold(committedConsumer(t, broker.Addrs(), "shop.order"))
			awaitSnapshot(t, ctx, p, fold)
			installAudit(t, db)

			// Under steady load (20 s of it) the publisher is nearly always in a Kafka
			// transaction; stop the broker as soon as DescribeTransactions
			// says one is open at the broker (Ongoing, with partitions).
			loaded := make(chan error, 1)
			go func() {
				_, err := loadOrders(ctx, db.DSN, seed+1, 3000, 150)
				loaded <- err
			}()
			awaitStreamed(t, p, fold, 100)
			adm := kadm.NewClient(broker.Client(t))
			txid := "cdcflow-" + slot
			var (
				open  kadm.DescribedTransaction
				held  []heldTxn
				stops []string // the error of each exit of run
			)
			for attempt := 1; len(held) == 0; attempt++ {
				if attempt > 20 {
					t.Fatalf("no Kafka transaction of %s with records held open by the broker's stop in 20 attempts", txid)
				}
				open = awaitOpenTxn(t, adm, txid)
				if err := broker.Stop(); err != nil {
					t.Fatal(err)
				}
				held = heldTxns(t, broker.DataDir())
				if len(held) == 0 {
					// It committed between the describe and the stop:
					// again, after this outage of a moment.
					broker.Restart(t)
					stops = append(stops, restartIfExited(t, p)...)
				}
			}
			stopped := time.Now()
			// The outage. run may stop during it (a commit under way
			// fails at once: its outcome is unknown); it is restarted once
			// the broker is back, as a supervisor would keep doing.
			var exitedEarly bool
			testenv.Await(t, tc.outage+30*time.Second, fmt.Sprintf("an outage of %v", tc.outage), func() (bool, error) {
				exitedEarly = exitedEarly || p.running() != nil
				return time.Since(stopped) >= tc.outage, nil
			})
			broker.Restart(t)
			outage := time.Since(stopped)
			stops = append(stops, restartIfExited(t, p)...)
			if err := <-loaded; err != nil {
				t.Fatalf("load: %v", err)
			}
			// After the outage run either goes on by itself or stops (the
			// broker aborted its transaction: fenced, or commit outcome
			// unknown); each stop is followed by a restart.
			testenv.Await(t, 120*time.Second, "shop.order to fold to the database and hold every audited change", func() (bool, error) {
				stops = append(stops, restartIfExited(t, p)...)
				if err := fold.poll(ctx); err != nil {
					return false, err
				}
				return foldMatches(t, db, fold, orderStatuses(t, db))
			})
			for _, line := range stops {
				if !knownStop(line) {
					t.Errorf("run stopped with neither the fenced, the commit-outcome-unknown nor the connection-lost message:\n%s", line)
				}
			}
			if fold.repeats > 0 || fold.duplicates > 0 {
				t.Errorf("%d records repeated (%d events with an id seen before) for read_committed; want none", fold.repeats, fold.duplicates)
			}
			// Every Kafka transaction holds one position record; those of
			// aborted transactions stay in the log, visible to
			// read_uncommitted only.
			written := countRecords(t, broker.Addrs(), "cdcflow.positions", slot, kgo.ReadUncommitted())
			committed := countRecords(t, broker.Addrs(), "cdcflow.positions", slot, kgo.ReadCommitted())
			aborted := written - committed
			switch {
			case tc.expires && aborted <= 0:
				t.Errorf("%d position records written, %d committed; want the held transaction's aborted", written, committed)
			case !tc.expires && len(stops) == 0 && aborted != 0:
				t.Errorf("%d position records written, %d committed; want all committed (run never stopped)", written, committed)
			}
			_, audited := missingAudited(t, db, fold)
			t.Logf("transaction open at the stop (epoch %d, %d topics; held by the broker: %+v); outage %v; run exited during it: %v; stops: %q; %d orders, %d audited changes, %d records on shop.order; %d Kafka transactions committed, %d aborted; %d records skipped by a restart",
				open.ProducerEpoch, len(open.Topics), held, outage.Round(100*time.Millisecond), exitedEarly, stops, len(fold.status), audited, fold.records, committed, aborted, p.skippedRecords())
		})
	}
}

// awaitOpenTxn describes txid at the broker until it has a transaction open
// (Ongoing, with partitions) and returns it. A tight loop, not
// testenv.Await: its growing pause would mostly miss the few milliseconds
// between describing an open transaction and stopping the broker.
func awaitOpenTxn(t *testing.T, adm *kadm.Client, txid string) kadm.DescribedTransaction {
	t.Helper()
	var open kadm.DescribedTransaction
	for deadline := time.Now().Add(30 * time.Second); ; {
		if time.Now().After(deadline) {
			t.Fatalf("no Kafka transaction of %s seen open at the broker within 30s (last: %+v)", txid, open)
		}
		described, err := adm.DescribeTransactions(t.Context(), txid)
		if err != nil {
			t.Fatal(err)
		}
		if open = described[txid]; open.State == "Ongoing" && len(open.Topics) > 0 {
			return open
		}
	}
}

// heldTxn is a transaction that kfake saved as in progress at its clean
// shutdown: its producer, start and the first offset of its records in each
// partition (session_state.json in the data directory, kfake's own format,
// read here only as evidence of what the outage held open).
type heldTxn struct {
	PID         int64                      `json:"pid"`
	TxStart     time.Time                  `json:"txStart"`
	FirstOffset map[string]map[int32]int64 `json:"txPartFirstOffsets"`
}

// heldTxns returns the transactions with records that the stopped broker of
// dataDir holds open.
func heldTxns(t *testing.T, dataDir string) []heldTxn {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "session_state.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var ss struct {
		InProgress []heldTxn `json:"inProgressTxns"`
	}
	if err := json.Unmarshal(b, &ss); err != nil {
		t.Fatalf("session_state.json: %v", err)
	}
	var held []heldTxn
	for _, h := range ss.InProgress {
		if len(h.FirstOffset) > 0 {
			held = append(held, h)
		}
	}
	return held
}

// restartIfExited starts p again if it has exited and returns the error it
// stopped with, from the end of its output (nothing if it runs).
func restartIfExited(t *testing.T, p *runProc) []string {
	t.Helper()
	select {
	case <-p.exited:
	default:
		return nil
	}
	p.cmd = nil
	out, err := os.ReadFile(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	p.start()
	// The error run stopped with, which may span lines (an abort that
	// failed too is joined to its cause).
	text := string(out)
	if i := strings.LastIndex(text, "cdcflow run: "); i >= 0 {
		text = text[i:]
	}
	return []string{strings.TrimSpace(text)}
}

// countRecords reads topic from its start up to the end offsets it has when
// called, with isolation, and counts the records of key. (run keeps
// writing: in exactly-once mode every progress record is a transaction, so
// "until nothing more comes" would never end.)
func countRecords(t *testing.T, addrs []string, topic, key string, isolation kgo.IsolationLevel) int {
	t.Helper()
	admCl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	ends, err := kadm.NewClient(admCl).ListEndOffsets(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	left := map[int32]int64{} // partition → end offset not yet reached
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	// Transaction markers take offsets too: keep them to see the end.
	cl := consumerWith(t, addrs, []string{topic}, kgo.FetchIsolationLevel(isolation), kgo.KeepControlRecords())
	n := 0
	testenv.Await(t, 60*time.Second, topic+" read up to its end offsets", func() (bool, error) {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := left[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			if !r.Attrs.IsControl() && string(r.Key) == key {
				n++
			}
			if r.Offset == end-1 {
				delete(left, r.Partition)
			}
		})
		return len(left) == 0, nil
	})
	return n
}

// TestIntegrationRunEOSBrokerOutageMidProduce is the moment the process
// test cannot hit: the broker (in process, its data directory kept) has
// appended a transaction's records but the client has not had the answer
// (kfake answers REQUEST_TIMED_OUT after appending, so the client retries),
// and the broker then stays down for 4 s, longer than transaction_timeout
// (2 s). kfake, started again, aborts the expired transaction without
// fencing the producer, so the retried records are acknowledged as
// duplicates of aborted ones and a commit would succeed with them invisible
// to read_committed: without TxPublisher's guard the fold never reaches the
// database. With it, run aborts the transaction, stops saying why, and the
// restart writes the records again: nothing lost, nothing twice.
func TestIntegrationRunEOSBrokerOutageMidProduce(t *testing.T) {
	ctx := t.Context()
	db, seed := orderDB(t, testenv.Postgres(t), 30)
	broker := testenv.NewKafka(t, services.KafkaOptions{SyncWrites: true})
	_, env := ordersRunEnv(t, db, broker.Addrs(), "eosmidproduce",
		"CDCFLOW_KAFKA_DELIVERY=exactly_once", "CDCFLOW_KAFKA_TRANSACTION_TIMEOUT=2s")
	p := startRun(t, env...)
	fold := newOrderFold(committedConsumer(t, broker.Addrs(), "shop.order"))
	awaitSnapshot(t, ctx, p, fold)
	installAudit(t, db)
	timedOut := broker.Cluster().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "shop.order", Err: kerr.RequestTimedOut, Count: -1})
	if _, err := loadOrders(ctx, db.DSN, seed+1, 5, 0); err != nil {
		t.Fatal(err)
	}
	if err := timedOut.Wait(ctx, 1); err != nil {
		t.Fatal(err)
	}
	broker.Close()
	stopped := time.Now()
	testenv.Await(t, 30*time.Second, "an outage of 4s", func() (bool, error) {
		return time.Since(stopped) >= 4*time.Second, nil
	})
	if err := broker.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	var stops []string
	testenv.Await(t, 60*time.Second, "shop.order to fold to the database and hold every audited change", func() (bool, error) {
		stops = append(stops, restartIfExited(t, p)...)
		if err := fold.poll(ctx); err != nil {
			return false, err
		}
		return foldMatches(t, db, fold, orderStatuses(t, db))
	})
	if len(stops) == 0 {
		t.Errorf("run never stopped; want it to abort the transaction the broker lost and stop")
	}
	for _, line := range stops {
		if !strings.Contains(line, "exactly-once: connection to the kafka brokers lost during the transaction") {
			t.Errorf("run stopped without the connection-lost message:\n%s", line)
		}
	}
	if fold.repeats > 0 || fold.duplicates > 0 {
		t.Errorf("%d records repeated (%d events with an id seen before) for read_committed; want none", fold.repeats, fold.duplicates)
	}
	t.Logf("stopped with: %q; %d records on shop.order, %d records skipped by the restart", stops, fold.records, p.skippedRecords())
}

// knownStop reports whether line is one of the messages an exactly-once
// run stops with when Kafka lost or may have lost its transaction.
func knownStop(line string) bool {
	for _, m := range []string{
		"exactly-once: the Kafka transaction was fenced",
		"exactly-once: kafka transaction commit outcome unknown",
		"exactly-once: connection to the kafka brokers lost during the transaction",
	} {
		if strings.Contains(line, m) {
			return true
		}
	}
	return false
}
