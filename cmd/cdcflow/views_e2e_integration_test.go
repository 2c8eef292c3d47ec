package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/cdcflow/cdcflow/internal/loadgen"
	"github.com/cdcflow/cdcflow/internal/testenv"
	"github.com/cdcflow/cdcflow/sinks/redisview"
)

// The end-to-end tests of the views: the reference order database captured
// by `cdcflow run`, materialized by `cdcflow materialize` (or by `cdcflow
// run` itself with views.enabled) into Redis, and every reference view
// compared with what SQL over the source tables computes.

// viewsE2E is one end-to-end setup. The views are configured through the
// CDCFLOW_VIEWS_* variables, as an operator would.
type viewsE2E struct {
	t      *testing.T
	db     *testenv.DB
	conn   *pgx.Conn // one connection, reused by every check
	env    []string
	slot   string
	reader *redisview.Reader
	rdb    redis.UniversalClient
	seed   int64
	run    <-chan error // the running `cdcflow run`; nil while stopped
	stop   func()       // stops it
	others []<-chan error
	// audited is set while the audit counts: every order change the
	// history must show since its last snapshot is in views_audit.
	audited, auditInstalled bool
	// snapshotAfter, when not empty, is an LSN every existing order's last
	// snapshot state event must be at or after (a re-snapshot happened).
	snapshotAfter string
	// gone are orders deleted while capture was stopped: no view may keep them.
	gone []string
	// minGen is the generation the views must have reached.
	minGen int64
	// metrics is the /metrics address of `cdcflow run`, when served.
	metrics string
	// redisSrv is the views' server with ownRedis.
	redisSrv *testenv.RedisServer
}

type viewsE2EOptions struct {
	cluster bool // the views on a three-master Redis Cluster
	inRun   bool // materialized by `cdcflow run` (views.enabled) from the embedded broker
	// secure puts the views on a dedicated Redis reached over TLS only, as
	// an ACL user whose password comes from a file.
	secure bool
	// ownRedis puts the views on a dedicated redis-server with an append-only
	// file (viewsE2E.redisSrv), which the test may stop and restart.
	ownRedis bool
	// secureKafka runs the flow through a broker that takes only TLS with
	// SASL SCRAM-SHA-256 (kfake in this process), configured through the
	// kafka section, which the views' consumer shares.
	secureKafka bool
}

func newViewsE2E(t *testing.T, opts viewsE2EOptions) *viewsE2E {
	t.Helper()
	ctx := t.Context()
	s := &viewsE2E{t: t, db: testenv.Postgres(t).NewDatabase(t), seed: testenv.Seed(t)}
	if err := loadgen.Init(ctx, s.db.Conn(t)); err != nil {
		t.Fatal(err)
	}
	s.db.Exec(t, `ALTER TABLE orders REPLICA IDENTITY FULL`)
	s.conn = s.db.Conn(t)
	s.load(100, 0) // rows that exist before capture: the snapshot takes them
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	views := filepath.Join(root, "deploy/examples/orders/views.yaml")
	s.slot = fmt.Sprintf("views_%d", time.Now().UnixNano()%1e9)
	s.env = []string{
		"CDCFLOW_SOURCE_DSN=" + s.db.DSN,
		"CDCFLOW_SOURCE_TIMEZONE=" + loadgen.ShopZone,
		"CDCFLOW_MAPPING_FILE=" + filepath.Join(root, "deploy/examples/orders/mapping.yaml"),
		"CDCFLOW_KAFKA_TOPICS_PARTITIONS=3",
		"CDCFLOW_CAPTURE_SLOT=" + s.slot,
		"CDCFLOW_CAPTURE_PUBLICATION=" + s.slot,
		"CDCFLOW_DATA_DIR=" + t.TempDir(),
		"CDCFLOW_VIEWS_FILE=" + views,
	}
	var prefix string
	switch {
	case opts.cluster:
		c := testenv.NewRedisCluster(t, 3)
		s.rdb, prefix = c.Client(t), "e2e:"
		s.env = append(s.env, c.Env()...)
	case opts.secure:
		prefix = "e2e:"
		s.rdb, s.env = secureRedis(t, s.env)
	case opts.ownRedis:
		s.redisSrv = testenv.NewRedis(t, "--appendonly", "yes", "--appendfsync", "always")
		s.rdb, prefix = s.redisSrv.Client(t), "e2e:"
		s.env = append(s.env, "CDCFLOW_VIEWS_REDIS_ADDRS="+s.redisSrv.Addr())
	default:
		rsrv := testenv.Redis(t)
		s.rdb, prefix = rsrv.Client(t), rsrv.Prefix(t)
		s.env = append(s.env, "CDCFLOW_VIEWS_REDIS_ADDRS="+rsrv.Addr())
	}
	s.env = append(s.env, "CDCFLOW_VIEWS_PREFIX="+prefix)
	if opts.inRun {
		// No kafka.brokers: run starts the embedded broker and hands its
		// addresses to the materializer it runs beside the flow.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s.metrics = l.Addr().String()
		l.Close()
		s.env = append(s.env, "CDCFLOW_VIEWS_ENABLED=true", "CDCFLOW_METRICS_ADDR="+s.metrics)
	} else if opts.secureKafka {
		s.env = append(s.env, secureKafka(t)...)
	} else {
		s.env = append(s.env, "CDCFLOW_KAFKA_BROKERS="+strings.Join(testenv.Kafka(t).Addrs(), ","))
	}
	s.startRun()
	if !opts.inRun {
		_, exited := startCdcflowCmd(t, s.env, "materialize")
		s.others = append(s.others, exited)
	}
	src, err := os.ReadFile(views)
	if err != nil {
		t.Fatal(err)
	}
	defs, err := redisview.ParseDefinitions(src)
	if err != nil {
		t.Fatal(err)
	}
	if s.reader, err = redisview.NewReader(defs, s.rdb, prefix, 3); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *viewsE2E) startRun() {
	s.t.Helper()
	cmd, exited := startCdcflowCmd(s.t, s.env, "run", "--progress=false")
	s.run = exited
	s.stop = func() {
		s.t.Helper()
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			s.t.Fatal(err)
		}
		select {
		case err := <-exited:
			if err != nil {
				s.t.Fatalf("cdcflow run after SIGINT: %v", err)
			}
		case <-time.After(30 * time.Second):
			s.t.Fatal("cdcflow run did not stop within 30s of SIGINT")
		}
		s.run = nil
	}
}

// secureRedis starts a redis-server whose TLS port is the only one cdcflow
// is told about, with an ACL user "cdcflow" (the default user may only
// PING, which the harness uses to see the server up). It returns a client
// for the test (the plain port, as that user) and env with the
// CDCFLOW_VIEWS_REDIS_* variables: TLS with the test CA, the user, and the
// password in a file.
func secureRedis(t *testing.T, env []string) (redis.UniversalClient, []string) {
	t.Helper()
	dir := t.TempDir()
	ca, cert, key := writeTestCerts(t, dir)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsPort := l.Addr().(*net.TCPAddr).Port
	l.Close()
	const password = "views-s3cret"
	srv := testenv.NewRedis(t,
		"--user", "default", "on", "nopass", "-@all", "+ping",
		"--user", "cdcflow", "on", ">"+password, "~*", "&*", "+@all",
		"--tls-port", strconv.Itoa(tlsPort), "--tls-cert-file", cert, "--tls-key-file", key,
		"--tls-ca-cert-file", ca, "--tls-auth-clients", "no")
	pwFile := filepath.Join(dir, "redis-password")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), Username: "cdcflow", Password: password})
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.Set(t.Context(), "e2e:probe", "1", 0).Err(); err != nil {
		t.Fatalf("the ACL user cannot write: %v", err)
	}
	if err := redis.NewClient(&redis.Options{Addr: srv.Addr()}).Set(t.Context(), "e2e:probe", "1", 0).Err(); err == nil {
		t.Fatal("the default user can write: the test would not notice cdcflow ignoring views.redis.username")
	}
	return rdb, append(env,
		"CDCFLOW_VIEWS_REDIS_ADDRS="+net.JoinHostPort("127.0.0.1", strconv.Itoa(tlsPort)),
		"CDCFLOW_VIEWS_REDIS_TLS_ENABLE=true",
		"CDCFLOW_VIEWS_REDIS_TLS_CA_FILE="+ca,
		"CDCFLOW_VIEWS_REDIS_USERNAME=cdcflow",
		"CDCFLOW_VIEWS_REDIS_PASSWORD_FILE="+pwFile,
	)
}

// secureKafka starts a kfake broker that accepts only TLS connections
// authenticated with SASL SCRAM-SHA-256 (the harness's broker has neither)
// and returns the CDCFLOW_KAFKA_* variables that reach it, the password in
// a file.
func secureKafka(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	ca, cert, key := writeTestCerts(t, dir)
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	const user, password = "cdcflow", "kafka-s3cret"
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.TLS(&tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}),
		kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", user, password))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	pwFile := filepath.Join(dir, "kafka-password")
	if err := os.WriteFile(pwFile, []byte(password), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{
		"CDCFLOW_KAFKA_BROKERS=" + strings.Join(c.ListenAddrs(), ","),
		"CDCFLOW_KAFKA_TLS_ENABLE=true",
		"CDCFLOW_KAFKA_TLS_CA_FILE=" + ca,
		"CDCFLOW_KAFKA_SASL_MECHANISM=SCRAM-SHA-256",
		"CDCFLOW_KAFKA_SASL_USER=" + user,
		"CDCFLOW_KAFKA_SASL_PASSWORD_FILE=" + pwFile,
	}
}

// writeTestCerts writes a CA and a server certificate for 127.0.0.1 signed
// by it into dir and returns the PEM files' paths.
func writeTestCerts(t *testing.T, dir string) (ca, cert, key string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cdcflow test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caTmpl, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("server.pem", "CERTIFICATE", srvDER), write("server.key", "EC PRIVATE KEY", keyDER)
}

// load runs count seeded transactions of the load generator.
func (s *viewsE2E) load(count int64, n uint64) {
	s.t.Helper()
	g, err := loadgen.New(loadgen.Config{DSN: s.db.DSN, Seed: uint64(s.seed) + n, Count: count})
	if err != nil {
		s.t.Fatal(err)
	}
	if err := g.Run(s.t.Context()); err != nil {
		s.t.Fatalf("load: %v", err)
	}
}

// loadWithPromised is load, then a few more transactions (other seeds)
// while no order is left promised (status C): a seed can leave every order
// past that state, and the pending index must hold something to be tested.
func (s *viewsE2E) loadWithPromised(count int64, n uint64) {
	s.t.Helper()
	s.load(count, n)
	for i := uint64(1); i <= 20; i++ {
		if testenv.QueryValue[int64](s.t, s.db, `SELECT count(*) FROM orders WHERE status = 'C'`) > 0 {
			return
		}
		s.load(10, n+1000*i)
	}
}

// audit records, from now on, each order insert and status change in
// views_audit (a table outside the publication, fed by a trigger in the
// same transaction) as the event type the reference mapping publishes for
// it, in the order the changes were made.
func (s *viewsE2E) audit() {
	s.t.Helper()
	if !s.auditInstalled {
		s.auditInstalled = true
		s.db.Exec(s.t, `CREATE TABLE views_audit (seq bigserial PRIMARY KEY, order_id bigint NOT NULL, event_type text NOT NULL)`)
		s.db.Exec(s.t, `CREATE FUNCTION views_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO views_audit (order_id, event_type) VALUES (NEW.order_id, 'OrderRequested');
  ELSIF NEW.status IS DISTINCT FROM OLD.status THEN
    INSERT INTO views_audit (order_id, event_type) VALUES (NEW.order_id, CASE NEW.status
      WHEN 'C' THEN 'OrderPromised' WHEN 'D' THEN 'OrderDeclined' WHEN 'S' THEN 'OrderDeclared'
      WHEN 'V' THEN 'OrderAccepted' WHEN 'R' THEN 'OrderRejected' WHEN 'X' THEN 'OrderRevoked'
      ELSE 'unknown status ' || NEW.status END);
  END IF;
  RETURN NULL;
END $$`)
		s.db.Exec(s.t, `CREATE TRIGGER views_audit AFTER INSERT OR UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION views_audit()`)
	}
	s.db.Exec(s.t, `DELETE FROM views_audit`)
	s.audited = true
}

// statusEvents are the history entries the audit tracks.
var statusEvents = map[string]bool{
	"OrderRequested": true, "OrderPromised": true, "OrderDeclined": true, "OrderDeclared": true,
	"OrderAccepted": true, "OrderRejected": true, "OrderRevoked": true,
}

// sqlOrder is an order as the source tables hold it, in the entity view's
// terms.
type sqlOrder struct {
	customer, status, total, currency string
	orderedAt                         time.Time // ordered_at read in the shop's zone
}

// score is the index score of a time: Unix milliseconds, exact.
func score(t time.Time) float64 { return float64(t.UnixMilli()) }

// awaitEqual waits until every reference view equals SQL over the source.
func (s *viewsE2E) awaitEqual(timeout time.Duration, what string) {
	s.t.Helper()
	var diff string
	start := time.Now()
	testenv.Await(s.t, timeout, what+": every view equal to the source tables", func() (bool, error) {
		ok, err := s.equal(&diff)
		if !ok && err == nil && time.Since(start) > timeout-time.Second {
			s.t.Logf("last difference: %s", diff)
		}
		return ok, err
	})
	s.t.Logf("%s: views equal to the source tables after %v", what, time.Since(start).Round(time.Millisecond))
}

// equal compares every reference view with SQL; diff says the first
// difference found.
func (s *viewsE2E) equal(diff *string) (bool, error) {
	ctx := s.t.Context()
	for _, ch := range append([]<-chan error{s.run}, s.others...) {
		if ch == nil {
			continue
		}
		select {
		case err := <-ch:
			s.t.Fatalf("a cdcflow process exited early: %v", err)
		default:
		}
	}
	differ := func(format string, args ...any) (bool, error) {
		*diff = fmt.Sprintf(format, args...)
		return false, nil
	}
	names := map[string]string{}
	for name, code := range stateCode {
		names[code] = name
	}
	orders := map[string]sqlOrder{}
	rows, err := s.conn.Query(ctx, `SELECT order_id::text, customer_id::text, status, total::text, currency,
		ordered_at AT TIME ZONE $1 FROM orders`, loadgen.ShopZone)
	if err != nil {
		return false, err
	}
	for rows.Next() {
		var id, status string
		var o sqlOrder
		if err := rows.Scan(&id, &o.customer, &status, &o.total, &o.currency, &o.orderedAt); err != nil {
			return false, err
		}
		o.status = names[status]
		orders[id] = o
	}
	if err := rows.Err(); err != nil {
		return false, err
	}
	snap, err := s.reader.Current(ctx)
	if err != nil {
		return false, err
	}
	if snap.Generation() < s.minGen {
		return differ("generation %d; want %d or later", snap.Generation(), s.minGen)
	}

	// per_status: counts per status (cheap, and the first to move).
	counts := map[string]int64{}
	for _, o := range orders {
		counts[o.status]++
	}
	groups, err := snap.Aggregate(ctx, "per_status")
	if err != nil {
		return false, err
	}
	got := map[string]int64{}
	for st, g := range groups {
		got[st] = g.Count
	}
	if fmt.Sprint(got) != fmt.Sprint(counts) {
		return differ("per_status = %v; want %v", got, counts)
	}

	// revenue_per_day: accepted EUR orders per local day, exact sums.
	if ok, err := revenueMatches(s.t, s.conn, snap, diff); !ok || err != nil {
		return ok, err
	}

	// pending: fulfilment's work list, the orders promised (confirmed) and
	// not yet declared (shipped), scored by ordered_at in Unix milliseconds.
	var pending []redisview.IndexEntry
	byCustomer := map[string][]redisview.IndexEntry{}
	for id, o := range orders {
		if o.status == "promised" {
			pending = append(pending, redisview.IndexEntry{ID: id, Score: score(o.orderedAt)})
		}
		byCustomer[o.customer] = append(byCustomer[o.customer], redisview.IndexEntry{ID: id, Score: score(o.orderedAt)})
	}
	idx, err := snap.Index(ctx, "pending", "", 0)
	if err != nil {
		return false, err
	}
	if d := indexDiff(idx, pending); d != "" {
		return differ("pending: %s", d)
	}

	// orders_by_customer: one sorted set per customer, every customer's.
	customers, err := s.column(`SELECT customer_id::text FROM customers`)
	if err != nil {
		return false, err
	}
	for _, c := range customers {
		idx, err := snap.Index(ctx, "orders_by_customer", c, 0)
		if err != nil {
			return false, err
		}
		if d := indexDiff(idx, byCustomer[c]); d != "" {
			return differ("orders_by_customer[%s]: %s", c, d)
		}
	}

	// order: every order's entity.
	for id, o := range orders {
		e, err := snap.Entity(ctx, "order", id)
		if err != nil {
			return false, err
		}
		// Every time in RFC 3339 UTC: ordered_at, a local time in the
		// source, too.
		want := map[string]string{"order_id": id, "customer_id": o.customer, "status": o.status, "total": o.total, "currency": o.currency,
			"ordered_at": o.orderedAt.UTC().Format(time.RFC3339Nano)}
		for k, v := range want {
			if e[k] != v {
				return differ("order %s: %s = %q; want %q", id, k, e[k], v)
			}
		}
		if u, err := time.Parse(time.RFC3339Nano, e["updated_at"]); err != nil || u.Location() != time.UTC {
			return differ("order %s: updated_at = %q; want RFC 3339 in UTC", id, e["updated_at"])
		}
	}

	// Orders deleted while capture was stopped: the re-snapshot dropped them.
	for _, id := range s.gone {
		e, err := snap.Entity(ctx, "order", id)
		if err != nil {
			return false, err
		}
		h, err := snap.History(ctx, "history", id)
		if err != nil {
			return false, err
		}
		if e != nil || h != nil {
			return differ("order %s was deleted while capture was stopped; the views still hold entity %v and %d history entries", id, e, len(h))
		}
	}

	// history: every order's, against the audit.
	return s.historiesEqual(ctx, snap, orders, differ)
}

// historiesEqual compares each order's history with the truth. The status
// events (OrderRequested, OrderPromised, …) after the order's last snapshot
// state event (OrderStateObserved) must be exactly the audited changes, in
// order, when the audit runs; an order without a snapshot state event must
// begin with OrderRequested. After a re-snapshot the last snapshot state
// event of every order that existed then must come from the new epoch.
func (s *viewsE2E) historiesEqual(ctx context.Context, snap *redisview.Snapshot, orders map[string]sqlOrder, differ func(string, ...any) (bool, error)) (bool, error) {
	audit := map[string][]string{}
	if s.audited {
		rows, err := s.conn.Query(ctx, `SELECT order_id::text, event_type FROM views_audit ORDER BY seq`)
		if err != nil {
			return false, err
		}
		for rows.Next() {
			var id, typ string
			if err := rows.Scan(&id, &typ); err != nil {
				return false, err
			}
			audit[id] = append(audit[id], typ)
		}
		if err := rows.Err(); err != nil {
			return false, err
		}
	}
	for id := range orders {
		h, err := snap.History(ctx, "history", id)
		if err != nil {
			return false, err
		}
		var since []string // status events after the last snapshot state event
		lastSnap := ""     // its position
		for _, raw := range h {
			var e struct{ Type, Position string }
			if err := json.Unmarshal(raw, &e); err != nil {
				return false, fmt.Errorf("history of order %s: %w", id, err)
			}
			switch {
			case e.Type == "OrderStateObserved":
				since, lastSnap = nil, e.Position
			case statusEvents[e.Type]:
				since = append(since, e.Type)
			}
		}
		if lastSnap == "" && (len(since) == 0 || since[0] != "OrderRequested") {
			return differ("history of order %s has neither a snapshot state event nor OrderRequested first: %v", id, since)
		}
		if s.snapshotAfter != "" && lastSnap != "" && lastSnap[:16] < s.snapshotAfter {
			return differ("history of order %s: last snapshot state event at %s, before the re-snapshot (%s)", id, lastSnap, s.snapshotAfter)
		}
		if s.audited && !slices.Equal(since, audit[id]) {
			return differ("history of order %s since its snapshot = %v; the workload did %v", id, since, audit[id])
		}
	}
	return true, nil
}

// column returns the first column of a query's rows.
func (s *viewsE2E) column(sql string) ([]string, error) {
	rows, err := s.conn.Query(s.t.Context(), sql)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// indexDiff compares an index view's entries with the expected ones,
// ignoring order among equal scores; "" means equal. Scores are exact
// (Unix milliseconds of a time): no tolerance.
func indexDiff(got, want []redisview.IndexEntry) string {
	g := map[string]float64{}
	for _, e := range got {
		g[e.ID] = e.Score
	}
	if len(g) != len(got) {
		return fmt.Sprintf("%d entries, some twice", len(got))
	}
	if len(got) != len(want) {
		return fmt.Sprintf("%d entries; want %d", len(got), len(want))
	}
	for _, w := range want {
		sc, ok := g[w.ID]
		if !ok {
			return fmt.Sprintf("order %s missing", w.ID)
		}
		if sc != w.Score {
			return fmt.Sprintf("order %s scored %s; want %s", w.ID, strconv.FormatFloat(sc, 'f', -1, 64), strconv.FormatFloat(w.Score, 'f', -1, 64))
		}
	}
	return ""
}

// workload runs the property test's workload: the snapshot's rows are
// compared first, then the audit starts and a seeded workload runs.
func (s *viewsE2E) workload(count int64) {
	s.t.Helper()
	s.awaitEqual(90*time.Second, "after the snapshot")
	s.audit()
	s.loadWithPromised(count, 1)
	s.awaitEqual(90*time.Second, "after the workload")
	if n := testenv.QueryValue[int64](s.t, s.db, `SELECT count(*) FROM views_audit WHERE event_type <> 'OrderRequested'`); n == 0 {
		s.t.Fatal("the workload changed no order's status: the histories were not tested")
	}
	if n := testenv.QueryValue[int64](s.t, s.db, `SELECT count(*) FROM orders WHERE status = 'C'`); n == 0 {
		s.t.Fatal("no promised order: the pending index was not tested")
	}
}

// TestIntegrationViewsEqualSQL: `cdcflow run` + `cdcflow materialize` on
// the reference database (snapshot, then a seeded workload); every reference
// view (order, pending, orders_by_customer, per_status, revenue_per_day,
// history) equals SQL over the source tables. Kafka takes only TLS and SASL,
// so the views' consumer must use the kafka section's settings.
func TestIntegrationViewsEqualSQL(t *testing.T) {
	s := newViewsE2E(t, viewsE2EOptions{secureKafka: true})
	s.workload(250)
	s.checkCanFail()
}

// checkCanFail damages the views one way at a time and makes sure the
// comparison with SQL notices each, then repairs them: a check that
// cannot fail would prove nothing.
func (s *viewsE2E) checkCanFail() {
	t, ctx := s.t, s.t.Context()
	snap, err := s.reader.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	prefix := s.envValue("CDCFLOW_VIEWS_PREFIX")
	key := func(p int, rest string) string {
		return fmt.Sprintf("%s{p%d}:g%d:%s", prefix, p, snap.Generation(), rest)
	}
	id := testenv.QueryValue[string](t, s.db, `SELECT order_id::text FROM orders WHERE status = 'C' ORDER BY order_id LIMIT 1`)
	ms := testenv.QueryValue[float64](t, s.db, `SELECT floor(extract(epoch FROM ordered_at AT TIME ZONE $1) * 1000)::float8 FROM orders WHERE order_id = $2::bigint`, loadgen.ShopZone, id)
	part := -1
	for p := range 3 {
		if n, err := s.rdb.Exists(ctx, key(p, "order:"+id)).Result(); err == nil && n == 1 {
			part = p
		}
	}
	if part < 0 {
		t.Fatalf("order %s has no entity key %s in any partition", id, key(0, "order:"+id))
	}
	orderedAtText, err := s.rdb.HGet(ctx, key(part, "order:"+id), "ordered_at").Result()
	if err != nil {
		t.Fatal(err)
	}
	orderedAt, err := time.Parse(time.RFC3339Nano, orderedAtText)
	if err != nil {
		t.Fatalf("order %s: ordered_at %q: %v", id, orderedAtText, err)
	}
	damages := []struct {
		want           string // in the difference reported
		damage, repair func() error
	}{
		{"pending", func() error { return s.rdb.ZRem(ctx, key(part, "pending"), id).Err() },
			func() error { return s.rdb.ZAdd(ctx, key(part, "pending"), redis.Z{Score: ms, Member: id}).Err() }},
		{"pending", func() error { return s.rdb.ZAdd(ctx, key(part, "pending"), redis.Z{Score: ms + 1, Member: id}).Err() },
			func() error { return s.rdb.ZAdd(ctx, key(part, "pending"), redis.Z{Score: ms, Member: id}).Err() }},
		{"ordered_at", func() error { // the same instant, not in UTC
			return s.rdb.HSet(ctx, key(part, "order:"+id), "ordered_at", orderedAt.In(time.FixedZone("", 3600)).Format(time.RFC3339Nano)).Err()
		}, func() error { return s.rdb.HSet(ctx, key(part, "order:"+id), "ordered_at", orderedAtText).Err() }},
		{"status", func() error { return s.rdb.HSet(ctx, key(part, "order:"+id), "status", "accepted").Err() },
			func() error { return s.rdb.HSet(ctx, key(part, "order:"+id), "status", "promised").Err() }},
		{"history", func() error { return s.rdb.RPush(ctx, key(part, "history:"+id), `{"type":"OrderRevoked"}`).Err() },
			func() error { return s.rdb.RPop(ctx, key(part, "history:"+id)).Err() }},
	}
	for _, d := range damages {
		if err := d.damage(); err != nil {
			t.Fatal(err)
		}
		var diff string
		ok, err := s.equal(&diff)
		if err != nil {
			t.Fatal(err)
		}
		if ok || !strings.Contains(diff, d.want) {
			t.Errorf("views damaged in %s: equal = %v, difference %q; want a difference naming %s", d.want, ok, diff, d.want)
		}
		if err := d.repair(); err != nil {
			t.Fatal(err)
		}
	}
	var diff string
	if ok, err := s.equal(&diff); !ok || err != nil {
		t.Errorf("after repairing the damage: equal = %v, %v (%s)", ok, err, diff)
	}
}

// envValue returns the value of variable name in the setup's environment.
func (s *viewsE2E) envValue(name string) string {
	for _, kv := range s.env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

// TestIntegrationViewsCluster is the same property on a three-master Redis
// Cluster, with the views configured for it (views.redis.cluster).
func TestIntegrationViewsCluster(t *testing.T) {
	s := newViewsE2E(t, viewsE2EOptions{cluster: true})
	s.workload(250)

	// cdcflow replay on the cluster: generation 2 is built, swapped in and
	// followed by the running materializer; generation 1 is deleted from
	// every master after the grace period, which must outlast the live
	// materializer's hand-over (it checks the pointer every 2s): one still
	// applying to generation 1 after the deletion would build it again.
	replay := exec.CommandContext(t.Context(), testenv.Cdcflow(t), "replay", "--progress=false", "--grace=5s")
	replay.Env = append(os.Environ(), s.env...)
	out, err := replay.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "generation 2 is live") {
		t.Fatalf("cdcflow replay = %v:\n%s", err, out)
	}
	if !strings.Contains(string(out), "replay progress") {
		t.Errorf("cdcflow replay without a terminal logged no progress:\n%s", out)
	}
	s.load(50, 2)
	s.minGen = 2
	s.awaitEqual(90*time.Second, "generation 2 after a replay on the cluster")
	var left atomic.Int64
	err = s.rdb.(*redis.ClusterClient).ForEachMaster(t.Context(), func(ctx context.Context, node *redis.Client) error {
		ks, err := node.Keys(ctx, "e2e:*:g1:*").Result()
		left.Add(int64(len(ks)))
		return err
	})
	if err != nil || left.Load() != 0 {
		t.Errorf("after the replay: %d keys of generation 1 left on the masters, %v; want none", left.Load(), err)
	}
}

// TestIntegrationRunViews: `cdcflow run` with views.enabled materializes in
// the same process, from its embedded broker, into a Redis it reaches over
// TLS as an ACL user with a password from a file.
func TestIntegrationRunViews(t *testing.T) {
	s := newViewsE2E(t, viewsE2EOptions{inRun: true, secure: true})
	s.workload(250)

	// One registry: run's /metrics shows the views beside capture and Kafka.
	resp, err := http.Get("http://" + s.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`cdcflow_views_events_applied_total{view="order"}`, "cdcflow_views_consumer_lag_records", "cdcflow_capture_slot_lag_bytes",
		`cdcflow_up{command="run",version=`, "cdcflow_ready 1", "cdcflow_views_staleness_seconds{partition=", "process_start_time_seconds"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("run's /metrics lacks %s", want)
		}
	}
}

// TestIntegrationRunViewsRedisOutage: with the views inside `cdcflow run`,
// Redis going away stops neither capture nor publishing (the slot's
// confirmed position passes the whole workload while Redis is down); when
// Redis is back, the views catch up and equal the source.
func TestIntegrationRunViewsRedisOutage(t *testing.T) {
	s := newViewsE2E(t, viewsE2EOptions{inRun: true, ownRedis: true})
	s.awaitEqual(90*time.Second, "after the snapshot")
	s.audit()
	if err := s.redisSrv.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	s.load(150, 1)
	end := testenv.QueryValue[string](t, s.db, `SELECT pg_current_wal_lsn()::text`)
	testenv.Await(t, 60*time.Second, "the slot to confirm the workload while Redis is down", func() (bool, error) {
		select {
		case err := <-s.run:
			t.Fatalf("cdcflow run exited while Redis was down: %v", err)
		default:
		}
		return testenv.QueryValue[bool](t, s.db, `SELECT coalesce(confirmed_flush_lsn >= $1::pg_lsn, false) FROM pg_replication_slots WHERE slot_name = $2`, end, s.slot), nil
	})
	if err := s.redisSrv.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	s.awaitEqual(90*time.Second, "after Redis came back")
}

// TestIntegrationViewsResnapshot stops `cdcflow run` in the middle of the
// workload, deletes orders and changes others while capture is stopped,
// drops the slot and starts run again: a new slot, a new snapshot epoch. The
// views must equal the source afterwards, with no ghost of a deleted order,
// every order's state coming from the new epoch, and the histories after it
// equal to what the workload did.
func TestIntegrationViewsResnapshot(t *testing.T) {
	s := newViewsE2E(t, viewsE2EOptions{})
	s.awaitEqual(90*time.Second, "after the snapshot")
	s.audit()
	s.load(100, 1)
	s.awaitEqual(90*time.Second, "after the first part of the workload")
	seen := testenv.QueryValue[int64](t, s.db, `SELECT max(order_id) FROM orders`) // all in the views now

	// The workload goes on while capture stops.
	loaded := make(chan error, 1)
	go func() {
		g, err := loadgen.New(loadgen.Config{DSN: s.db.DSN, Seed: uint64(s.seed) + 2, Count: 150})
		if err == nil {
			err = g.Run(t.Context())
		}
		loaded <- err
	}()
	testenv.Await(t, 30*time.Second, "the second part of the workload under way", func() (bool, error) {
		n := testenv.QueryValue[int64](t, s.db, `SELECT count(*) FROM views_audit`)
		return n > 20, nil
	})
	s.stop()
	if err := <-loaded; err != nil {
		t.Fatalf("load: %v", err)
	}
	// While nothing is captured: orders disappear, others change. The
	// deleted ones are in the views now; only the new epoch can drop them.
	gone, err := s.column(fmt.Sprintf(`SELECT order_id::text FROM orders o
		WHERE order_id <= %d AND NOT EXISTS (SELECT FROM payments p WHERE p.order_id = o.order_id)
		AND NOT EXISTS (SELECT FROM "ShipmentTracking" st WHERE st.order_id = o.order_id)
		ORDER BY order_id LIMIT 15`, seen))
	if err != nil {
		t.Fatal(err)
	}
	if len(gone) == 0 {
		t.Fatal("no order could be deleted: the re-snapshot's drops were not tested")
	}
	snap, err := s.reader.Current(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range gone {
		if e, err := snap.Entity(t.Context(), "order", id); err != nil || e == nil {
			t.Fatalf("order %s, to be deleted, is not in the views before the re-snapshot: %v, %v", id, e, err)
		}
	}
	s.db.Exec(t, `DELETE FROM orders WHERE order_id = ANY($1::bigint[])`, gone)
	s.gone = gone
	s.db.Exec(t, `UPDATE orders SET status = 'X', updated_at = now() WHERE order_id IN (SELECT order_id FROM orders WHERE status = 'N' ORDER BY order_id DESC LIMIT 5)`)
	s.db.Exec(t, `SELECT pg_drop_replication_slot($1)`, s.slot)
	s.snapshotAfter = fmt.Sprintf("%016X", testenv.QueryValue[int64](t, s.db, `SELECT (pg_current_wal_lsn() - '0/0')::bigint`))
	t.Logf("dropped slot %s and deleted %d orders; the new epoch starts after %s", s.slot, len(s.gone), s.snapshotAfter)
	s.audited = false // the audit restarts after the new snapshot
	s.startRun()
	s.awaitEqual(90*time.Second, "after the re-snapshot")
	s.audit()
	s.load(100, 3)
	s.awaitEqual(90*time.Second, "after the workload that followed the re-snapshot")
}
