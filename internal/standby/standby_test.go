package standby

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeLease is held once acquire is closed; it records when its Run
// returns.
type fakeLease struct {
	acquired chan struct{}
	err      error // returned by Run before ctx ends, when not nil
	log      *events
}

func newFakeLease(log *events) *fakeLease {
	return &fakeLease{acquired: make(chan struct{}), log: log}
}

func (l *fakeLease) Acquired() <-chan struct{} { return l.acquired }

func (l *fakeLease) Run(ctx context.Context) error {
	defer l.log.add("lease released")
	if l.err != nil {
		return l.err
	}
	<-ctx.Done()
	return ctx.Err()
}

// events records what happened, in order, from any goroutine.
type events struct {
	mu   sync.Mutex
	list []string
}

func (e *events) add(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, s)
}

func (e *events) get() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.list)
}

// until runs until ctx is done, recording name when it returns.
func until(log *events, name string) func(context.Context) error {
	return func(ctx context.Context) error {
		<-ctx.Done()
		log.add(name + " stopped")
		return ctx.Err()
	}
}

// TestRunReleasesLeaseAfterJob: the job runs once the lease is held, and
// the lease is released only after the job has returned (its last commit),
// whatever stops it.
func TestRunReleasesLeaseAfterJob(t *testing.T) {
	boom := errors.New("publish failed")
	tests := []struct {
		name string
		stop func(cancel context.CancelFunc, fail chan<- error)
		want error
	}{
		{"context ends", func(cancel context.CancelFunc, _ chan<- error) { cancel() }, context.Canceled},
		{"job fails", func(_ context.CancelFunc, fail chan<- error) { fail <- boom }, boom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := &events{}
			l := newFakeLease(log)
			close(l.acquired)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			held, err := Hold(ctx, l, until(log, "metrics"))
			if err != nil {
				t.Fatalf("Hold() = %v", err)
			}
			fail := make(chan error, 1)
			started := make(chan struct{})
			job := func(ctx context.Context) error {
				close(started)
				select {
				case err := <-fail:
					log.add("job stopped")
					return err
				case <-ctx.Done():
					time.Sleep(10 * time.Millisecond) // the last commit
					log.add("job stopped")
					return ctx.Err()
				}
			}
			done := make(chan error, 1)
			go func() { done <- held.Run(job, until(log, "service")) }()
			<-started
			tt.stop(cancel, fail)
			if err := <-done; !errors.Is(err, tt.want) {
				t.Errorf("Run() = %v; want %v", err, tt.want)
			}
			got := log.get()
			if len(got) != 4 {
				t.Errorf("events %q; want the job, the service, metrics and the lease stopped", got)
			}
			if slices.Index(got, "lease released") < slices.Index(got, "job stopped") {
				t.Errorf("events %q: the lease was released before the job stopped", got)
			}
		})
	}
}

// TestHoldStandingBy: while the lease is not held, the job is not built;
// Hold returns when ctx ends or what runs beside fails, once everything it
// started has returned.
func TestHoldStandingBy(t *testing.T) {
	boom := errors.New("listen: address in use")
	leaseErr := errors.New("lease: connect to source: refused")
	tests := []struct {
		name   string
		beside func(context.Context) error
		lease  error
		cancel bool
		want   error
	}{
		{name: "context ends", cancel: true, want: context.Canceled},
		{name: "beside fails", beside: func(context.Context) error { return boom }, want: boom},
		{name: "lease fails", lease: leaseErr, want: leaseErr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := &events{}
			l := newFakeLease(log)
			l.err = tt.lease
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			beside := until(log, "metrics")
			if tt.beside != nil {
				beside = tt.beside
			}
			if tt.cancel {
				cancel()
			}
			held, err := Hold(ctx, l, beside)
			if held != nil || !errors.Is(err, tt.want) {
				t.Fatalf("Hold() = %v, %v; want nil, %v", held, err, tt.want)
			}
			if !slices.Contains(log.get(), "lease released") {
				t.Errorf("events %q: Hold returned before the lease's Run", log.get())
			}
		})
	}
}

// TestStopAfterHold: when building the job fails, Stop ends the lease and
// what runs beside it.
func TestStopAfterHold(t *testing.T) {
	log := &events{}
	l := newFakeLease(log)
	close(l.acquired)
	held, err := Hold(t.Context(), l, until(log, "metrics"))
	if err != nil {
		t.Fatal(err)
	}
	held.Stop()
	held.Stop() // again: nothing more
	if got := log.get(); len(got) != 2 {
		t.Errorf("events after Stop %q; want the lease released and metrics stopped", got)
	}
}

type fakeState struct {
	active  bool
	healthy error
}

func (s fakeState) Active() bool   { return s.active }
func (s fakeState) Healthy() error { return s.healthy }

func TestReadiness(t *testing.T) {
	since := time.Date(2026, 12, 6, 10, 0, 0, 0, time.FixedZone("", 3600))
	unreachable := errors.New("capture lease: source unreachable")
	notStarted := errors.New("not started")
	tests := []struct {
		name     string
		lease    fakeState
		retrying time.Time
		started  error
		want     string // "" for ready
	}{
		{name: "healthy standby", lease: fakeState{}, started: notStarted},
		{name: "standby cut off", lease: fakeState{healthy: unreachable}, want: unreachable.Error()},
		{name: "active, started", lease: fakeState{active: true}},
		{name: "active, not started", lease: fakeState{active: true}, started: notStarted, want: "not started"},
		{name: "active, reconnecting", lease: fakeState{active: true}, retrying: since, want: "reconnecting to the source since 2026-12-06T09:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Readiness(tt.lease, func() time.Time { return tt.retrying }, func() error { return tt.started })()
			if got := ""; err != nil {
				got = err.Error()
				if !strings.Contains(got, tt.want) || tt.want == "" {
					t.Errorf("Readiness() = %v; want %q", err, tt.want)
				}
			} else if tt.want != "" {
				t.Errorf("Readiness() = nil; want %q", tt.want)
			}
		})
	}
}
