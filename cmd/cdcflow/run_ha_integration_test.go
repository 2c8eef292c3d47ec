package main

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cdcflow/cdcflow/capture/replication"
	"github.com/cdcflow/cdcflow/internal/testenv"
)

// TestIntegrationRunActiveStandby runs three `cdcflow run` instances of one
// slot under load, in both delivery modes: they start together (one creates
// the slot and snapshots, the others stand by), then the active one is
// killed (SIGKILL) ten times at random moments, and frozen (SIGSTOP) three
// times, each time until another has taken over, then resumed (SIGCONT):
// it must find itself fenced and exit. Killed and fenced instances are
// started again as standbys. In the end shop.order must hold every audited
// change (nothing lost) and, read_committed in exactly-once mode, no record
// twice. The takeover times (from the signal to a new walsender streaming
// the slot) are logged: they are figures from a loaded machine, not
// assertions.
func TestIntegrationRunActiveStandby(t *testing.T) {
	for _, mode := range []string{"exactly_once", "at_least_once"} {
		t.Run(mode, func(t *testing.T) { activeStandby(t, mode) })
	}
}

// haInstance is one instance of the HA test: a runProc and its metrics
// address.
type haInstance struct {
	*runProc
	metrics string
}

// pid returns the process id of the running instance, 0 if none.
func (i *haInstance) pid() int {
	if i.cmd == nil {
		return 0
	}
	return i.cmd.Process.Pid
}

// logCount counts the times its log says what.
func (i *haInstance) logCount(t *testing.T, what string) int {
	t.Helper()
	out, err := os.ReadFile(i.logPath)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(out), what)
}

func activeStandby(t *testing.T, mode string) {
	ctx := t.Context()
	db, seed := orderDB(t, testenv.Postgres(t), 300)
	broker := testenv.Kafka(t)
	slot, env := ordersRunEnv(t, db, broker.Addrs(), "ha", "CDCFLOW_KAFKA_TOPICS_PARTITIONS=3",
		"CDCFLOW_KAFKA_DELIVERY="+mode,
		// Short bounds, so that a frozen instance is noticed quickly.
		"CDCFLOW_CAPTURE_LEASE_TIMEOUT=2s", "CDCFLOW_CAPTURE_LEASE_POLL_INTERVAL=200ms",
		"CDCFLOW_CAPTURE_LEASE_WAL_SENDER_TIMEOUT=3s", "CDCFLOW_KAFKA_TRANSACTION_TIMEOUT=5s")
	eos := mode == "exactly_once"
	cl := consumer(t, broker.Addrs(), "shop.order")
	if eos {
		cl = committedConsumer(t, broker.Addrs(), "shop.order")
	}
	fold := newOrderFold(cl)
	rng := rand.New(rand.NewPCG(seed, 18))
	conn := db.Conn(t)

	var insts []*haInstance
	for range 3 {
		addr := freeAddr(t)
		insts = append(insts, &haInstance{runProc: startRun(t, append(slices.Clone(env), "CDCFLOW_METRICS_ADDR="+addr)...), metrics: addr})
	}
	// active returns the instance holding the lease, nil if none of them.
	active := func() (*haInstance, replication.LeaseHolder) {
		h, err := replication.ReadLease(ctx, conn, slot)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range insts {
			if in.pid() != 0 && h.Held && strings.HasSuffix(h.Instance, ":"+strconv.Itoa(in.pid())) {
				return in, h
			}
		}
		return nil, h
	}
	walsender := func() int32 {
		var pid *int32
		if err := conn.QueryRow(ctx, `SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&pid); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			t.Fatal(err)
		}
		if pid == nil {
			return 0
		}
		return *pid
	}
	allRunning := func() error {
		for _, in := range insts {
			if in.cmd != nil {
				if err := in.running(); err != nil {
					return err
				}
			}
		}
		return nil
	}
	// Three instances start at once: one snapshot, taken by one of them.
	testenv.Await(t, 90*time.Second, "a complete snapshot on shop.order", func() (bool, error) {
		if err := allRunning(); err != nil {
			return false, err
		}
		return fold.snapshotEnds > 0, fold.poll(ctx)
	})
	if len(fold.epochs) != 1 {
		t.Fatalf("%d snapshot epochs begun by three instances starting together; want 1", len(fold.epochs))
	}
	awaitStandbys := func(want map[*haInstance]int) {
		t.Helper()
		testenv.Await(t, 30*time.Second, "the started instances to stand by", func() (bool, error) {
			for in, n := range want {
				if err := in.running(); err != nil {
					return false, err
				}
				if in.logCount(t, "standing by") <= n {
					return false, nil
				}
			}
			return true, nil
		})
	}
	first, _ := active()
	if first == nil {
		t.Fatal("no instance holds the capture lease after the snapshot")
	}
	others := map[*haInstance]int{}
	for _, in := range insts {
		if in != first {
			others[in] = 0
		}
	}
	awaitStandbys(others)

	// Load runs through every takeover; the audit starts now, so that
	// every audited change must come as its own event.
	installAudit(t, db)
	lctx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	loaded := make(chan error, 1)
	go func() {
		_, err := loadOrders(lctx, db.DSN, seed+1, 1_000_000, 60)
		loaded <- err
	}()

	// takeover signals the active instance with sig and returns how long
	// until another instance's walsender streams the slot.
	times := map[syscall.Signal][]time.Duration{}
	takeover := func(round int, sig syscall.Signal) *haInstance {
		t.Helper()
		old, _ := active()
		if old == nil {
			t.Fatalf("round %d: no instance holds the capture lease", round)
		}
		oldSender := walsender()
		if err := old.cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		at := time.Now()
		deadline := at.Add(60 * time.Second)
		for {
			if now, sender := time.Now(), walsender(); sender != 0 && sender != oldSender {
				if in, _ := active(); in != nil && in != old {
					times[sig] = append(times[sig], now.Sub(at))
					t.Logf("round %d (%v): instance %d took over in %v", round, sig, in.pid(), now.Sub(at).Round(time.Millisecond))
					return old
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d (%v): no other instance streams the slot 60s after the signal", round, sig)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	restart := func(in *haInstance) {
		t.Helper()
		n := in.logCount(t, "standing by")
		in.start()
		awaitStandbys(map[*haInstance]int{in: n})
	}
	for round := range 10 {
		time.Sleep(time.Duration(rng.Int64N(int64(1500 * time.Millisecond))))
		if err := allRunning(); err != nil {
			t.Fatal(err)
		}
		old := takeover(round, syscall.SIGKILL)
		<-old.exited
		old.cmd = nil
		restart(old)
	}
	for round := 10; round < 13; round++ {
		time.Sleep(time.Duration(rng.Int64N(int64(1500 * time.Millisecond))))
		old := takeover(round, syscall.SIGSTOP)
		if err := old.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-old.exited:
			if err == nil {
				t.Fatalf("round %d: the fenced instance exited with status 0; want an error", round)
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("round %d: the frozen instance did not exit within 60s of SIGCONT", round)
		}
		old.cmd = nil
		// It finds the lease taken or, in exactly-once mode, its Kafka
		// transaction fenced by the new active's producer (a produce
		// refused, or a commit refused, whose outcome it cannot know),
		// whichever comes first.
		fenced := old.logCount(t, "capture lease lost") > 0
		if eos {
			fenced = fenced || old.logCount(t, "transaction was fenced") > 0 || old.logCount(t, "commit outcome unknown") > 0
		}
		if !fenced {
			t.Fatalf("round %d: the resumed instance's log does not say it was fenced", round)
		}
		restart(old)
	}
	stopLoad()
	if err := <-loaded; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("load: %v", err)
	}
	last, holder := active()
	if last == nil {
		t.Fatal("no instance holds the capture lease at the end")
	}
	awaitConverged(t, last.runProc, db, fold, 90*time.Second)

	// One active instance, two ready standbys.
	for _, in := range insts {
		want := 0.0
		if in == last {
			want = 1
		}
		if got := labeledMetric(t, in.metrics, "cdcflow_capture_active"); got != want {
			t.Errorf("instance %d: cdcflow_capture_active = %v; want %v", in.pid(), got, want)
		}
		resp, err := http.Get("http://" + in.metrics + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("instance %d (active %v): /readyz = %d; want 200", in.pid(), in == last, resp.StatusCode)
		}
	}
	if got := labeledMetric(t, last.metrics, "cdcflow_capture_takeovers_total"); got != 1 {
		t.Errorf("active instance: cdcflow_capture_takeovers_total = %v; want 1", got)
	}
	if holder.Takeovers != 13 || holder.Standbys != 2 {
		t.Errorf("lease holder: %d takeovers, %d standbys; want 13 and 2", holder.Takeovers, holder.Standbys)
	}
	// cdcflow status says the same, pointed at the active instance.
	st, _ := statusJSON(t, append(slices.Clone(env), "CDCFLOW_METRICS_ADDR="+last.metrics))
	if c := st.Capture; c == nil || !c.Active || c.Instance != holder.Instance || c.Takeovers != 13 || c.Standbys != 2 || c.Since == nil {
		t.Errorf("cdcflow status: capture %+v; want active %s since a time, 13 takeovers, 2 standbys", c, holder.Instance)
	}

	_, audited := missingAudited(t, db, fold)
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGSTOP} {
		d := times[sig]
		slices.Sort(d)
		t.Logf("%s: %d takeovers after %v: median %v, max %v", mode, len(d), sig, d[len(d)/2].Round(time.Millisecond), d[len(d)-1].Round(time.Millisecond))
	}
	t.Logf("%s: %d audited changes, %d records, %d duplicates, %d repeated", mode, audited, fold.records, fold.duplicates, fold.repeats)
	if eos && (fold.repeats > 0 || fold.duplicates > 0) {
		t.Errorf("exactly-once: %d records repeated (%d events with an id seen before); want none", fold.repeats, fold.duplicates)
	}
	if len(fold.epochs) != 1 {
		t.Errorf("%d snapshot epochs; want 1 (a takeover never snapshots again)", len(fold.epochs))
	}
}
