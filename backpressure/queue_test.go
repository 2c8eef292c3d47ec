package backpressure

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestNewQueueBudgets(t *testing.T) {
	tests := []struct {
		name        string
		cfg         QueueConfig
		wantErr     bool
		wantBytes   int64
		wantRecords int
	}{
		{name: "defaults", wantBytes: DefaultMaxBytes, wantRecords: DefaultMaxRecords},
		{name: "set", cfg: QueueConfig{MaxBytes: 10, MaxRecords: 3}, wantBytes: 10, wantRecords: 3},
		{name: "negative bytes", cfg: QueueConfig{MaxBytes: -1}, wantErr: true},
		{name: "negative records", cfg: QueueConfig{MaxRecords: -1}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := NewQueue[int](tt.cfg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("NewQueue(%+v) error = %v; want error %v", tt.cfg, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if q.maxBytes != tt.wantBytes || q.maxRecords != tt.wantRecords {
				t.Errorf("NewQueue(%+v) budgets = %d bytes, %d records; want %d, %d", tt.cfg, q.maxBytes, q.maxRecords, tt.wantBytes, tt.wantRecords)
			}
		})
	}
}

func TestQueueFIFOAndTakeLimits(t *testing.T) {
	q, err := NewQueue[int](QueueConfig{MaxBytes: 1000, MaxRecords: 100})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for i := range 10 {
		if err := q.Put(ctx, i, 10); err != nil {
			t.Fatalf("Put(%d): %v", i, err)
		}
	}
	tests := []struct {
		name       string
		maxRecords int
		maxBytes   int64
		want       []int
		wantBytes  int64
	}{
		{name: "record limit", maxRecords: 3, want: []int{0, 1, 2}, wantBytes: 30},
		{name: "byte limit", maxBytes: 25, want: []int{3, 4}, wantBytes: 20},
		{name: "byte limit below one item takes one", maxBytes: 1, want: []int{5}, wantBytes: 10},
		{name: "no limits takes the rest", want: []int{6, 7, 8, 9}, wantBytes: 40},
	}
	for _, tt := range tests {
		got, n, err := q.Take(ctx, nil, tt.maxRecords, tt.maxBytes)
		if err != nil {
			t.Fatalf("%s: Take: %v", tt.name, err)
		}
		if !equalInts(got, tt.want) || n != tt.wantBytes {
			t.Errorf("%s: Take = %v, %d bytes; want %v, %d", tt.name, got, n, tt.want, tt.wantBytes)
		}
	}
	if n, b := q.Len(); n != 0 || b != 0 {
		t.Errorf("Len() = %d, %d after draining; want 0, 0", n, b)
	}
}

func TestQueuePutNegativeSize(t *testing.T) {
	q, _ := NewQueue[int](QueueConfig{})
	if err := q.Put(t.Context(), 1, -1); err == nil {
		t.Error("Put with size -1 succeeded; want error")
	}
}

func TestQueuePutBlocksUntilRoom(t *testing.T) {
	tests := []struct {
		name  string
		cfg   QueueConfig
		sizes []int64 // queued first; they fit
		size  int64   // this Put must block
		takeN int     // items to take before it may proceed
	}{
		{name: "bytes full", cfg: QueueConfig{MaxBytes: 100, MaxRecords: 10}, sizes: []int64{60, 40}, size: 30, takeN: 1},
		{name: "records full", cfg: QueueConfig{MaxBytes: 1000, MaxRecords: 2}, sizes: []int64{1, 1}, size: 1, takeN: 1},
		{name: "oversized waits for empty", cfg: QueueConfig{MaxBytes: 100, MaxRecords: 10}, sizes: []int64{10, 10}, size: 500, takeN: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				reg := prometheus.NewRegistry()
				tt.cfg.Metrics = NewMetrics(reg)
				q, err := NewQueue[int](tt.cfg)
				if err != nil {
					t.Fatal(err)
				}
				for i, s := range tt.sizes {
					if err := q.Put(t.Context(), i, s); err != nil {
						t.Fatal(err)
					}
				}
				putDone := make(chan error, 1)
				go func() { putDone <- q.Put(t.Context(), 99, tt.size) }()
				for i := range tt.takeN {
					time.Sleep(time.Second) // fake time: Put stays blocked meanwhile
					synctest.Wait()
					select {
					case err := <-putDone:
						t.Fatalf("Put returned %v after %d of %d takes; want it blocked", err, i, tt.takeN)
					default:
					}
					if _, err := q.Get(t.Context()); err != nil {
						t.Fatal(err)
					}
				}
				synctest.Wait()
				select {
				case err := <-putDone:
					if err != nil {
						t.Fatalf("Put = %v; want nil", err)
					}
				default:
					t.Fatal("Put still blocked after room was made")
				}
				got := testutil.ToFloat64(tt.cfg.Metrics.blockedSeconds)
				if want := float64(tt.takeN); got != want {
					t.Errorf("blocked seconds = %v; want %v", got, want)
				}
				wantRecords := len(tt.sizes) - tt.takeN + 1
				if got := testutil.ToFloat64(tt.cfg.Metrics.queueRecords); got != float64(wantRecords) {
					t.Errorf("queue records gauge = %v; want %d", got, wantRecords)
				}
			})
		})
	}
}

func TestQueuePutCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, _ := NewQueue[int](QueueConfig{MaxRecords: 1})
		if err := q.Put(t.Context(), 1, 1); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		start := time.Now()
		err := q.Put(ctx, 2, 1)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Put on a full queue with a 5s deadline = %v; want DeadlineExceeded", err)
		}
		if d := time.Since(start); d != 5*time.Second {
			t.Errorf("Put returned after %v; want 5s", d)
		}
		if n, _ := q.Len(); n != 1 {
			t.Errorf("Len() = %d after a cancelled Put; want 1", n)
		}
	})
}

func TestQueueClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, _ := NewQueue[int](QueueConfig{MaxRecords: 1})
		if err := q.Put(t.Context(), 1, 1); err != nil {
			t.Fatal(err)
		}
		blocked := make(chan error, 1)
		go func() { blocked <- q.Put(t.Context(), 2, 1) }()
		synctest.Wait()
		q.Close()
		if err := <-blocked; !errors.Is(err, ErrClosed) {
			t.Errorf("blocked Put after Close = %v; want ErrClosed", err)
		}
		if err := q.Put(t.Context(), 3, 1); !errors.Is(err, ErrClosed) {
			t.Errorf("Put after Close = %v; want ErrClosed", err)
		}
		if v, err := q.Get(t.Context()); err != nil || v != 1 {
			t.Errorf("Get after Close = %v, %v; want the queued 1, nil", v, err)
		}
		if _, err := q.Get(t.Context()); !errors.Is(err, ErrClosed) {
			t.Errorf("Get on a closed empty queue = %v; want ErrClosed", err)
		}
		q.Close() // a second Close is harmless
	})
}

func TestQueueGetWaitsAndCancels(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, _ := NewQueue[string](QueueConfig{})
		got := make(chan string, 1)
		go func() {
			v, err := q.Get(t.Context())
			if err != nil {
				t.Errorf("Get: %v", err)
			}
			got <- v
		}()
		synctest.Wait()
		if err := q.Put(t.Context(), "x", 1); err != nil {
			t.Fatal(err)
		}
		if v := <-got; v != "x" {
			t.Errorf("Get = %q; want x", v)
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := q.Get(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Get with a cancelled context = %v; want Canceled", err)
		}
	})
}

// TestQueueConcurrent moves many items through a small queue between one
// producer and one consumer: order is kept and the budget is never exceeded.
func TestQueueConcurrent(t *testing.T) {
	const n = 20000
	q, _ := NewQueue[int](QueueConfig{MaxBytes: 64, MaxRecords: 16})
	errc := make(chan error, 1)
	go func() {
		for i := range n {
			if err := q.Put(t.Context(), i, int64(i%8)); err != nil {
				errc <- err
				return
			}
		}
		q.Close()
		errc <- nil
	}()
	next := 0
	var buf []int
	for {
		if r, b := q.Len(); r > 16 || b > 64 {
			t.Fatalf("Len() = %d records, %d bytes; budget is 16, 64", r, b)
		}
		var err error
		buf, _, err = q.Take(t.Context(), buf[:0], 5, 0)
		if errors.Is(err, ErrClosed) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range buf {
			if v != next {
				t.Fatalf("took %d; want %d", v, next)
			}
			next++
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if next != n {
		t.Errorf("took %d items; want %d", next, n)
	}
}

func BenchmarkQueue(b *testing.B) {
	q, _ := NewQueue[int](QueueConfig{MaxBytes: 1 << 20, MaxRecords: 1024})
	ctx := b.Context()
	done := make(chan struct{})
	go func() {
		defer close(done)
		var buf []int
		for {
			var err error
			if buf, _, err = q.Take(ctx, buf[:0], 256, 0); err != nil {
				return
			}
		}
	}()
	b.ReportAllocs()
	for b.Loop() {
		if err := q.Put(ctx, 1, 512); err != nil {
			b.Fatal(err)
		}
	}
	q.Close()
	<-done
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
