package testenv

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cdcflow/cdcflow/internal/services"
)

func TestIdentifier(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"TestFoo", 40, "testfoo"},
		{"TestFoo/sub_case#01", 40, "testfoo_sub_case_01"},
		{"9lives", 40, "t9lives"},
		{"", 40, "t"},
		{"TestAVeryLongName", 5, "testa"},
		{"Tést", 40, "t_st"},
	}
	for _, tt := range tests {
		if got := identifier(tt.in, tt.n); got != tt.want {
			t.Errorf("identifier(%q, %d) = %q; want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestSeedFromEnv(t *testing.T) {
	t.Setenv("CDCFLOW_TEST_SEED", "42")
	if got := Seed(t); got != 42 {
		t.Errorf("Seed with CDCFLOW_TEST_SEED=42 = %d; want 42", got)
	}
}

func TestAwait(t *testing.T) {
	calls := 0
	start := time.Now()
	Await(t, 5*time.Second, "the third call", func() (bool, error) {
		calls++
		return calls == 3, nil
	})
	if calls != 3 {
		t.Errorf("cond called %d times; want 3", calls)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Await took %v for three quick polls", d)
	}
}

// fatalRecorder records Fatal, Fatalf and Skip instead of ending the test.
type fatalRecorder struct {
	testing.TB
	msg            string
	skipped, fatal bool
}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg, f.fatal = fmt.Sprintf(format, args...), true
}
func (f *fatalRecorder) Fatal(args ...any) { f.msg, f.fatal = fmt.Sprint(args...), true }
func (f *fatalRecorder) Skip(args ...any)  { f.msg, f.skipped = fmt.Sprint(args...), true }

func TestSkipOrFail(t *testing.T) {
	missing := fmt.Errorf("start redis: exec: \"redis-server\": %w (install with: apt-get install redis-server)", services.ErrNotInstalled)
	tests := []struct {
		name        string
		ci          string
		err         error
		wantSkipped bool
	}{
		{"missing binary skips", "", missing, true},
		{"missing binary fails under CI", "true", missing, false},
		{"other errors fail", "", errors.New("port in use"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("CI", tt.ci)
			f := &fatalRecorder{TB: t}
			skipOrFail(f, tt.err)
			if f.skipped != tt.wantSkipped || f.fatal == tt.wantSkipped || f.msg != tt.err.Error() {
				t.Errorf("skipOrFail(%v) with CI=%q: skipped=%v, failed=%v, message %q; want skipped=%v, failed=%v with the error's message",
					tt.err, tt.ci, f.skipped, f.fatal, f.msg, tt.wantSkipped, !tt.wantSkipped)
			}
		})
	}
}

func TestAwaitTimeout(t *testing.T) {
	f := &fatalRecorder{TB: t}
	Await(f, 50*time.Millisecond, "the impossible", func() (bool, error) {
		return false, errors.New("still down")
	})
	for _, want := range []string{"the impossible", "still down", "50ms"} {
		if !strings.Contains(f.msg, want) {
			t.Errorf("Await failure %q does not mention %q", f.msg, want)
		}
	}
}

// TestAwaitSchedule checks the pauses between calls (doubling from 5ms to
// 250ms) and the last call at the deadline, on synctest's clock.
func TestAwaitSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fatalRecorder{TB: t}
		start := time.Now()
		var at []time.Duration
		Await(f, time.Second, "the impossible", func() (bool, error) {
			at = append(at, time.Since(start))
			return false, nil
		})
		want := []time.Duration{0, 5, 15, 35, 75, 155, 315, 565, 815, 1000}
		for i := range want {
			want[i] *= time.Millisecond
		}
		if !slices.Equal(at, want) {
			t.Errorf("cond called at %v; want %v", at, want)
		}
		if !f.fatal {
			t.Errorf("Await did not fail the test after its timeout")
		}
	})
}

func contextTimeout(t *testing.T, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.Context(), d)
}
