package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/internal/bench/benchkit"
	"github.com/cdcflow/cdcflow/internal/loadgen"
	"github.com/cdcflow/cdcflow/internal/services"
	"github.com/cdcflow/cdcflow/pipeline"
	"github.com/cdcflow/cdcflow/sinks/redisview"
)

type options struct {
	orders      int
	partitions  int
	conns       int
	duration    time.Duration
	rywDuration time.Duration
	rywRate     float64
	keep        bool
	compare     bool
	rounds      int
}

func main() {
	var o options
	flag.IntVar(&o.orders, "orders", 10000, "orders written into the entity view")
	flag.IntVar(&o.partitions, "partitions", 1, "partitions of the views")
	flag.IntVar(&o.conns, "conns", 50, "connections of the load generator and of redis-benchmark")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "how long the load generator reads")
	flag.DurationVar(&o.rywDuration, "ryw-duration", 20*time.Second, "how long the read-your-writes measurement runs (0: skip it)")
	flag.Float64Var(&o.rywRate, "ryw-rate", 50, "the steady write load of the read-your-writes measurement, in transactions per second")
	flag.BoolVar(&o.keep, "keep", false, "keep the working directory (logs) after the run")
	flag.BoolVar(&o.compare, "compare-batching", true, "also read from a second server with query.read_batch=1 (each read its own Redis round trip), alternating with the default one")
	flag.IntVar(&o.rounds, "rounds", 2, "with -compare-batching, rounds of -duration per server, in the order AB BA AB...")
	flag.Parse()
	benchkit.Main("query", func(ctx context.Context) error { return run(ctx, o) })
}

func run(ctx context.Context, o options) error {
	if o.orders < 1 || o.partitions < 1 || o.conns < 1 || o.duration <= 0 || o.rounds < 1 {
		return errors.New("-orders, -partitions, -conns, -duration and -rounds must be positive")
	}
	dir, cleanup, err := benchkit.TempDir("cdcflow-bench-query-", o.keep, "working directory")
	if err != nil {
		return err
	}
	defer cleanup()
	bin := filepath.Join(dir, "cdcflow")
	fmt.Fprintln(os.Stderr, "building ./cmd/cdcflow...")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/cdcflow")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build cdcflow: %w", err)
	}
	if err := entityReads(ctx, o, dir, bin); err != nil {
		return err
	}
	if o.rywDuration > 0 {
		return readYourWrites(ctx, o, dir, bin)
	}
	return nil
}

const viewsFile = "deploy/examples/orders/views.yaml"

// entityReads measures GET of an entity beside redis-benchmark HGETALL.
func entityReads(ctx context.Context, o options, dir, bin string) error {
	rs, err := services.StartRedis(ctx, services.RedisOptions{Dir: filepath.Join(dir, "redis")})
	if err != nil {
		return err
	}
	defer rs.Stop(context.WithoutCancel(ctx))
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	defer rdb.Close()
	src, err := os.ReadFile(viewsFile)
	if err != nil {
		return fmt.Errorf("run from the repository root: %w", err)
	}
	defs, err := redisview.ParseDefinitions(src)
	if err != nil {
		return err
	}
	const prefix = "bench:"
	fmt.Fprintf(os.Stderr, "writing %d orders into the views...\n", o.orders)
	if err := writeOrders(ctx, defs, rdb, prefix, o.orders, o.partitions); err != nil {
		return err
	}
	// The servers: the default, and with -compare-batching one that sends
	// every read in its own round trip (query.read_batch=1), started side by
	// side and loaded in turn, so that both see the same machine.
	servers := []*server{{name: "read_batch=64 (default)"}}
	if o.compare {
		servers = append(servers, &server{name: "read_batch=1 (no batching)", env: []string{"CDCFLOW_QUERY_READ_BATCH=1"}})
	}
	for i, sv := range servers {
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		env := append(os.Environ(), "CDCFLOW_VIEWS_FILE="+viewsFile, "CDCFLOW_VIEWS_REDIS_ADDRS="+rs.Addr(), "CDCFLOW_VIEWS_PREFIX="+prefix,
			"CDCFLOW_KAFKA_TOPICS_PARTITIONS="+strconv.Itoa(o.partitions), "CDCFLOW_QUERY_ADDR="+addr, "CDCFLOW_LOG_LEVEL=warn")
		cmd, err := start(ctx, bin, append(env, sv.env...), filepath.Join(dir, fmt.Sprintf("serve%d.log", i)), "serve")
		if err != nil {
			return err
		}
		defer stop(cmd)
		sv.cmd, sv.base = cmd, "http://"+addr
		if err := awaitHTTP(ctx, sv.base+"/v1/health"); err != nil {
			return err
		}
	}
	// Each order of writeOrders is "o<i>"; the first is also redis-benchmark's key.
	rounds := 1
	if len(servers) > 1 {
		rounds = o.rounds
	}
	for r := range rounds {
		for i := range servers {
			sv := servers[i]
			if r%2 == 1 {
				sv = servers[len(servers)-1-i]
			}
			fmt.Fprintf(os.Stderr, "reading entities from %s over %d connections for %s...\n", sv.name, o.conns, o.duration)
			cpu0, srvCPU0, redis0 := selfCPU(), procCPU(sv.cmd.Process.Pid), redisCPU(ctx, rdb)
			res, err := loadEntities(ctx, sv.base, o)
			if err != nil {
				return err
			}
			sv.genCPU += selfCPU() - cpu0
			sv.srvCPU += procCPU(sv.cmd.Process.Pid) - srvCPU0
			sv.redisCPU += redisCPU(ctx, rdb) - redis0
			sv.lat = append(sv.lat, res.lat...)
			sv.took += res.took
		}
	}
	n := int64(len(servers[0].lat))
	key := fmt.Sprintf("%s{p%d}:g1:order:o0", prefix, partitionOf(0, o.partitions))
	rb, err := redisBenchmark(ctx, rs.Port(), o.conns, n, key)
	if err != nil {
		return err
	}
	fmt.Printf("\nentity GET, %d orders, %d partition(s), %d connections, %d x %s per server\n", o.orders, o.partitions, o.conns, rounds, o.duration)
	fmt.Printf("%-34s %-27s %12s %10s %10s  %s\n", "reader", "server", "requests/s", "p50", "p99", "CPU per request")
	for _, sv := range servers {
		res := sv.result()
		fmt.Printf("%-34s %-27s %12.0f %10s %10s  server %s, Redis %s, load %s\n", "GET /v1/views/order/entities/{id}", sv.name,
			res.rate, res.p50, res.p99, perReq(sv.srvCPU, res.n), perReq(sv.redisCPU, res.n), perReq(sv.genCPU, res.n))
	}
	fmt.Printf("%-34s %-27s %12.0f %10s %10s\n", "redis-benchmark HGETALL (-P 1)", "", rb.rate, rb.p50, rb.p99)
	def := servers[0].result()
	fmt.Printf("HTTP / redis-benchmark: %.2f (goal: >= 0.33, and >= 25000 requests/s with p99 < 5ms)\n", def.rate/rb.rate)
	if len(servers) > 1 {
		a, b := servers[0], servers[1]
		ar, br := a.result(), b.result()
		fmt.Printf("batching / no batching: requests/s %.2f, p99 %.2f, server CPU per request %.2f, Redis CPU per request %.2f\n",
			ar.rate/br.rate, float64(ar.p99)/float64(br.p99),
			float64(a.srvCPU)/float64(ar.n)/(float64(b.srvCPU)/float64(br.n)),
			float64(a.redisCPU)/float64(ar.n)/(float64(b.redisCPU)/float64(br.n)))
	}
	return nil
}

// server is one `cdcflow serve` of the entity read measurement and what
// its rounds measured.
type server struct {
	name                     string
	env                      []string
	cmd                      *exec.Cmd
	base                     string
	lat                      []time.Duration
	took                     time.Duration
	genCPU, srvCPU, redisCPU time.Duration
}

func (sv *server) result() result {
	slices.Sort(sv.lat)
	return result{n: int64(len(sv.lat)), rate: float64(len(sv.lat)) / sv.took.Seconds(), p50: q(sv.lat, 0.5), p99: q(sv.lat, 0.99)}
}

// redisCPU is the CPU time Redis has used (INFO cpu: used_cpu_sys and
// used_cpu_user); 0 when it cannot be read.
func redisCPU(ctx context.Context, rdb *redis.Client) time.Duration {
	info, err := rdb.Info(ctx, "cpu").Result()
	if err != nil {
		return 0
	}
	var total float64
	for line := range strings.SplitSeq(info, "\n") {
		for _, k := range []string{"used_cpu_sys:", "used_cpu_user:"} {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), k); ok {
				f, _ := strconv.ParseFloat(v, 64)
				total += f
			}
		}
	}
	return time.Duration(total * float64(time.Second))
}

func perReq(d time.Duration, n int64) string {
	if n == 0 {
		return "-"
	}
	return (d / time.Duration(n)).Round(100 * time.Nanosecond).String()
}

// partitionOf spreads orders over the partitions.
func partitionOf(i, parts int) int32 { return int32(i % parts) }

// writeOrders applies n OrderRequested events in batches per partition.
func writeOrders(ctx context.Context, defs *redisview.Definitions, rdb *redis.Client, prefix string, n, parts int) error {
	v, err := redisview.New(redisview.Config{Prefix: prefix, Generation: 1}, defs, rdb)
	if err != nil {
		return err
	}
	if err := redisview.Swap(ctx, rdb, prefix, 0, 1); err != nil && !errors.Is(err, redisview.ErrSwapped) {
		return err
	}
	next := make([]int64, parts)
	var batch = map[int32][]redisview.Record{}
	flush := func(p int32) error {
		recs := batch[p]
		if len(recs) == 0 {
			return nil
		}
		from := next[p]
		if from == 0 {
			from = -1
		}
		b := redisview.Batch{Topic: "shop.order", Partition: p, From: from, Records: recs}
		next[p] = recs[len(recs)-1].Offset + 1
		batch[p] = nil
		return v.Apply(ctx, b)
	}
	for i := range n {
		p := partitionOf(i, parts)
		lsn := capture.LSN(0x1000 + i)
		data, _ := json.Marshal(map[string]any{"order_id": i, "customer_id": i % 100, "total": "12.34", "currency": "EUR",
			"ordered_at": "2026-11-23T10:00:00", "lines": []any{}})
		ev := pipeline.Event{ID: fmt.Sprintf("e%d", i), Source: "bench", Type: "OrderRequested", Version: 1, AggregateType: "order",
			AggregateID: fmt.Sprintf("o%d", i), Position: pipeline.MakePosition(lsn, 0, 0), LSN: lsn, Time: time.Now(), Data: data}
		off := next[p] + int64(len(batch[p]))
		batch[p] = append(batch[p], redisview.Record{Offset: off, Event: ev})
		if len(batch[p]) == 500 {
			if err := flush(p); err != nil {
				return err
			}
		}
	}
	for p := range int32(parts) {
		if err := flush(p); err != nil {
			return err
		}
	}
	return nil
}

type result struct {
	n        int64
	rate     float64
	p50, p99 time.Duration
	lat      []time.Duration // sorted
	took     time.Duration
}

// loadEntities reads entities over o.conns keep-alive connections for
// o.duration (rawConn: a minimal HTTP/1.1 client, so that the load
// generator's CPU stays small beside the server's). The first answer is
// also read with net/http and checked to be the entity's JSON.
func loadEntities(ctx context.Context, base string, o options) (result, error) {
	if err := checkEntity(ctx, base); err != nil {
		return result{}, err
	}
	addr := strings.TrimPrefix(base, "http://")
	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	var mu sync.Mutex
	var lat []time.Duration
	var failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for c := range o.conns {
		wg.Go(func() {
			local := make([]time.Duration, 0, 1<<14)
			defer func() {
				mu.Lock()
				lat = append(lat, local...)
				mu.Unlock()
			}()
			var rc *rawConn
			defer func() {
				if rc != nil {
					rc.Close()
				}
			}()
			path := make([]byte, 0, 64)
			for i := c; ctx.Err() == nil; i += o.conns {
				if rc == nil {
					var err error
					if rc, err = dialRaw(addr); err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err)
						return
					}
				}
				path = append(path[:0], "/v1/views/order/entities/o"...)
				path = strconv.AppendInt(path, int64(i%o.orders), 10)
				t0 := time.Now()
				status, n, err := rc.get(path)
				if err != nil && !errors.Is(err, io.EOF) {
					if ctx.Err() == nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err)
					}
					return
				}
				if errors.Is(err, io.EOF) {
					rc.Close()
					rc = nil
				}
				if status != http.StatusOK || n == 0 {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Errorf("GET %s: %d with %d bytes", path, status, n))
					continue
				}
				local = append(local, time.Since(t0))
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	if n := failed.Load(); n > 0 {
		return result{}, fmt.Errorf("%d entity reads failed, the first: %v", n, firstErr.Load())
	}
	if len(lat) == 0 {
		return result{}, errors.New("no entity read succeeded")
	}
	slices.Sort(lat)
	return result{n: int64(len(lat)), rate: float64(len(lat)) / took.Seconds(), p50: q(lat, 0.5), p99: q(lat, 0.99), lat: lat, took: took}, nil
}

// checkEntity reads one entity with net/http and checks the answer is the
// entity's JSON, so the load generator's fast path reads real answers.
func checkEntity(ctx context.Context, base string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/views/order/entities/o0", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		ID     string            `json:"id"`
		Fields map[string]string `json:"fields"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK || body.ID != "o0" || body.Fields["status"] == "" {
		return fmt.Errorf("GET order o0: %d %+v %v; want the entity", resp.StatusCode, body, err)
	}
	return nil
}

func q(s []time.Duration, p float64) time.Duration {
	return s[min(len(s)-1, int(p*float64(len(s))))].Round(10 * time.Microsecond)
}

// redisBenchmark runs redis-benchmark HGETALL key and reads its CSV line.
func redisBenchmark(ctx context.Context, port, conns int, n int64, key string) (result, error) {
	n = max(n, 10000)
	cmd := exec.CommandContext(ctx, "redis-benchmark", "-p", strconv.Itoa(port), "-c", strconv.Itoa(conns), "-P", "1",
		"-n", strconv.FormatInt(n, 10), "--csv", "HGETALL", key)
	out, err := cmd.Output()
	if err != nil {
		return result{}, fmt.Errorf("redis-benchmark: %w", err)
	}
	recs, err := csv.NewReader(strings.NewReader(string(out))).ReadAll()
	if err != nil || len(recs) < 2 || len(recs[1]) < 7 {
		return result{}, fmt.Errorf("redis-benchmark: unexpected output %q", out)
	}
	f := func(s string) float64 { v, _ := strconv.ParseFloat(s, 64); return v }
	ms := func(s string) time.Duration { return time.Duration(f(s) * float64(time.Millisecond)) }
	// "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
	return result{n: n, rate: f(recs[1][1]), p50: ms(recs[1][4]), p99: ms(recs[1][6])}, nil
}

// readYourWrites measures the latency read-your-writes adds under a steady
// write load, beside the commit-to-view latency.
func readYourWrites(ctx context.Context, o options, dir, bin string) error {
	pg, err := services.StartPostgres(ctx, services.PostgresOptions{Dir: filepath.Join(dir, "pg")})
	if err != nil {
		return err
	}
	defer pg.Stop(context.WithoutCancel(ctx))
	admin, err := pgx.Connect(ctx, pg.DSN("postgres"))
	if err != nil {
		return err
	}
	_, err = admin.Exec(ctx, "CREATE DATABASE ryw")
	admin.Close(ctx)
	if err != nil {
		return err
	}
	dsn := pg.DSN("ryw")
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := loadgen.Init(ctx, conn); err != nil {
		return err
	}
	if g, err := loadgen.New(loadgen.Config{DSN: dsn, Seed: 1, Count: 50}); err != nil {
		return err
	} else if err := g.Run(ctx); err != nil {
		return err
	}
	rs, err := services.StartRedis(ctx, services.RedisOptions{Dir: filepath.Join(dir, "redis-ryw")})
	if err != nil {
		return err
	}
	defer rs.Stop(context.WithoutCancel(ctx))
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	env := append(os.Environ(), "CDCFLOW_SOURCE_DSN="+dsn, "CDCFLOW_SOURCE_TIMEZONE="+loadgen.ShopZone,
		"CDCFLOW_MAPPING_FILE=deploy/examples/orders/mapping.yaml", "CDCFLOW_DATA_DIR="+filepath.Join(dir, "data"),
		"CDCFLOW_VIEWS_ENABLED=true", "CDCFLOW_VIEWS_FILE="+viewsFile, "CDCFLOW_VIEWS_REDIS_ADDRS="+rs.Addr(),
		"CDCFLOW_QUERY_ADDR="+addr, "CDCFLOW_LOG_LEVEL=warn")
	flow, err := start(ctx, bin, env, filepath.Join(dir, "run.log"), "run", "--progress=false")
	if err != nil {
		return err
	}
	defer stop(flow)
	base := "http://" + addr
	if err := awaitHTTP(ctx, base+"/v1/health"); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "read-your-writes under %.0f transactions/s for %s...\n", o.rywRate, o.rywDuration)
	lctx, cancel := context.WithTimeout(ctx, o.rywDuration)
	defer cancel()
	g, err := loadgen.New(loadgen.Config{DSN: dsn, Seed: 2, Rate: o.rywRate})
	if err != nil {
		return err
	}
	loadDone := make(chan error, 1)
	go func() { loadDone <- g.Run(lctx) }()
	var ryw, e2e []time.Duration
	for i := 0; lctx.Err() == nil; i++ {
		id, lsn, err := insertOrder(lctx, conn)
		if err != nil {
			break
		}
		t0 := time.Now()
		if i%2 == 0 {
			code, err := getStatus(lctx, fmt.Sprintf("%s/v1/views/order/entities/%s?min_lsn=%s&wait=5s", base, id, lsn))
			if err != nil || code != http.StatusOK {
				if lctx.Err() != nil {
					break
				}
				return fmt.Errorf("read-your-writes GET of order %s: %d %v", id, code, err)
			}
			ryw = append(ryw, time.Since(t0))
			continue
		}
		for lctx.Err() == nil {
			if code, err := getStatus(lctx, base+"/v1/views/order/entities/"+id); err == nil && code == http.StatusOK {
				e2e = append(e2e, time.Since(t0))
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	if err := <-loadDone; err != nil && lctx.Err() == nil {
		return err
	}
	if len(ryw) == 0 || len(e2e) == 0 {
		return errors.New("read-your-writes: nothing measured")
	}
	slices.Sort(ryw)
	slices.Sort(e2e)
	fmt.Printf("\nread-your-writes under %.0f transactions/s, %s (after COMMIT and pg_current_wal_lsn())\n", o.rywRate, o.rywDuration)
	fmt.Printf("%-44s %8s %10s %10s\n", "", "reads", "p50", "p99")
	fmt.Printf("%-44s %8d %10s %10s\n", "GET with min_lsn (read-your-writes answer)", len(ryw), q(ryw, 0.5), q(ryw, 0.99))
	fmt.Printf("%-44s %8d %10s %10s\n", "commit to view (polling GET, 1 ms)", len(e2e), q(e2e, 0.5), q(e2e, 0.99))
	fmt.Printf("goal: read-your-writes p99 < 2 x commit-to-view p99\n")
	return nil
}

func insertOrder(ctx context.Context, conn *pgx.Conn) (id, lsn string, err error) {
	if err = conn.QueryRow(ctx, `INSERT INTO orders (customer_id, total, shipping_address, "createdBy", ordered_at, updated_at)
		SELECT customer_id, 9.99, '{}', 'bench', now(), now() FROM customers ORDER BY customer_id LIMIT 1
		RETURNING order_id::text`).Scan(&id); err != nil {
		return "", "", err
	}
	err = conn.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&lsn)
	return id, lsn, err
}

func getStatus(ctx context.Context, u string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func start(ctx context.Context, bin string, env []string, logPath string, args ...string) (*exec.Cmd, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start cdcflow %s: %w", args[0], err)
	}
	go func() { _ = cmd.Wait(); logf.Close() }()
	return cmd, nil
}

func stop(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGINT)
	done := make(chan struct{})
	go func() {
		for cmd.ProcessState == nil {
			time.Sleep(20 * time.Millisecond)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
	}
}

func awaitHTTP(ctx context.Context, u string) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if code, err := getStatus(ctx, u); err == nil && code == http.StatusOK {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not answer 200 within 60s", u)
}

// selfCPU is this process's user + system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is process pid's user + system CPU time from /proc/<pid>/stat.
func procCPU(pid int) time.Duration {
	f, err := os.Open(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	// Fields after the command name in parentheses; utime and stime are
	// the 14th and 15th fields.
	rest := line[strings.LastIndexByte(line, ')')+2:]
	fs := strings.Fields(rest)
	if len(fs) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(fs[11], 10, 64)
	st, _ := strconv.ParseInt(fs[12], 10, 64)
	const ticks = 100 // USER_HZ
	return time.Duration(ut+st) * time.Second / ticks
}
