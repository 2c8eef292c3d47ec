package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/internal/loadgen"
	"github.com/cdcflow/cdcflow/internal/testenv"
	"github.com/cdcflow/cdcflow/pipeline"
	"github.com/cdcflow/cdcflow/sinks/redisview"
)

// cepWindows are the test copy's windows: the reference rules
// (deploy/examples/orders/cep.yaml) with second-scale durations.
type cepWindows struct {
	overdue, resolve, declined, atRisk time.Duration
	atLeast                            int
}

var testWindows = cepWindows{overdue: time.Second, resolve: 5 * time.Second, declined: 30 * time.Second, atRisk: 20 * time.Second, atLeast: 2}

// testRules returns the reference rule file with w's windows.
func testRules(t *testing.T, root string, w cepWindows) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(root, "deploy/examples/orders/cep.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(src)
	for _, r := range []struct{ old, new string }{
		{"within: 24h", "within: " + w.overdue.String()},
		{"within: 720h", "within: " + w.resolve.String()},
		{"within: 168h", "within: " + w.declined.String()},
		{"window: 1h", "window: " + w.atRisk.String()},
		{"at_least: 3", fmt.Sprintf("at_least: %d", w.atLeast)},
	} {
		if !strings.Contains(s, r.old) {
			t.Fatalf("the reference rules no longer contain %q: update the test", r.old)
		}
		s = strings.Replace(s, r.old, r.new, 1)
	}
	path := filepath.Join(t.TempDir(), "cep.yaml")
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// auditRow is one order event as the source tables record it, at its
// transaction's commit time (track_commit_timestamp).
type auditRow struct {
	order, customer, typ string
	at                   time.Time
}

// predictCEP returns the derived events the rules must give over rows
// (in commit order), once the watermark has passed every deadline, each as
// "Type key time extra": the rule semantics of docs/cep.md written out
// plainly.
func predictCEP(rows []auditRow, w cepWindows) []string {
	var out []string
	at := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	// order_overdue: a promise not declared or revoked within w.overdue
	// fires at its deadline; a later declaration or revocation within
	// w.resolve of the deadline resolves it.
	promised := map[string][]time.Time{}
	for _, r := range rows {
		switch r.typ {
		case "OrderPromised":
			promised[r.order] = append(promised[r.order], r.at)
		case "OrderDeclared", "OrderRevoked":
			for _, p := range promised[r.order] {
				due := p.Add(w.overdue)
				if r.at.After(due) {
					out = append(out, "OrderOverdue "+r.order+" "+at(due)+" due="+at(due))
					if !r.at.After(due.Add(w.resolve)) {
						out = append(out, "OrderOverdueResolved "+r.order+" "+at(r.at)+" by="+r.typ)
					}
				}
			}
			delete(promised, r.order)
		}
	}
	for order, ps := range promised {
		for _, p := range ps {
			due := p.Add(w.overdue)
			out = append(out, "OrderOverdue "+order+" "+at(due)+" due="+at(due))
		}
	}
	// order_declined: a request then a decline within w.declined gives
	// the decline its customer; customer_at_risk counts those per customer
	// in a sliding window, starting afresh once it fires.
	requested := map[string]auditRow{}
	window := map[string][]time.Time{}
	for _, r := range rows {
		switch r.typ {
		case "OrderRequested":
			requested[r.order] = r
		case "OrderDeclined":
			req, ok := requested[r.order]
			if !ok || r.at.After(req.at.Add(w.declined)) {
				continue
			}
			out = append(out, "CustomerOrderDeclined "+r.order+" "+at(r.at)+" customer="+req.customer)
			win := append(window[req.customer], r.at)
			for len(win) > 0 && win[0].Before(r.at.Add(-w.atRisk)) {
				win = win[1:]
			}
			if len(win) >= w.atLeast {
				out = append(out, fmt.Sprintf("CustomerAtRisk %s %s declined=%d first=%s", req.customer, at(r.at), len(win), at(win[0])))
				win = nil
			}
			window[req.customer] = win
		}
	}
	slices.Sort(out)
	return out
}

// derivedEvent is a derived event read back, described as predictCEP
// describes it.
type derivedEvent struct {
	id, line string
}

// describeDerived returns e as predictCEP's lines.
func describeDerived(e pipeline.Event) (string, error) {
	var d map[string]any
	dec := json.NewDecoder(strings.NewReader(string(e.Data)))
	dec.UseNumber()
	if err := dec.Decode(&d); err != nil {
		return "", err
	}
	head := e.Type + " " + e.AggregateID + " " + e.Time.UTC().Format(time.RFC3339Nano)
	str := func(k string) string { return fmt.Sprint(d[k]) }
	// Timestamps in derived data are RFC 3339 strings; normalise them as
	// the prediction writes them.
	ts := func(k string) string {
		t, err := time.Parse(time.RFC3339Nano, str(k))
		if err != nil {
			return str(k)
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	switch e.Type {
	case "OrderOverdue":
		return head + " due=" + ts("due"), nil
	case "OrderOverdueResolved":
		return head + " by=" + str("resolved_by"), nil
	case "CustomerOrderDeclined":
		return head + " customer=" + str("customer_id"), nil
	case "CustomerAtRisk":
		return head + " declined=" + str("declined") + " first=" + ts("first_declined_at"), nil
	}
	return "", fmt.Errorf("unexpected derived type %q", e.Type)
}

// readDerived reads topic with read_committed up to its last stable
// offsets.
func readDerived(ctx context.Context, brokers []string, topic string) ([]derivedEvent, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	if err := ends.Error(); err != nil {
		return nil, err
	}
	want := map[int32]int64{}
	start := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
			start[o.Partition] = kgo.NewOffset().AtStart()
		}
	})
	if len(want) == 0 {
		return nil, nil
	}
	rd, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: start}))
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	var out []derivedEvent
	for len(want) > 0 {
		fs := rd.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := firstFetchError(fs); err != nil {
			return nil, err
		}
		for it := fs.RecordIter(); !it.Done(); {
			r := it.Next()
			if end, ok := want[r.Partition]; ok && r.Offset >= end-1 {
				delete(want, r.Partition)
			}
			if r.Attrs.IsControl() || r.Offset >= endOr(want, r.Partition, r.Offset+1) {
				continue
			}
			rec := pipeline.Record{Topic: r.Topic, Key: r.Key, Value: r.Value}
			for _, h := range r.Headers {
				rec.Headers = append(rec.Headers, pipeline.Header{Key: h.Key, Value: h.Value})
			}
			e, err := pipeline.DecodeRecord(rec)
			if err != nil {
				return nil, fmt.Errorf("%s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
			}
			line, err := describeDerived(e)
			if err != nil {
				return nil, err
			}
			out = append(out, derivedEvent{id: e.ID, line: line})
		}
	}
	return out, nil
}

func endOr(m map[int32]int64, p int32, def int64) int64 {
	if v, ok := m[p]; ok {
		return v
	}
	return def
}

func firstFetchError(fs kgo.Fetches) error {
	var first error
	fs.EachError(func(t string, p int32, err error) {
		if first == nil {
			first = fmt.Errorf("fetch %s/%d: %w", t, p, err)
		}
	})
	return first
}

// TestIntegrationCEPExactlyOnce: `cdcflow run` publishes a load generator's
// orders; `cdcflow cep` runs a test copy of the reference rules with
// second-scale windows and is killed with SIGKILL ten times at random
// moments. The derived topic (read_committed) must then hold exactly the
// events that the rules predict over the source's own record of the order
// events and their commit times (track_commit_timestamp), each once; and a
// replay (another name, another topic, from the beginning) must derive the
// same events with the same ids.
func TestIntegrationCEPExactlyOnce(t *testing.T) {
	ctx := t.Context()
	pg := testenv.NewPostgres(t, map[string]string{"track_commit_timestamp": "on"})
	db := pg.NewDatabase(t)
	if err := loadgen.Init(ctx, db.Conn(t)); err != nil {
		t.Fatal(err)
	}
	db.Exec(t, `ALTER TABLE orders REPLICA IDENTITY FULL`)
	db.Exec(t, `CREATE TABLE cep_audit (seq bigserial PRIMARY KEY, order_id text NOT NULL, customer_id text NOT NULL, event_type text NOT NULL)`)
	db.Exec(t, `CREATE FUNCTION cep_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO cep_audit (order_id, customer_id, event_type) VALUES (NEW.order_id, NEW.customer_id, 'OrderRequested');
  ELSIF NEW.status IS DISTINCT FROM OLD.status THEN
    INSERT INTO cep_audit (order_id, customer_id, event_type) VALUES (NEW.order_id, NEW.customer_id, CASE NEW.status
      WHEN 'C' THEN 'OrderPromised' WHEN 'D' THEN 'OrderDeclined' WHEN 'S' THEN 'OrderDeclared'
      WHEN 'V' THEN 'OrderAccepted' WHEN 'R' THEN 'OrderRejected' WHEN 'X' THEN 'OrderRevoked'
      ELSE 'unknown' END);
  END IF;
  RETURN NULL;
END $$`)
	db.Exec(t, `CREATE TRIGGER cep_audit AFTER INSERT OR UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION cep_audit()`)

	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	kafka := testenv.Kafka(t)
	brokers := kafka.Addrs()
	slot := fmt.Sprintf("cep_%d", time.Now().UnixNano()%1e9)
	env := []string{
		"CDCFLOW_SOURCE_DSN=" + db.DSN,
		"CDCFLOW_SOURCE_TIMEZONE=" + loadgen.ShopZone,
		"CDCFLOW_MAPPING_FILE=" + filepath.Join(root, "deploy/examples/orders/mapping.yaml"),
		"CDCFLOW_KAFKA_BROKERS=" + strings.Join(brokers, ","),
		"CDCFLOW_KAFKA_TOPICS_PARTITIONS=3",
		// Idle partitions move the watermark every 200ms, with the
		// heartbeats' time once the load has stopped.
		"CDCFLOW_KAFKA_PROGRESS_INTERVAL=200ms",
		"CDCFLOW_CAPTURE_HEARTBEAT_INTERVAL=300ms",
		"CDCFLOW_CAPTURE_SLOT=" + slot,
		"CDCFLOW_CAPTURE_PUBLICATION=" + slot,
		"CDCFLOW_DATA_DIR=" + t.TempDir(),
		"CDCFLOW_CEP_FILE=" + testRules(t, root, testWindows),
		"CDCFLOW_CEP_COMMIT_INTERVAL=300ms",
	}
	_, runExited := startCdcflowCmd(t, env, "run", "--progress=false")
	// The load starts once capture streams: an order inserted before the
	// slot existed would be a snapshot row, not an OrderRequested.
	testenv.Await(t, 60*time.Second, "capture to stream from slot "+slot, func() (bool, error) {
		var active bool
		err := db.Conn(t).QueryRow(ctx, `SELECT coalesce(bool_or(active), false) FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&active)
		return active, err
	})

	seed := testenv.Seed(t)
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	loadDone := make(chan error, 1)
	go func() {
		g, err := loadgen.New(loadgen.Config{DSN: db.DSN, Seed: uint64(seed), Count: 900, Rate: 90})
		if err == nil {
			err = g.Run(ctx)
		}
		loadDone <- err
	}()

	// Ten kills at random moments while the load runs and after.
	for i := range 10 {
		cmd, exited := startCdcflowCmd(t, env, "cep")
		wait := time.Duration(200+rng.IntN(1800)) * time.Millisecond
		select {
		case err := <-exited:
			t.Fatalf("cdcflow cep (start %d) exited before its kill: %v", i+1, err)
		case err := <-runExited:
			t.Fatalf("cdcflow run exited: %v", err)
		case <-time.After(wait):
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-exited
		t.Logf("cdcflow cep killed after %s", wait)
	}
	if err := <-loadDone; err != nil {
		t.Fatalf("load: %v", err)
	}
	directedCases(t, db.Conn(t))
	// The killed runs committed state: the restarts resumed from it.
	stateEnd := func() int64 {
		cl := kafka.Client(t)
		ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, "cdcflow.cep.state")
		if err != nil {
			t.Fatal(err)
		}
		o, _ := ends.Lookup("cdcflow.cep.state", 0)
		return o.Offset
	}
	if n := stateEnd(); n <= 0 {
		t.Fatalf("after ten killed runs the state topic's last stable offset is %d: no run committed", n)
	} else {
		t.Logf("the killed runs left the state topic at offset %d", n)
	}
	_, cepExited := startCdcflowCmd(t, env, "cep")

	rows := func() []auditRow {
		var out []auditRow
		res, err := db.Conn(t).Query(ctx, `SELECT order_id, customer_id, event_type, pg_xact_commit_timestamp(xmin) FROM cep_audit ORDER BY 4, seq`)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Close()
		for res.Next() {
			var r auditRow
			if err := res.Scan(&r.order, &r.customer, &r.typ, &r.at); err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
		if err := res.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}()
	want := predictCEP(rows, testWindows)
	kinds := map[string]int{}
	for _, l := range want {
		kinds[strings.Fields(l)[0]]++
	}
	t.Logf("%d order events; predicted derived events: %v", len(rows), kinds)
	for _, k := range []string{"OrderOverdue", "OrderOverdueResolved", "CustomerOrderDeclined", "CustomerAtRisk"} {
		if kinds[k] == 0 {
			t.Errorf("the workload predicts no %s: that rule is not tested (seed %d)", k, seed)
		}
	}

	// awaitDerived waits until topic holds exactly want, each once.
	awaitDerived := func(topic string, exited <-chan error) []derivedEvent {
		t.Helper()
		var got []derivedEvent
		diff := "nothing read yet"
		deadline := time.Now().Add(90 * time.Second)
		for diff != "" {
			select {
			case err := <-exited:
				t.Fatalf("cdcflow cep exited: %v", err)
			case err := <-runExited:
				t.Fatalf("cdcflow run exited: %v", err)
			case <-time.After(200 * time.Millisecond):
			}
			var err error
			if got, err = readDerived(ctx, brokers, topic); err != nil {
				t.Fatal(err)
			}
			lines := make([]string, len(got))
			for i, d := range got {
				lines[i] = d.line
			}
			slices.Sort(lines)
			diff = lineDiff(lines, want)
			if diff != "" && time.Now().After(deadline) {
				t.Fatalf("%s after 90s: the derived events differ from the prediction (- got, + want):\n%s", topic, diff)
			}
		}
		ids := map[string]bool{}
		for _, d := range got {
			if ids[d.id] {
				t.Errorf("%s: id %s twice", topic, d.id)
			}
			ids[d.id] = true
		}
		return got
	}
	got := awaitDerived("shop.cep", cepExited)

	// A replay: another name (state and transactional id) and topic, from
	// the beginning of the event topics.
	replayEnv := append(slices.Clip(env), "CDCFLOW_CEP_NAME=replay", "CDCFLOW_CEP_TOPIC=shop.cep.replay")
	_, replayExited := startCdcflowCmd(t, replayEnv, "cep")
	replayed := awaitDerived("shop.cep.replay", replayExited)
	idOf := map[string]string{}
	for _, d := range got {
		idOf[d.line] = d.id
	}
	for _, d := range replayed {
		if idOf[d.line] != d.id {
			t.Errorf("replay derived %q with id %s; the live run's id is %s", d.line, d.id, idOf[d.line])
		}
	}
	// Nothing more arrived on the live topic meanwhile.
	if again, err := readDerived(ctx, brokers, "shop.cep"); err != nil || len(again) != len(want) {
		t.Errorf("shop.cep holds %d events after the replay, %v; want %d", len(again), err, len(want))
	}

	checkOverdueView(t, env, root, want)
}

// directedCases adds what a random load can leave out, so that whatever the
// seed every rule and the overdue view have a case: one customer's two new
// orders declined in one transaction (the at-risk rule wants two declines
// within its window; testWindows), and one order promised and never
// declared (an overdue that nothing resolves).
func directedCases(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	ctx := t.Context()
	rows, err := conn.Query(ctx, `
		INSERT INTO orders (customer_id, status, total, currency, shipping_address, "createdBy", ordered_at, updated_at)
		SELECT customer_id, 'N', 10.00, 'EUR', '{"city": "Berlin"}', 'cep-test', now(), now()
		FROM (SELECT customer_id FROM customers ORDER BY customer_id LIMIT 1) c, generate_series(1, 3)
		RETURNING order_id`)
	if err != nil {
		t.Fatalf("insert three orders: %v", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil || len(ids) != 3 {
		t.Fatalf("insert three orders: %v, %v", ids, err)
	}
	if _, err := conn.Exec(ctx, `UPDATE orders SET status = 'D', updated_at = now() WHERE order_id = ANY($1)`, ids[:2]); err != nil {
		t.Fatalf("decline orders %v: %v", ids[:2], err)
	}
	if _, err := conn.Exec(ctx, `UPDATE orders SET status = 'C', updated_at = now() WHERE order_id = $1`, ids[2]); err != nil {
		t.Fatalf("promise order %d: %v", ids[2], err)
	}
}

// checkOverdueView materializes the reference example's overdue views
// (deploy/examples/orders/overdue.views.yaml) with cep.file set: the
// materializer then reads the derived events' topic (and not shop.order,
// which none of these views folds), and the overdue entity view holds
// exactly the orders whose OrderOverdue no OrderOverdueResolved followed.
func checkOverdueView(t *testing.T, env []string, root string, want []string) {
	t.Helper()
	ctx := t.Context()
	open := map[string]int{}
	var resolved []string
	for _, l := range want {
		f := strings.Fields(l)
		switch f[0] {
		case "OrderOverdue":
			open[f[1]]++
		case "OrderOverdueResolved":
			open[f[1]]--
			resolved = append(resolved, f[1])
		}
	}
	var in, out []string
	for o, n := range open {
		if n > 0 {
			in = append(in, o)
		}
	}
	for _, o := range resolved {
		if open[o] <= 0 {
			out = append(out, o)
		}
	}
	if len(in) == 0 || len(out) == 0 {
		t.Fatalf("the workload leaves %d orders overdue and %d resolved: the overdue view is not tested", len(in), len(out))
	}
	viewsFile := filepath.Join(root, "deploy/examples/orders/overdue.views.yaml")
	src, err := os.ReadFile(viewsFile)
	if err != nil {
		t.Fatal(err)
	}
	defs, err := redisview.ParseDefinitions(src)
	if err != nil {
		t.Fatal(err)
	}
	rsrv := testenv.Redis(t)
	prefix := rsrv.Prefix(t)
	_, exited := startCdcflowCmd(t, append(slices.Clip(env), "CDCFLOW_VIEWS_FILE="+viewsFile,
		"CDCFLOW_VIEWS_REDIS_ADDRS="+rsrv.Addr(), "CDCFLOW_VIEWS_PREFIX="+prefix), "materialize")
	reader, err := redisview.NewReader(defs, rsrv.Client(t), prefix, 3)
	if err != nil {
		t.Fatal(err)
	}
	var problem string
	t.Cleanup(func() {
		if t.Failed() && problem != "" {
			t.Log("last check of the overdue view: " + problem)
		}
	})
	testenv.Await(t, 90*time.Second, "the overdue view to hold the overdue orders and none resolved", func() (bool, error) {
		select {
		case err := <-exited:
			return false, fmt.Errorf("cdcflow materialize exited: %v", err)
		default:
		}
		snap, err := reader.Current(ctx)
		if err != nil {
			return false, nil // no generation yet
		}
		for _, o := range in {
			if e, err := snap.Entity(ctx, "overdue", o); err != nil || e == nil {
				problem = "order " + o + " went overdue without a resolution, and is not in the overdue view"
				return false, err
			}
		}
		for _, o := range out {
			if e, err := snap.Entity(ctx, "overdue", o); err != nil || e != nil {
				problem = "order " + o + " was resolved, and is in the overdue view"
				return false, err
			}
		}
		return true, nil
	})
	t.Logf("overdue view: %d orders overdue, %d resolved ones absent", len(in), len(out))
}

// lineDiff returns the lines only in got (-) and only in want (+), both
// sorted; "" when they are equal.
func lineDiff(got, want []string) string {
	var b strings.Builder
	i, j := 0, 0
	for i < len(got) || j < len(want) {
		switch {
		case j == len(want) || (i < len(got) && got[i] < want[j]):
			fmt.Fprintf(&b, "- %s\n", got[i])
			i++
		case i == len(got) || want[j] < got[i]:
			fmt.Fprintf(&b, "+ %s\n", want[j])
			j++
		default:
			i++
			j++
		}
	}
	return b.String()
}
