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

func TestBackoffNext(t *testing.T) {
	tests := []struct {
		name string
		b    Backoff
		want []time.Duration
	}{
		{
			name: "doubles up to the cap",
			b:    Backoff{Initial: 100 * time.Millisecond, Max: time.Second},
			want: []time.Duration{100, 200, 400, 800, 1000, 1000},
		},
		{
			name: "defaults",
			want: []time.Duration{100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000},
		},
		{
			name: "huge initial is capped",
			b:    Backoff{Initial: 1 << 62, Max: time.Minute},
			want: []time.Duration{60000, 60000},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.b
			b.Rand = func() float64 { return 1 } // the ceiling itself
			for i, w := range tt.want {
				if got := b.Next(); got != w*time.Millisecond {
					t.Fatalf("Next() #%d = %v; want %v", i, got, w*time.Millisecond)
				}
			}
			b.Reset()
			if got, first := b.Next(), tt.want[0]*time.Millisecond; got != first {
				t.Errorf("Next() after Reset = %v; want %v", got, first)
			}
		})
	}
}

func TestBackoffJitter(t *testing.T) {
	b := Backoff{Initial: time.Second, Max: time.Minute, Rand: func() float64 { return 0.25 }}
	if got := b.Next(); got != 250*time.Millisecond {
		t.Errorf("Next() with rand 0.25 = %v; want 250ms", got)
	}
	b = Backoff{Initial: time.Second}
	for range 1000 {
		if d := b.Next(); d < 0 || d >= DefaultMaxBackoff {
			t.Fatalf("Next() = %v; want within [0, %v)", d, DefaultMaxBackoff)
		}
	}
}

var errTransient = errors.New("transient")

func TestRetry(t *testing.T) {
	errFatal := errors.New("fatal")
	tests := []struct {
		name        string
		results     []error // returned by successive calls; after them, nil
		wantErr     error
		wantCalls   int
		wantRetries float64
		wantElapsed time.Duration
	}{
		{name: "success", wantCalls: 1},
		{name: "transient then success", results: []error{errTransient, errTransient, errTransient},
			wantCalls: 4, wantRetries: 3, wantElapsed: (100 + 200 + 400) * time.Millisecond},
		{name: "fatal stops", results: []error{errTransient, errFatal}, wantErr: errFatal,
			wantCalls: 2, wantRetries: 1, wantElapsed: 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := NewMetrics(prometheus.NewRegistry())
				b := &Backoff{Op: "produce", Metrics: m, Rand: func() float64 { return 1 }}
				calls := 0
				start := time.Now()
				err := Retry(t.Context(), b, isTransient, func(context.Context) error {
					calls++
					if calls <= len(tt.results) {
						return tt.results[calls-1]
					}
					return nil
				})
				if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
					t.Errorf("Retry = %v; want %v", err, tt.wantErr)
				}
				if calls != tt.wantCalls {
					t.Errorf("calls = %d; want %d", calls, tt.wantCalls)
				}
				if got := time.Since(start); got != tt.wantElapsed {
					t.Errorf("elapsed = %v; want %v", got, tt.wantElapsed)
				}
				if got := testutil.ToFloat64(m.retries.WithLabelValues("produce")); got != tt.wantRetries {
					t.Errorf("retries metric = %v; want %v", got, tt.wantRetries)
				}
			})
		})
	}
}

func TestRetryStopsOnContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		b := &Backoff{}
		calls := 0
		err := Retry(ctx, b, isTransient, func(context.Context) error {
			calls++
			return errTransient
		})
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, errTransient) {
			t.Errorf("Retry = %v; want DeadlineExceeded joined with the last error", err)
		}
		if calls < 5 {
			t.Errorf("calls = %d within a minute; want retries to continue until the deadline", calls)
		}
	})
}

func isTransient(err error) bool { return errors.Is(err, errTransient) }
