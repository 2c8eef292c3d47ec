package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cdcflow/cdcflow/backpressure"
	"github.com/cdcflow/cdcflow/internal/services"
)

// mainCalled records that Main runs this test binary, so shared servers
// have an owner that stops them.
var mainCalled atomic.Bool

// stoppers holds the shutdown functions of the shared servers, run by Main
// after the tests in reverse start order.
var stoppers struct {
	mu  sync.Mutex
	fns []func() error
}

func addStopper(fn func() error) {
	stoppers.mu.Lock()
	defer stoppers.mu.Unlock()
	stoppers.fns = append(stoppers.fns, fn)
}

// Main runs the tests of m, stops the shared servers they started and exits
// with the tests' status. Call it from TestMain in every package that uses
// Postgres or Redis.
func Main(m *testing.M) {
	os.Exit(run(m, false, nil))
}

// MainVerifyNoLeaks is Main followed by goleak's check that no goroutine
// outlives the tests, for packages that own goroutines (it replaces
// goleak.VerifyTestMain, which would exit before the shared servers stop).
// opts are passed to goleak.Find.
func MainVerifyNoLeaks(m *testing.M, opts ...goleak.Option) {
	os.Exit(run(m, true, opts))
}

func run(m *testing.M, checkLeaks bool, leakOpts []goleak.Option) int {
	mainCalled.Store(true)
	code := m.Run()
	if err := stopShared(); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: stop shared servers: %v\n", err)
		code = 1
	}
	if checkLeaks && code == 0 {
		if err := goleak.Find(leakOpts...); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: errors on successful test run: %v\n", err)
			code = 1
		}
	}
	return code
}

func stopShared() error {
	stoppers.mu.Lock()
	defer stoppers.mu.Unlock()
	var errs []error
	for i := len(stoppers.fns) - 1; i >= 0; i-- {
		errs = append(errs, stoppers.fns[i]())
	}
	stoppers.fns = nil
	return errors.Join(errs...)
}

// requireMain fails the test when TestMain does not call Main: without it
// a shared server would outlive the test binary.
func requireMain(t testing.TB, what string) {
	t.Helper()
	if !mainCalled.Load() {
		t.Fatalf("testenv.%s shares a server per test binary: add func TestMain(m *testing.M) { testenv.Main(m) } to the package's tests", what)
	}
}

// skipOrFail ends the test when err says a server program is missing:
// skipped with the install hint, or failed under CI=true. Any other error
// fails the test.
func skipOrFail(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, services.ErrNotInstalled) && os.Getenv("CI") != "true" {
		t.Skip(err)
		return
	}
	t.Fatal(err)
}

// Seed returns the seed for the test's randomness: CDCFLOW_TEST_SEED when
// set, else the current time. It logs the seed so a failure can be
// repeated.
func Seed(t testing.TB) int64 {
	t.Helper()
	seed := time.Now().UnixNano()
	if s := os.Getenv("CDCFLOW_TEST_SEED"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("parse CDCFLOW_TEST_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed=%d (set CDCFLOW_TEST_SEED to repeat)", seed)
	return seed
}

// Await calls cond with a growing pause (5ms up to 250ms) until it returns
// true, and fails the test naming what was awaited if timeout passes first.
// An error from cond does not stop the wait (a
// server may be restarting); the last one is reported on failure. It
// blocks, must run on the test's goroutine, and also works in t.Cleanup.
func Await(t testing.TB, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	// Not t.Context(): it is already done when cleanups run.
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	poll := backpressure.Backoff{Initial: 5 * time.Millisecond, Max: 250 * time.Millisecond, Floor: 1}
	var lastErr error
	for final := false; ; {
		ok, err := cond()
		if ok && err == nil {
			return
		}
		if err != nil {
			lastErr = err
		}
		if final {
			break
		}
		// The deadline may fall inside a pause: cond gets a last call then.
		final = poll.Wait(ctx, nil) != nil
	}
	if lastErr != nil {
		t.Fatalf("timed out after %v awaiting %s; last error: %v", timeout, what, lastErr)
	} else {
		t.Fatalf("timed out after %v awaiting %s", timeout, what)
	}
}
