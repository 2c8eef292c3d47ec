package backpressure

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
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

func TestBackoffFloor(t *testing.T) {
	tests := []struct {
		name  string
		floor float64
		rand  float64
		want  time.Duration
	}{
		{name: "full jitter, low draw", floor: 0, rand: 0, want: 0},
		{name: "full jitter, mid draw", floor: 0, rand: 0.5, want: 500 * time.Millisecond},
		{name: "half floor, low draw", floor: 0.5, rand: 0, want: 500 * time.Millisecond},
		{name: "half floor, mid draw", floor: 0.5, rand: 0.5, want: 750 * time.Millisecond},
		{name: "no jitter", floor: 1, rand: 0, want: time.Second},
		{name: "above 1 is clamped", floor: 7, rand: 0, want: time.Second},
		{name: "below 0 is clamped", floor: -1, rand: 0.25, want: 250 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := Backoff{Initial: time.Second, Max: time.Second, Floor: tt.floor, Rand: func() float64 { return tt.rand }}
			for i := range 3 { // Initial = Max: the same pause every time
				if got := b.Next(); got != tt.want {
					t.Fatalf("Next() #%d with floor %v, rand %v = %v; want %v", i, tt.floor, tt.rand, got, tt.want)
				}
			}
		})
	}
}

func TestBackoffWaitLogs(t *testing.T) {
	tests := []struct {
		name   string
		b      Backoff
		errs   []error // one Wait per error
		reset  int     // Reset before the Wait with this index (0: never)
		want   []string
		wantIn time.Duration // total time spent in Wait
	}{
		{
			name: "attempt and pause of each retry",
			b:    Backoff{Initial: 100 * time.Millisecond, Max: 300 * time.Millisecond, Floor: 1, Op: "produce"},
			errs: []error{errTransient, errTransient, errTransient},
			want: []string{
				"level=WARN msg=\"retrying after an error\" op=produce attempt=1 retry_in=100ms err=transient",
				"level=WARN msg=\"retrying after an error\" op=produce attempt=2 retry_in=200ms err=transient",
				"level=WARN msg=\"retrying after an error\" op=produce attempt=3 retry_in=300ms err=transient",
			},
			wantIn: 600 * time.Millisecond,
		},
		{
			name:  "reset starts the count again",
			b:     Backoff{Initial: time.Second, Max: time.Second, Floor: 1},
			errs:  []error{errTransient, errTransient, nil},
			reset: 2,
			want: []string{
				"level=WARN msg=\"retrying after an error\" op=unnamed attempt=1 retry_in=1s err=transient",
				"level=WARN msg=\"retrying after an error\" op=unnamed attempt=2 retry_in=1s err=transient",
				"level=WARN msg=\"retrying after an error\" op=unnamed attempt=1 retry_in=1s err=<nil>",
			},
			wantIn: 3 * time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var buf bytes.Buffer
				b := tt.b
				b.Log = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: dropTime}))
				start := time.Now()
				for i, err := range tt.errs {
					if tt.reset > 0 && i == tt.reset {
						b.Reset()
					}
					if werr := b.Wait(t.Context(), err); werr != nil {
						t.Fatalf("Wait #%d = %v; want nil", i, werr)
					}
				}
				if got := time.Since(start); got != tt.wantIn {
					t.Errorf("time in Wait = %v; want %v", got, tt.wantIn)
				}
				if got := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n"); !slices.Equal(got, tt.want) {
					t.Errorf("log =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
				}
			})
		})
	}
}

func TestBackoffWaitStopsOnContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cause := errors.New("shutting down")
		ctx, cancel := context.WithCancelCause(t.Context())
		m := NewMetrics(prometheus.NewRegistry())
		b := &Backoff{Initial: time.Minute, Max: time.Minute, Floor: 1, Op: "apply", Metrics: m}
		done := make(chan error)
		go func() { done <- b.Wait(ctx, errTransient) }()
		time.Sleep(time.Second)
		cancel(cause)
		if err := <-done; err != cause {
			t.Errorf("Wait after cancel = %v; want the context's cause %v", err, cause)
		}
		if got := testutil.ToFloat64(m.retries.WithLabelValues("apply")); got != 0 {
			t.Errorf("retries metric after an interrupted Wait = %v; want 0", got)
		}
	})
}

func TestRetryLogs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		b := &Backoff{Op: "create topics", Rand: func() float64 { return 1 },
			Log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: dropTime}))}
		calls := 0
		err := Retry(t.Context(), b, isTransient, func(context.Context) error {
			if calls++; calls < 3 {
				return errTransient
			}
			return nil
		})
		if err != nil {
			t.Fatalf("Retry = %v; want nil", err)
		}
		want := "level=WARN msg=\"retrying after an error\" op=\"create topics\" attempt=1 retry_in=100ms err=transient\n" +
			"level=WARN msg=\"retrying after an error\" op=\"create topics\" attempt=2 retry_in=200ms err=transient\n"
		if got := buf.String(); got != want {
			t.Errorf("log =\n%swant\n%s", got, want)
		}
	})
}

// dropTime removes the time from text log records, so tests compare lines.
func dropTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}
