package backpressure

import (
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestWatermark(t *testing.T) {
	// Each step tracks (t), completes (d) or heartbeats (h) and then checks Confirmed.
	type step struct {
		op   byte   // 't', 'd', 'h'
		arg  uint64 // position for t/h, index of the tracked item (from 0) for d
		want uint64
	}
	tests := []struct {
		name    string
		initial uint64
		steps   []step
	}{
		{name: "in order", initial: 10, steps: []step{
			{'t', 20, 10}, {'t', 30, 10}, {'d', 0, 20}, {'d', 1, 30},
		}},
		{name: "out of order waits for the earliest", initial: 10, steps: []step{
			{'t', 20, 10}, {'t', 30, 10}, {'t', 40, 10}, {'d', 2, 10}, {'d', 1, 10}, {'d', 0, 40},
		}},
		{name: "chunked transaction confirms only at its last chunk", initial: 10, steps: []step{
			{'t', 10, 10}, {'t', 10, 10}, {'t', 50, 10}, {'d', 0, 10}, {'d', 1, 10}, {'d', 2, 50},
		}},
		{name: "heartbeat with nothing in flight advances at once", initial: 10, steps: []step{
			{'h', 15, 15}, {'t', 20, 15}, {'d', 0, 20}, {'h', 25, 25},
		}},
		{name: "heartbeat waits behind pending items", initial: 10, steps: []step{
			{'t', 20, 10}, {'h', 25, 10}, {'d', 0, 25},
		}},
		{name: "positions below the initial one never move it back", initial: 100, steps: []step{
			{'t', 99, 100}, {'d', 0, 100}, {'t', 120, 100}, {'d', 1, 120},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := NewWatermark(tt.initial, nil)
			var tickets []Ticket
			for i, s := range tt.steps {
				var err error
				switch s.op {
				case 't':
					var tk Ticket
					tk, err = w.Track(s.arg)
					tickets = append(tickets, tk)
				case 'd':
					err = w.Done(tickets[s.arg])
				case 'h':
					err = w.Heartbeat(s.arg)
				}
				if err != nil {
					t.Fatalf("step %d (%c %d): %v", i, s.op, s.arg, err)
				}
				if got := w.Confirmed(); got != s.want {
					t.Fatalf("step %d (%c %d): Confirmed() = %d; want %d", i, s.op, s.arg, got, s.want)
				}
			}
			if n := w.InFlight(); n != 0 {
				t.Errorf("InFlight() = %d at the end; want 0", n)
			}
		})
	}
}

func TestWatermarkErrors(t *testing.T) {
	w := NewWatermark(1, nil)
	a, err := w.Track(10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Track(9); err == nil {
		t.Error("Track(9) after Track(10) succeeded; want error")
	}
	if err := w.Heartbeat(5); err == nil {
		t.Error("Heartbeat(5) after Track(10) succeeded; want error")
	}
	if err := w.Done(a + 1); err == nil {
		t.Error("Done of an unissued ticket succeeded; want error")
	}
	if err := w.Done(0); err == nil {
		t.Error("Done(0) succeeded; want error")
	}
	if err := w.Done(a); err != nil {
		t.Fatal(err)
	}
	if err := w.Done(a); err == nil {
		t.Error("second Done of a ticket succeeded; want error")
	}
	if got := w.Confirmed(); got != 10 {
		t.Errorf("Confirmed() = %d; want 10", got)
	}
}

func TestWatermarkAdvancedAndMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	w := NewWatermark(7, m)
	if got := testutil.ToFloat64(m.watermark); got != 7 {
		t.Errorf("watermark gauge = %v; want 7", got)
	}
	a, _ := w.Track(8)
	b, _ := w.Track(9)
	if got := testutil.ToFloat64(m.inflight); got != 2 {
		t.Errorf("in-flight gauge = %v; want 2", got)
	}
	if err := w.Done(b); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.Advanced():
		t.Fatal("Advanced signalled although nothing was confirmed")
	default:
	}
	if err := w.Done(a); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.Advanced():
	default:
		t.Fatal("Advanced not signalled after the watermark moved")
	}
	if got := testutil.ToFloat64(m.watermark); got != 9 {
		t.Errorf("watermark gauge = %v; want 9", got)
	}
	if got := testutil.ToFloat64(m.inflight); got != 0 {
		t.Errorf("in-flight gauge = %v; want 0", got)
	}
}

// TestWatermarkProperty completes tracked items in random orders and checks,
// after every Done, that Confirmed equals the position of the last item of
// the longest fully done prefix and never passes an item still pending.
func TestWatermarkProperty(t *testing.T) {
	// The harness's convention (testenv.Seed), without importing it here.
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CDCFLOW_TEST_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("parse CDCFLOW_TEST_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed=%d (set CDCFLOW_TEST_SEED to repeat)", seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for round := range 200 {
		initial := rng.Uint64N(100) + 1
		n := rng.IntN(60) + 1
		w := NewWatermark(initial, nil)
		pos := make([]uint64, n)
		tickets := make([]Ticket, n)
		p := initial - rng.Uint64N(initial) // may start below initial
		for i := range n {
			p += rng.Uint64N(3) // equal positions happen: chunks of one transaction
			pos[i] = p
			tk, err := w.Track(p)
			if err != nil {
				t.Fatalf("seed %d round %d: Track(%d): %v", seed, round, p, err)
			}
			tickets[i] = tk
		}
		done := make([]bool, n)
		for _, i := range rng.Perm(n) {
			if err := w.Done(tickets[i]); err != nil {
				t.Fatalf("seed %d round %d: Done: %v", seed, round, err)
			}
			done[i] = true
			want := initial
			k := 0
			for k < n && done[k] {
				want = max(want, pos[k])
				k++
			}
			got := w.Confirmed()
			if got != want {
				t.Fatalf("seed %d round %d: Confirmed() = %d; want %d", seed, round, got, want)
			}
			if k < n && got > max(initial, pos[k]) {
				t.Fatalf("seed %d round %d: Confirmed() = %d passes pending item %d at %d", seed, round, got, k, pos[k])
			}
		}
	}
}

func TestWatermarkConcurrent(t *testing.T) {
	const n = 5000
	w := NewWatermark(1, nil)
	tickets := make(chan Ticket, n)
	for i := range n {
		tk, err := w.Track(uint64(i + 2))
		if err != nil {
			t.Fatal(err)
		}
		tickets <- tk
	}
	close(tickets)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for tk := range tickets {
				if err := w.Done(tk); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if got := w.Confirmed(); got != n+1 {
		t.Errorf("Confirmed() = %d; want %d", got, n+1)
	}
}

func BenchmarkWatermark(b *testing.B) {
	w := NewWatermark(1, nil)
	var p uint64 = 1
	b.ReportAllocs()
	for b.Loop() {
		p++
		tk, _ := w.Track(p)
		_ = w.Done(tk)
	}
}
