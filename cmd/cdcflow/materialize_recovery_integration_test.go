package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/internal/loadgen"
	"github.com/cdcflow/cdcflow/internal/testenv"
)

// TestIntegrationMaterializerRecovery kills one of two materializers that
// share the order topic's partitions with SIGKILL, again and again under a
// steady load, restarting it each time as Kubernetes would: with the same
// instance id (a container restarted in its Pod) and with a new one (a Pod
// rescheduled under a new name). After each restart every partition must be
// consumed again — its offset stored in Redis reaches the end offset the
// partition had at the restart — within 15 s; after a clean stop (SIGTERM)
// the survivor takes the stopped one's partitions within 2 s. The figures
// are logged.
//
// The run is 10 kills, each 5–30 s after the previous restart;
// CDCFLOW_TEST_RECOVERY_KILLS and CDCFLOW_TEST_RECOVERY_MAX_GAP set them
// (defaults 10 and 8s, to keep the suite short).
func TestIntegrationMaterializerRecovery(t *testing.T) {
	kills := 10
	if v, err := strconv.Atoi(os.Getenv("CDCFLOW_TEST_RECOVERY_KILLS")); err == nil && v > 0 {
		kills = v
	}
	maxGap := 8 * time.Second
	if v, err := time.ParseDuration(os.Getenv("CDCFLOW_TEST_RECOVERY_MAX_GAP")); err == nil && v > 5*time.Second {
		maxGap = v
	}
	for _, sameID := range []bool{true, false} {
		name := map[bool]string{true: "same_instance_id", false: "new_instance_id"}[sameID]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newMatSetup(t)
			rng := rand.New(rand.NewPCG(uint64(s.seed), 7))
			loadCtx, stopLoad := context.WithCancel(t.Context())
			loaded := make(chan struct{})
			go func() {
				// A steady load until the final check: every partition
				// keeps receiving events, so a stalled one shows.
				defer close(loaded)
				g, err := loadgen.New(loadgen.Config{DSN: s.db.DSN, Seed: uint64(s.seed) + 1, Rate: 40})
				if err == nil {
					err = g.Run(loadCtx)
				}
				if err != nil && loadCtx.Err() == nil {
					t.Errorf("load: %v", err)
				}
			}()
			defer stopLoad()
			mat := func(id string) *matProc {
				env := append(slices.Clone(s.env), "CDCFLOW_VIEWS_INSTANCE_ID="+id)
				cmd, exited := startCdcflowCmd(t, env, "materialize", "--views", s.views, "--redis", s.redis, "--prefix", s.prefix)
				return &matProc{cmd: cmd, exited: exited}
			}
			// run creates the topics (3 partitions); the materializers
			// start once it has.
			testenv.Await(t, 60*time.Second, "run to create shop.order", func() (bool, error) {
				ends, err := s.admin(t).ListEndOffsets(t.Context(), "shop.order")
				if err != nil {
					return false, nil // not there yet
				}
				n := 0
				ends.Each(func(o kadm.ListedOffset) {
					if o.Err == nil {
						n++
					}
				})
				return n == 3, nil
			})
			aID := "mat-a-0"
			a, b := mat(aID), mat("mat-b")
			s.running = append(s.running, b.exited)
			s.awaitConsumed(t, 120*time.Second) // both up and applying

			var waits []time.Duration
			for i := range kills {
				time.Sleep(5*time.Second + time.Duration(rng.Int64N(int64(maxGap-5*time.Second)))) // the random moment
				// The kill must stall something: the victim owns partitions.
				s.awaitOwns(t, aID, 60*time.Second)
				if err := a.cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
				<-a.exited
				if !sameID {
					aID = fmt.Sprintf("mat-a-%d", i+1)
				}
				a = mat(aID)
				waits = append(waits, s.awaitConsumed(t, 60*time.Second))
				t.Logf("kill %d: every partition consumed again %v after the restart", i+1, waits[i].Round(10*time.Millisecond))
			}
			slices.Sort(waits)
			t.Logf("%s: %d kill -9s: consumed again after min %v, median %v, max %v", name, kills,
				waits[0].Round(10*time.Millisecond), waits[len(waits)/2].Round(10*time.Millisecond), waits[len(waits)-1].Round(10*time.Millisecond))
			if waits[len(waits)-1] > 15*time.Second {
				t.Errorf("%s: a restart took %v to consume every partition again; want within 15s", name, waits[len(waits)-1])
			}

			// A clean stop hands the partitions over.
			s.awaitOwns(t, aID, 60*time.Second)
			stopped := time.Now()
			if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if err := <-a.exited; err != nil {
				t.Fatalf("materializer stopped with SIGTERM: %v", err)
			}
			s.awaitConsumed(t, 60*time.Second)
			handover := time.Since(stopped)
			t.Logf("%s: after a clean stop the survivor consumed every partition within %v", name, handover.Round(10*time.Millisecond))
			if handover > 2*time.Second {
				t.Errorf("%s: clean handover took %v; want within 2s", name, handover)
			}
			// Nothing lost or doubled: once the load stops, the views
			// equal SQL.
			stopLoad()
			<-loaded
			var diff string
			testenv.Await(t, 120*time.Second, "views equal to the source tables", func() (bool, error) { return s.match(1, &diff) })
		})
	}
}

// matProc is a running `cdcflow materialize`.
type matProc struct {
	cmd    *exec.Cmd
	exited <-chan error
}

// awaitConsumed waits until every partition of the order topic has been
// consumed past what was applied when it was called: first until every
// partition has received records beyond its stored offset (the steady load
// writes them), then until every stored offset reaches the end offsets seen
// at that moment. It returns the time from its call to the end, so a
// partition nobody consumes shows as a long wait.
func (s *matSetup) awaitConsumed(t *testing.T, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	before := s.offsets(t, nil)
	var target map[int32]int64
	testenv.Await(t, timeout, "new records on every partition of shop.order", func() (bool, error) {
		target = s.endOffsets(t)
		for p, o := range before {
			if target[p] <= o {
				return false, nil
			}
		}
		return len(target) > 0, nil
	})
	testenv.Await(t, timeout, "every partition of shop.order consumed up to its end offset", func() (bool, error) {
		for p, o := range s.offsets(t, target) {
			if o < target[p] {
				return false, nil
			}
		}
		return true, nil
	})
	return time.Since(start)
}

// offsets returns the offset of shop.order stored in Redis for each
// partition of parts (nil: of every partition with an end offset).
func (s *matSetup) offsets(t *testing.T, parts map[int32]int64) map[int32]int64 {
	t.Helper()
	if parts == nil {
		parts = s.endOffsets(t)
	}
	out := map[int32]int64{}
	for p := range parts {
		key := fmt.Sprintf("%s{p%d}:g1:offsets", s.prefix, p)
		v, err := s.rdb.HGet(t.Context(), key, "shop.order").Int64()
		if err != nil && !errors.Is(err, redis.Nil) {
			t.Fatal(err)
		}
		out[p] = v
	}
	return out
}

// admin returns s.adm, made on first use.
func (s *matSetup) admin(t *testing.T) *kadm.Client {
	t.Helper()
	if s.adm == nil {
		// Not s.broker.Client: that one creates a missing topic (with one
		// partition) when asked about it, racing run's own creation.
		cl, err := kgo.NewClient(kgo.SeedBrokers(s.broker.Addrs()...))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		s.adm = kadm.NewClient(cl)
	}
	return s.adm
}

// endOffsets returns the end offset of every partition of shop.order.
func (s *matSetup) endOffsets(t *testing.T) map[int32]int64 {
	t.Helper()
	ends, err := s.admin(t).ListEndOffsets(t.Context(), "shop.order")
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			out[o.Partition] = o.Offset
		}
	})
	return out
}

// awaitOwns waits until the member of the views' group with instance id
// owns at least one partition.
func (s *matSetup) awaitOwns(t *testing.T, instanceID string, timeout time.Duration) {
	t.Helper()
	testenv.Await(t, timeout, instanceID+" owning partitions", func() (bool, error) {
		groups, err := s.admin(t).DescribeGroups(t.Context(), "cdcflow-views")
		if err != nil {
			return false, err
		}
		g, ok := groups["cdcflow-views"]
		if !ok || g.State != "Stable" {
			return false, nil
		}
		for _, m := range g.Members {
			if m.InstanceID == nil || *m.InstanceID != instanceID {
				continue
			}
			if a, ok := m.Assigned.AsConsumer(); ok {
				for _, tp := range a.Topics {
					if len(tp.Partitions) > 0 {
						return true, nil
					}
				}
			}
		}
		return false, nil
	})
}
