package opscheck

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/cdcflow/cdcflow/internal/loadgen"
	"github.com/cdcflow/cdcflow/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// instance is a running `cdcflow run` with the views materialized in the
// same process, on the reference order database, in exactly-once mode (so
// that the transaction metrics exist too), on the embedded broker.
type instance struct {
	metrics string // host:port of /metrics
	query   string // host:port of the query API
	db      *testenv.DB
	seed    int64
}

// startInstance starts the instance and returns once every stage has moved
// data: the snapshot read, changes streamed after it, events acknowledged
// and applied, a heartbeat confirmed.
func startInstance(t *testing.T) *instance {
	t.Helper()
	ctx := t.Context()
	in := &instance{db: testenv.Postgres(t).NewDatabase(t), seed: testenv.Seed(t)}
	if err := loadgen.Init(ctx, in.db.Conn(t)); err != nil {
		t.Fatal(err)
	}
	in.db.Exec(t, `ALTER TABLE orders REPLICA IDENTITY FULL`)
	in.load(t, 50, 0) // rows for the snapshot
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	in.metrics = l.Addr().String()
	l.Close()
	ql, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	in.query = ql.Addr().String()
	ql.Close()
	slot := fmt.Sprintf("opscheck_%d", time.Now().UnixNano()%1e9)
	rsrv := testenv.Redis(t)
	env := []string{
		"CDCFLOW_SOURCE_DSN=" + in.db.DSN,
		"CDCFLOW_SOURCE_TIMEZONE=" + loadgen.ShopZone,
		"CDCFLOW_MAPPING_FILE=" + repoFile("deploy/examples/orders/mapping.yaml"),
		"CDCFLOW_KAFKA_TOPICS_PARTITIONS=3",
		"CDCFLOW_KAFKA_DELIVERY=exactly_once",
		"CDCFLOW_CAPTURE_SLOT=" + slot,
		"CDCFLOW_CAPTURE_PUBLICATION=" + slot,
		"CDCFLOW_CAPTURE_HEARTBEAT_INTERVAL=1s",
		"CDCFLOW_DATA_DIR=" + t.TempDir(),
		"CDCFLOW_VIEWS_ENABLED=true",
		"CDCFLOW_VIEWS_FILE=" + repoFile("deploy/examples/orders/views.yaml"),
		"CDCFLOW_VIEWS_REDIS_ADDRS=" + rsrv.Addr(),
		"CDCFLOW_VIEWS_PREFIX=" + rsrv.Prefix(t),
		"CDCFLOW_METRICS_ADDR=" + in.metrics,
		"CDCFLOW_QUERY_ADDR=" + in.query,
		"CDCFLOW_CEP_ENABLED=true",
		"CDCFLOW_CEP_FILE=" + repoFile("deploy/examples/orders/cep.yaml"),
	}
	cmd := exec.Command(testenv.Cdcflow(t), "run", "--progress=false")
	cmd.Env = append(os.Environ(), env...)
	logPath := filepath.Join(t.TempDir(), "run.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logFile.Close() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("cdcflow run did not stop within 30s of SIGINT")
		}
		if t.Failed() {
			out, _ := os.ReadFile(logPath)
			t.Logf("cdcflow run output:\n%s", out)
		}
	})
	running := func() error {
		select {
		case err := <-exited:
			exited <- err
			return fmt.Errorf("cdcflow run exited: %v", err)
		default:
			return nil
		}
	}
	testenv.Await(t, 90*time.Second, "the snapshot applied to the views", func() (bool, error) {
		if err := running(); err != nil {
			return false, err
		}
		fams, err := scrape(in.metrics)
		if err != nil {
			return false, nil // not listening yet
		}
		return sum(fams, "cdcflow_views_events_applied_total") > 0 && sum(fams, "cdcflow_capture_snapshot_rows_total") > 0, nil
	})
	in.load(t, 20, 1) // changes streamed after the snapshot
	testenv.Await(t, 60*time.Second, "streamed changes applied and a heartbeat confirmed", func() (bool, error) {
		if err := running(); err != nil {
			return false, err
		}
		fams, err := scrape(in.metrics)
		if err != nil {
			return false, err
		}
		return sum(fams, "cdcflow_capture_changes_total") > 0 &&
			sum(fams, "cdcflow_kafka_transactions_total") > 0 &&
			sum(fams, "cdcflow_capture_last_heartbeat_timestamp_seconds") > 0 &&
			sum(fams, "cdcflow_views_staleness_seconds") > 0, nil
	})
	return in
}

func (in *instance) load(t *testing.T, count int64, n uint64) {
	t.Helper()
	g, err := loadgen.New(loadgen.Config{DSN: in.db.DSN, Seed: uint64(in.seed) + n, Count: count})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Run(t.Context()); err != nil {
		t.Fatalf("load: %v", err)
	}
}

// scrape reads the metric families at addr's /metrics.
func scrape(addr string) (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("GET /metrics: %s: %s", resp.Status, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// sum adds the values of every series of a counter or gauge family.
func sum(fams map[string]*dto.MetricFamily, name string) float64 {
	f, ok := fams[name]
	if !ok {
		return 0
	}
	var s float64
	for _, m := range f.Metric {
		switch {
		case m.Counter != nil:
			s += m.Counter.GetValue()
		case m.Gauge != nil:
			s += m.Gauge.GetValue()
		case m.Untyped != nil:
			s += m.Untyped.GetValue()
		}
	}
	return s
}

// labelSets returns, for each family, its label names (le and quantile
// left out), sorted and joined with ", ".
func labelSets(fams map[string]*dto.MetricFamily) map[string]string {
	out := map[string]string{}
	for name, f := range fams {
		seen := map[string]bool{}
		for _, m := range f.Metric {
			for _, l := range m.Label {
				seen[l.GetName()] = true
			}
		}
		var names []string
		for n := range seen {
			names = append(names, n)
		}
		slices.Sort(names)
		out[name] = strings.Join(names, ", ")
	}
	return out
}

// TestLive checks the dashboard and the metrics table against a real
// running cdcflow (run with the views, exactly-once) and, for the
// dashboard, against Debian's Prometheus server scraping it.
func TestLive(t *testing.T) {
	tool(t, "prometheus")
	in := startInstance(t)
	in.useQueryAPI(t)
	fams, err := scrape(in.metrics)
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for name := range fams {
		exported[name] = true
	}
	t.Run("metrics table", func(t *testing.T) { checkMetricsTable(t, fams) })
	t.Run("dashboard metrics exported", func(t *testing.T) { checkDashboardMetrics(t, exported) })
	t.Run("dashboard queries answered", func(t *testing.T) { checkDashboardQueries(t, in) })
}

// useQueryAPI reads the views through the instance's query API, with and
// without read-your-writes, so that its request metrics have series.
func (in *instance) useQueryAPI(t *testing.T) {
	t.Helper()
	for _, path := range []string{"/v1/views", "/v1/views/order/entities/1?min_lsn=0/1&wait=2s", "/v1/views/nope"} {
		resp, err := http.Get("http://" + in.query + path)
		if err != nil {
			t.Fatalf("query API: GET %s: %v", path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if want := strings.HasSuffix(path, "nope"); want != (resp.StatusCode == http.StatusNotFound) {
			t.Errorf("query API: GET %s = %s", path, resp.Status)
		}
	}
}

// checkDashboardMetrics checks that every metric a panel names is exported
// by the instance.
func checkDashboardMetrics(t *testing.T, exported map[string]bool) {
	for _, q := range queries(t, loadDashboard(t), "cdcflow", ".*") {
		for _, m := range q.metrics {
			if m == "up" {
				continue // Prometheus's own, per target
			}
			if _, ok := familyOf(exported, m); !ok {
				t.Errorf("panel %q names %s, which cdcflow does not export", q.panel, m)
			}
		}
	}
}

// checkDashboardQueries starts Prometheus scraping the instance and checks
// that every panel query returns at least one series.
func checkDashboardQueries(t *testing.T, in *instance) {
	prom := startPrometheus(t, in.metrics)
	qs := queries(t, loadDashboard(t), "cdcflow", regexpQuote(in.metrics))
	var empty []query
	for deadline := time.Now().Add(90 * time.Second); ; {
		empty = empty[:0]
		for _, q := range qs {
			n, err := prom.series(t, q.promQL)
			if err != nil {
				t.Fatalf("panel %q: %v", q.panel, err)
			}
			if n == 0 {
				empty = append(empty, q)
			}
		}
		if len(empty) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second) // the next scrape
	}
	for _, q := range empty {
		t.Errorf("panel %q: no series within 90s for %s", q.panel, q.promQL)
	}
}

// regexpQuote escapes the regular expression metacharacters of s, as
// Grafana does for a single-value variable in a =~ matcher.
func regexpQuote(s string) string {
	return strings.NewReplacer(".", `\\.`).Replace(s)
}
