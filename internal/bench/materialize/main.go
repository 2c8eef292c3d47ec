package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/internal/bench/benchkit"
	"github.com/cdcflow/cdcflow/internal/services"
	"github.com/cdcflow/cdcflow/pipeline"
	"github.com/cdcflow/cdcflow/sinks/redisview"
)

const (
	topic       = "shop.order"
	deadLetters = "shop.deadletter"
	viewsFile   = "deploy/examples/orders/views.yaml"
	mappingFile = "deploy/examples/orders/mapping.yaml"
)

type options struct {
	events     int
	partitions int
	instances  []int
	targets    []string
	keep       bool
}

func main() {
	var o options
	var instances, targets string
	flag.IntVar(&o.events, "events", 300000, "events written to "+topic+" (about 2.7 per order)")
	flag.IntVar(&o.partitions, "partitions", 8, "partitions of "+topic)
	flag.StringVar(&instances, "instances", "1,2,4", "materializer counts to measure, comma-separated; each must divide -partitions")
	flag.StringVar(&targets, "targets", "redis,cluster", "Redis setups to measure: redis (one server), cluster (three masters)")
	flag.BoolVar(&o.keep, "keep", false, "keep the working directory (materializer and Redis logs) after the run")
	flag.Parse()
	benchkit.Main("materialize", func(ctx context.Context) error {
		for _, s := range strings.Split(instances, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n < 1 || o.partitions%n != 0 {
				return fmt.Errorf("-instances %q: want counts that divide -partitions %d", instances, o.partitions)
			}
			o.instances = append(o.instances, n)
		}
		for _, s := range strings.Split(targets, ",") {
			if s = strings.TrimSpace(s); s != "redis" && s != "cluster" {
				return fmt.Errorf("-targets %q: want redis and/or cluster", targets)
			}
			o.targets = append(o.targets, strings.TrimSpace(s))
		}
		if o.events < 1 || o.partitions < 1 {
			return errors.New("-events and -partitions must be positive")
		}
		return run(ctx, o)
	})
}

// result is one measurement.
type result struct {
	target    string
	instances int
	events    int64   // counted (applied after the group was stable)
	seconds   float64 // from stable to done
	matCPU    float64 // seconds, all materializers
	redisCPU  float64 // seconds, all masters
	brokerCPU float64 // seconds, this process
}

func run(ctx context.Context, o options) error {
	dir, cleanup, err := benchkit.TempDir("cdcflow-bench-materialize-", o.keep, "working directory")
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
	if _, err := os.Stat(viewsFile); err != nil {
		return fmt.Errorf("run from the repository root: %w", err)
	}
	k, err := services.StartKafka(ctx, services.KafkaOptions{Partitions: o.partitions})
	if err != nil {
		return err
	}
	defer k.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Addrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, int32(o.partitions), 1, nil, topic); err != nil {
		return fmt.Errorf("create %s: %w", topic, err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, deadLetters); err != nil {
		return fmt.Errorf("create %s: %w", deadLetters, err)
	}
	fmt.Fprintf(os.Stderr, "writing %d events to %s (%d partitions)...\n", o.events, topic, o.partitions)
	ends, err := produce(ctx, cl, o)
	if err != nil {
		return err
	}
	var results []result
	runNo := 0
	for _, target := range o.targets {
		rs, err := startRedis(ctx, dir, target)
		if err != nil {
			return err
		}
		for _, n := range o.instances {
			runNo++
			fmt.Fprintf(os.Stderr, "%s, %d materializer(s)...\n", target, n)
			res, err := measure(ctx, o, bin, dir, k, adm, rs, ends, n, runNo)
			if err != nil {
				rs.stop(ctx)
				return fmt.Errorf("%s, %d materializers: %w", target, n, err)
			}
			res.target = target
			results = append(results, res)
			if err := rs.flush(ctx); err != nil {
				rs.stop(ctx)
				return err
			}
		}
		rs.stop(ctx)
	}
	report(o, results)
	return nil
}

// produce writes the workload: orders requested, promised and (two in three)
// accepted, each order's events in one partition, in position order. It
// returns the end offset of each partition.
func produce(ctx context.Context, cl *kgo.Client, o options) (map[int32]int64, error) {
	ends := map[int32]int64{}
	base := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	var batch []*kgo.Record
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := cl.ProduceSync(ctx, batch...).FirstErr()
		batch = batch[:0]
		return err
	}
	lsn := capture.LSN(0x1000000)
	written := 0
	for i := 0; written < o.events; i++ {
		id := strconv.Itoa(i + 1)
		h := fnv.New32a()
		h.Write([]byte(id))
		p := int32(h.Sum32() % uint32(o.partitions))
		at := base.Add(time.Duration(i) * time.Second)
		total := fmt.Sprintf("%d.%02d", 10+i%490, i%100)
		steps := []struct {
			typ  string
			data string
		}{
			{"OrderRequested", fmt.Sprintf(`{"order_id":%d,"customer_id":%d,"total":"%s","currency":"EUR","ordered_at":"%s","lines":[]}`,
				i+1, i%1000, total, at.Format("2006-01-02T15:04:05"))},
			{"OrderPromised", fmt.Sprintf(`{"order_id":%d,"total":"%s","currency":"EUR","at":"%s"}`, i+1, total, at.Add(time.Minute).Format(time.RFC3339))},
		}
		if i%3 != 0 {
			steps = append(steps, struct{ typ, data string }{"OrderAccepted",
				fmt.Sprintf(`{"order_id":%d,"total":"%s","currency":"EUR","at":"%s"}`, i+1, total, at.Add(time.Hour).Format(time.RFC3339))})
		}
		for _, s := range steps {
			if written == o.events {
				break
			}
			lsn += 0x100
			ev := pipeline.Event{ID: fmt.Sprintf("e%d", written), Source: "postgres://bench/shop?tl=1", Type: s.typ, Version: 1,
				AggregateType: "order", AggregateID: id, Position: pipeline.MakePosition(lsn, 0, 0), LSN: lsn, Time: at, Data: []byte(s.data)}
			enc, err := pipeline.EncodeEvent(ev, topic, pipeline.Structured)
			if err != nil {
				return nil, err
			}
			kr := &kgo.Record{Topic: topic, Partition: p, Key: enc.Key, Value: enc.Value}
			for _, h := range enc.Headers {
				kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
			}
			batch = append(batch, kr)
			ends[p]++
			written++
			if len(batch) == 5000 {
				if err := flush(); err != nil {
					return nil, fmt.Errorf("produce: %w", err)
				}
			}
		}
	}
	if err := flush(); err != nil {
		return nil, fmt.Errorf("produce: %w", err)
	}
	return ends, nil
}

// redisSetup is one Redis server or a cluster of three masters.
type redisSetup struct {
	servers []*services.Redis
	client  redis.UniversalClient
	env     []string
}

func startRedis(ctx context.Context, dir, target string) (*redisSetup, error) {
	rs := &redisSetup{}
	if target == "redis" {
		srv, err := services.StartRedis(ctx, services.RedisOptions{Dir: filepath.Join(dir, "redis")})
		if err != nil {
			return nil, err
		}
		rs.servers = []*services.Redis{srv}
		rs.client = redis.NewClient(&redis.Options{Addr: srv.Addr()})
		rs.env = []string{"CDCFLOW_VIEWS_REDIS_ADDRS=" + srv.Addr()}
		return rs, nil
	}
	var addrs []string
	for i := range 3 {
		srv, err := services.StartRedis(ctx, services.RedisOptions{Dir: filepath.Join(dir, fmt.Sprintf("cluster-%d", i)),
			Args: []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000"}})
		if err != nil {
			rs.stop(ctx)
			return nil, err
		}
		rs.servers = append(rs.servers, srv)
		addrs = append(addrs, srv.Addr())
	}
	args := append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput(); err != nil {
		rs.stop(ctx)
		return nil, fmt.Errorf("redis-cli --cluster create (install redis-tools): %w\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, srv := range rs.servers {
		n := redis.NewClient(&redis.Options{Addr: srv.Addr()})
		for {
			info, err := n.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				n.Close()
				rs.stop(ctx)
				return nil, fmt.Errorf("cluster not ok on %s after 30s: %v", srv.Addr(), err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		n.Close()
	}
	rs.client = redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	rs.env = []string{"CDCFLOW_VIEWS_REDIS_CLUSTER=true", "CDCFLOW_VIEWS_REDIS_ADDRS=" + strings.Join(addrs, ",")}
	return rs, nil
}

func (rs *redisSetup) stop(ctx context.Context) {
	if rs.client != nil {
		rs.client.Close()
	}
	for _, s := range rs.servers {
		_ = s.Stop(context.WithoutCancel(ctx))
	}
}

// flush empties every master.
func (rs *redisSetup) flush(ctx context.Context) error {
	for _, s := range rs.servers {
		n := redis.NewClient(&redis.Options{Addr: s.Addr()})
		err := n.FlushAll(ctx).Err()
		n.Close()
		if err != nil {
			return fmt.Errorf("flush %s: %w", s.Addr(), err)
		}
	}
	return nil
}

// cpu returns the CPU seconds (user + system) of every master.
func (rs *redisSetup) cpu(ctx context.Context) (float64, error) {
	var sum float64
	for _, s := range rs.servers {
		n := redis.NewClient(&redis.Options{Addr: s.Addr()})
		info, err := n.Info(ctx, "cpu").Result()
		n.Close()
		if err != nil {
			return 0, fmt.Errorf("INFO cpu of %s: %w", s.Addr(), err)
		}
		for line := range strings.Lines(info) {
			k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
			if ok && (k == "used_cpu_sys" || k == "used_cpu_user") {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					return 0, fmt.Errorf("INFO cpu of %s: %q", s.Addr(), line)
				}
				sum += f
			}
		}
	}
	return sum, nil
}

// measure runs n materializers in a fresh group over a fresh prefix until
// every partition is applied to its end.
func measure(ctx context.Context, o options, bin, dir string, k *services.Kafka, adm *kadm.Client, rs *redisSetup,
	ends map[int32]int64, n, runNo int) (result, error) {
	prefix := fmt.Sprintf("bench%d:", runNo)
	group := fmt.Sprintf("bench-materialize-%d", runNo)
	env := append(os.Environ(), "CDCFLOW_KAFKA_BROKERS="+strings.Join(k.Addrs(), ","), "CDCFLOW_MAPPING_FILE="+mappingFile,
		"CDCFLOW_LOG_LEVEL=warn")
	env = append(env, rs.env...)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var procs []*exec.Cmd
	defer func() {
		for _, p := range procs {
			_ = p.Process.Signal(syscall.SIGTERM)
		}
		for _, p := range procs {
			_ = p.Wait()
		}
	}()
	for i := range n {
		logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("materialize-%d-%d.log", runNo, i)))
		if err != nil {
			return result{}, err
		}
		defer logf.Close()
		cmd := exec.Command(bin, "materialize", "--views", viewsFile, "--prefix", prefix, "--group", group)
		cmd.Env, cmd.Stdout, cmd.Stderr = env, logf, logf
		if err := cmd.Start(); err != nil {
			return result{}, fmt.Errorf("start materialize: %w", err)
		}
		procs = append(procs, cmd)
	}
	parts := make([]int32, o.partitions)
	for p := range parts {
		parts[p] = int32(p)
	}
	applied := func() (int64, error) {
		offs, err := redisview.StoredOffsets(ctx, rs.client, prefix, 1, topic, parts)
		if err != nil {
			return 0, err
		}
		var sum int64
		for _, off := range offs {
			sum += off
		}
		return sum, nil
	}
	var total int64
	for _, e := range ends {
		total += e
	}
	// The window starts once the group is stable with the partitions
	// split evenly.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if ok, err := stable(ctx, adm, group, n, o.partitions/n); err != nil {
			return result{}, err
		} else if ok {
			break
		}
		for _, p := range procs {
			if p.ProcessState != nil {
				return result{}, fmt.Errorf("a materializer exited: %s (see the logs with -keep)", p.ProcessState)
			}
		}
		if time.Now().After(deadline) {
			return result{}, errors.New("the group did not become stable within 2 minutes")
		}
		time.Sleep(20 * time.Millisecond)
	}
	start := time.Now()
	done0, err := applied()
	if err != nil {
		return result{}, err
	}
	mat0, self0 := procsCPU(procs), selfCPU()
	red0, err := rs.cpu(ctx)
	if err != nil {
		return result{}, err
	}
	deadline = time.Now().Add(30 * time.Minute)
	for {
		done, err := applied()
		if err != nil {
			return result{}, err
		}
		if done >= total {
			break
		}
		if time.Now().After(deadline) {
			return result{}, fmt.Errorf("only %d of %d events applied after 30 minutes", done, total)
		}
		time.Sleep(10 * time.Millisecond)
	}
	el := time.Since(start).Seconds()
	red1, err := rs.cpu(ctx)
	if err != nil {
		return result{}, err
	}
	return result{instances: n, events: total - done0, seconds: el, matCPU: procsCPU(procs) - mat0,
		redisCPU: red1 - red0, brokerCPU: selfCPU() - self0}, nil
}

// stable reports whether group is stable with members members holding each
// per partitions.
func stable(ctx context.Context, adm *kadm.Client, group string, members, per int) (bool, error) {
	gs, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return false, nil // not there yet
	}
	g, ok := gs[group]
	if !ok || g.Err != nil || g.State != "Stable" || len(g.Members) != members {
		return false, nil
	}
	for _, m := range g.Members {
		a, ok := m.Assigned.AsConsumer()
		if !ok {
			return false, nil
		}
		n := 0
		for _, t := range a.Topics {
			n += len(t.Partitions)
		}
		if n != per {
			return false, nil
		}
	}
	return true, nil
}

func procsCPU(procs []*exec.Cmd) float64 {
	var sum float64
	for _, p := range procs {
		sum += procCPU(p.Process.Pid)
	}
	return sum
}

// procCPU is process pid's user + system CPU seconds from /proc/<pid>/stat.
func procCPU(pid int) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	i := strings.LastIndexByte(line, ')')
	if i < 0 || i+2 > len(line) {
		return 0
	}
	// utime and stime are the 14th and 15th fields, the 12th and 13th
	// after the command name.
	fs := strings.Fields(line[i+2:])
	if len(fs) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(fs[11], 10, 64)
	st, _ := strconv.ParseInt(fs[12], 10, 64)
	const ticks = 100 // USER_HZ
	return float64(ut+st) / ticks
}

func selfCPU() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func report(o options, results []result) {
	var load string
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	fmt.Printf("\n%d events on %d partitions of %s, reference views; %d cores; load average at the end %s\n\n",
		o.events, o.partitions, topic, runtime.NumCPU(), load)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "redis\tmaterializers\tevents/s\tper instance\tx one\tmaterializer µs CPU/event\tRedis µs CPU/event\tbroker µs CPU/event\tcores busy\t")
	one := map[string]float64{}
	for _, r := range results {
		rate := float64(r.events) / r.seconds
		if r.instances == 1 {
			one[r.target] = rate
		}
		x := "-"
		if one[r.target] > 0 {
			x = fmt.Sprintf("%.2f", rate/one[r.target])
		}
		per := func(cpu float64) string { return fmt.Sprintf("%.1f", cpu/float64(r.events)*1e6) }
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%s\t%s\t%s\t%s\t%.2f\t\n", r.target, r.instances, rate, rate/float64(r.instances), x,
			per(r.matCPU), per(r.redisCPU), per(r.brokerCPU), (r.matCPU+r.redisCPU+r.brokerCPU)/r.seconds)
	}
	tw.Flush()
}
