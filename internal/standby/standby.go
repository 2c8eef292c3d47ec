// Package standby runs a process's main job under the capture lease: any
// number of instances may run with one configuration; the one holding the
// lease runs the job, the others stand by (ready, their metrics served)
// until they take it. cmd builds the lease and the parts; this package
// owns the order in which they start and stop.
//
// It imports no project package: the lease is anything with the methods
// of capture/replication's Lease that it uses. Every goroutine it starts
// returns before Hold's error, Held.Run or Held.Stop returns.
package standby

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"
)

// lease is what Hold needs of replication.Lease.
type lease interface {
	// Run holds or waits for the lease until ctx is done.
	Run(ctx context.Context) error
	// Acquired is closed once the lease is held.
	Acquired() <-chan struct{}
}

// Held is the capture lease held, with what runs beside it; Hold returns
// it. Its methods are called from one goroutine.
type Held struct {
	g       *errgroup.Group
	gctx    context.Context
	cancel  context.CancelFunc
	release context.CancelFunc
}

// Hold runs the lease l and beside (the metrics server: it runs standing
// by too), each until ctx is done, and blocks until the lease is held. It
// returns the first error of the lease or of beside while standing by, or
// ctx's error when ctx ended first (a nil Held always comes with an error);
// then everything it started has returned. Once Hold has returned a Held, the caller builds the job and
// either runs it with Held.Run or, when building fails, calls Held.Stop.
func Hold(ctx context.Context, l lease, beside ...func(ctx context.Context) error) (*Held, error) {
	ctx, cancel := context.WithCancel(ctx)
	g, gctx := errgroup.WithContext(ctx)
	// The lease is freed only once the job has stopped (its last commit
	// and confirmation), so that a standby's fence does not cut them off.
	lctx, release := context.WithCancel(context.WithoutCancel(ctx))
	h := &Held{g: g, gctx: gctx, cancel: cancel, release: release}
	g.Go(func() error {
		if err := l.Run(lctx); lctx.Err() == nil {
			return err
		}
		return nil
	})
	for _, f := range beside {
		g.Go(func() error { return f(gctx) })
	}
	select {
	case <-l.Acquired():
		return h, nil
	case <-gctx.Done():
		release()
		err := g.Wait()
		h.Stop()
		if err != nil {
			return nil, err
		}
		return nil, ctx.Err()
	}
}

// Run runs job beside the lease and each of also (the materializer, the
// CEP rules, the status line), until the context Hold was given is done or
// one of them fails; an error from one stops the others. The lease is
// released when job returns, and the process stops being the active
// instance. Run blocks until every goroutine Hold and Run started has
// returned, and returns the first error.
func (h *Held) Run(job func(ctx context.Context) error, also ...func(ctx context.Context) error) error {
	h.g.Go(func() error {
		defer h.release()
		return job(h.gctx)
	})
	for _, f := range also {
		h.g.Go(func() error { return f(h.gctx) })
	}
	err := h.g.Wait()
	h.Stop()
	return err
}

// Stop stops the lease and what runs beside it, and waits for them: for
// when building the job failed after Hold. Calling it again, or after Run,
// does nothing more.
func (h *Held) Stop() {
	h.cancel()
	h.release()
	_ = h.g.Wait()
}

// state is what Readiness needs of replication.Lease.
type state interface {
	// Active reports whether this instance holds the lease.
	Active() bool
	// Healthy returns nil while the lease's database is reachable.
	Healthy() error
}

// Readiness returns the /readyz check of an instance under the lease l. A
// healthy standby is ready: readiness that meant "active" would stall
// rolling updates and disruption budgets; one that cannot reach the source
// is not. The active instance is not ready while retryingSince (the
// Reader's RetryingSince) says it reconnects to the source, and otherwise
// as started says.
func Readiness(l state, retryingSince func() time.Time, started func() error) func() error {
	return func() error {
		if !l.Active() {
			return l.Healthy()
		}
		if since := retryingSince(); !since.IsZero() {
			return fmt.Errorf("reconnecting to the source since %s", since.UTC().Format(time.RFC3339))
		}
		return started()
	}
}
