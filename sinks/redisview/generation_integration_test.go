package redisview

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/internal/services"
	"github.com/cdcflow/cdcflow/internal/testenv"
)

func TestIntegrationPreflightRefusesEviction(t *testing.T) {
	srv := testenv.NewRedis(t, "--maxmemory-policy", "allkeys-lru")
	v, err := New(Config{Prefix: "x:"}, testDefinitions(t), srv.Client(t))
	if err != nil {
		t.Fatal(err)
	}
	err = v.Preflight(t.Context())
	if err == nil || !strings.Contains(err.Error(), `"allkeys-lru"`) || !strings.Contains(err.Error(), "noeviction") {
		t.Fatalf("Preflight on allkeys-lru = %v; want an error naming the policy and noeviction", err)
	}
	ok := testenv.NewRedis(t, "--maxmemory-policy", "noeviction")
	v, err = New(Config{Prefix: "x:"}, testDefinitions(t), ok.Client(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Preflight(t.Context()); err != nil {
		t.Fatalf("Preflight on noeviction = %v; want nil", err)
	}
}

func TestIntegrationReplaySwapWhileReading(t *testing.T) {
	ctx := t.Context()
	srv := testenv.Redis(t)
	rdb := srv.Client(t)
	prefix := srv.Prefix(t)
	k := testenv.NewKafka(t, services.KafkaOptions{Partitions: testPartitions})
	prod := k.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	recs := orderStream(testenv.Seed(t), 600, false)
	produce(t, prod, "shop.order", recs)
	defs := testDefinitions(t)
	m := newModel()
	for _, r := range recs {
		m.apply(r)
	}
	want := m.expected()
	wantStatus := map[string]string{}
	for k, v := range want {
		if strings.HasPrefix(k, "per_status/") {
			wantStatus[k] = v
		}
	}

	// Generation 1, built by a first replay (there is no pointer yet).
	cc := ConsumerConfig{Brokers: k.Addrs(), Group: "views", Topics: []string{"shop.order"}, PointerInterval: 200 * time.Millisecond}
	gen, err := Replay(ctx, ReplayConfig{Consumer: cc, Views: Config{Prefix: prefix}}, defs, rdb)
	if err != nil || gen != 1 {
		t.Fatalf("first Replay = %d, %v; want 1, nil", gen, err)
	}
	r, err := NewReader(defs, rdb, prefix, testPartitions)
	if err != nil {
		t.Fatal(err)
	}

	// Readers poll while generation 2 is built and swapped in: every read
	// must see a whole generation.
	pollCtx, stopPolling := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []string
	seen := map[int64]int{}
	for range 2 {
		wg.Go(func() {
			for pollCtx.Err() == nil {
				s, err := r.Current(pollCtx)
				if err != nil {
					if pollCtx.Err() == nil {
						mu.Lock()
						bad = append(bad, err.Error())
						mu.Unlock()
					}
					return
				}
				groups, err := s.Aggregate(pollCtx, "per_status")
				if err != nil {
					if pollCtx.Err() == nil {
						mu.Lock()
						bad = append(bad, err.Error())
						mu.Unlock()
					}
					return
				}
				got := map[string]string{}
				for g, v := range groups {
					got["per_status/"+g] = fmt.Sprintf("%d %s", v.Count, v.Sums["total"])
				}
				mu.Lock()
				seen[s.Generation()]++
				if fmt.Sprint(got) != fmt.Sprint(wantStatus) {
					bad = append(bad, fmt.Sprintf("generation %d: per_status = %v; want %v", s.Generation(), got, wantStatus))
				}
				mu.Unlock()
			}
		})
	}
	var progress []Progress
	cc.Progress = func(p Progress) { progress = append(progress, p) }
	gen, err = Replay(ctx, ReplayConfig{Consumer: cc, Views: Config{Prefix: prefix}}, defs, rdb)
	if err != nil || gen != 2 {
		t.Fatalf("second Replay = %d, %v; want 2, nil", gen, err)
	}
	// Keep polling until the readers have seen the new generation.
	testenv.Await(t, 10*time.Second, "readers on generation 2", func() (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		return seen[2] > 0, nil
	})
	stopPolling()
	wg.Wait()
	for _, b := range bad[:min(len(bad), 5)] {
		t.Error(b)
	}
	if seen[1] == 0 {
		t.Errorf("readers saw generations %v; want reads of generation 1 during the replay", seen)
	}
	// The first round applies everything; a catch-up round finds nothing.
	if !slices.ContainsFunc(progress, func(p Progress) bool { return p.Done == int64(len(recs)) && p.Total == p.Done && p.Round == 1 }) {
		t.Errorf("replay progress = %v; want a report of %d of %d records done in round 1", progress, len(recs), len(recs))
	}

	// The replayed generation equals the live one key for key.
	all := dump(t, ctx, rdb, prefix)
	g1, g2 := map[string]string{}, map[string]string{}
	for k, v := range all {
		switch {
		case strings.Contains(k, ":g1:"):
			g1[strings.Replace(k, ":g1:", ":g?:", 1)] = v
		case strings.Contains(k, ":g2:"):
			g2[strings.Replace(k, ":g2:", ":g?:", 1)] = v
		}
	}
	if len(g1) < 20 {
		t.Fatalf("generation 1 has %d keys; want a real workload", len(g1))
	}
	diffViews(t, g2, g1)
	diffViews(t, actual(t, ctx, r.At(2), allIDs(recs)), want)

	// The old generation is deleted in slices; the current one cannot be.
	if _, err := DeleteGeneration(ctx, rdb, prefix, 2, 10, 0); err == nil {
		t.Error("DeleteGeneration(current) = nil error; want a refusal")
	}
	n, err := DeleteGeneration(ctx, rdb, prefix, 1, 10, 0)
	if err != nil || n != int64(len(g1)) {
		t.Errorf("DeleteGeneration(1) = %d, %v; want %d, nil", n, err, len(g1))
	}
	for k := range dump(t, ctx, rdb, prefix) {
		if strings.Contains(k, ":g1:") {
			t.Errorf("key %s of deleted generation 1 remains", k)
		}
	}

	// A stale swap is refused.
	if err := Swap(ctx, rdb, prefix, 1, 3); !errors.Is(err, ErrSwapped) {
		t.Errorf("Swap(1 -> 3) with pointer at 2 = %v; want ErrSwapped", err)
	}
}

func TestIntegrationFollowPointer(t *testing.T) {
	ctx := t.Context()
	srv := testenv.Redis(t)
	rdb := srv.Client(t)
	prefix := srv.Prefix(t)
	k := testenv.NewKafka(t, services.KafkaOptions{Partitions: 1})
	if err := Swap(ctx, rdb, prefix, 0, 1); err != nil {
		t.Fatal(err)
	}
	v, err := New(Config{Prefix: prefix, Generation: 1}, testDefinitions(t), rdb)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewConsumer(ConsumerConfig{Brokers: k.Addrs(), Group: "live", Topics: []string{"shop.order"}, FollowPointer: true, PointerInterval: 50 * time.Millisecond}, v)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	if err := Swap(ctx, rdb, prefix, 1, 2); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrGenerationChanged) {
			t.Fatalf("Run after a swap = %v; want ErrGenerationChanged", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not stop after the generation pointer moved")
	}
}

// TestIntegrationFollowPointerAfterDeletion: a live consumer that has not yet
// seen the pointer move when a replay's grace period ends and generation 1 is
// deleted is fenced by its vanished offsets; it must stop for the new
// generation instead of rebuilding generation 1 from the start.
func TestIntegrationFollowPointerAfterDeletion(t *testing.T) {
	for _, deadLetters := range []string{"", "views.deadletter"} {
		t.Run("dead letters "+deadLetters, func(t *testing.T) { followPointerAfterDeletion(t, deadLetters) })
	}
}

func followPointerAfterDeletion(t *testing.T, deadLetters string) {
	ctx := t.Context()
	srv := testenv.Redis(t)
	rdb := srv.Client(t)
	prefix := srv.Prefix(t)
	k := testenv.NewKafka(t, services.KafkaOptions{Partitions: testPartitions})
	prod := k.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	recs := orderStream(testenv.Seed(t), 200, false)
	half := len(recs) / 2
	produce(t, prod, "shop.order", recs[:half])

	if err := Swap(ctx, rdb, prefix, 0, 1); err != nil {
		t.Fatal(err)
	}
	v, err := New(Config{Prefix: prefix, Generation: 1}, testDefinitions(t), rdb)
	if err != nil {
		t.Fatal(err)
	}
	// The periodic pointer check is an hour away: only the fence can notice.
	c, err := NewConsumer(ConsumerConfig{Brokers: k.Addrs(), Group: "live", Topics: []string{"shop.order"},
		FollowPointer: true, PointerInterval: time.Hour, DeadLetterTopic: deadLetters, Logger: testLogger(t)}, v)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	parts := make([]int32, testPartitions)
	for i := range parts {
		parts[i] = int32(i)
	}
	testenv.Await(t, 30*time.Second, "generation 1 holds the first half", func() (bool, error) {
		stored, err := v.Offsets(ctx, "shop.order", parts)
		var n int64
		for _, o := range stored {
			n += o
		}
		return n == int64(half), err
	})

	if err := Swap(ctx, rdb, prefix, 1, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := DeleteGeneration(ctx, rdb, prefix, 1, 100, 0); err != nil {
		t.Fatal(err)
	}
	produce(t, prod, "shop.order", recs[half:])
	select {
	case err := <-done:
		if !errors.Is(err, ErrGenerationChanged) {
			t.Fatalf("Run after its generation was deleted = %v; want ErrGenerationChanged", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not stop after its generation was deleted")
	}
	if n, err := DeleteGeneration(ctx, rdb, prefix, 1, 100, 0); err != nil || n != 0 {
		t.Errorf("generation 1 has %d keys again (%v); want none", n, err)
	}
	if deadLetters != "" {
		ends, err := kadm.NewClient(k.Client(t)).ListEndOffsets(ctx, deadLetters)
		if err != nil {
			t.Fatal(err)
		}
		ends.Each(func(o kadm.ListedOffset) {
			if o.Err == nil && o.Offset > 0 {
				t.Errorf("%d record(s) dead-lettered from the deleted generation in partition %d", o.Offset, o.Partition)
			}
		})
	}
}
