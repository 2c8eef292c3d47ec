package replication

import (
	"context"
	"time"

	"github.com/cdcflow/cdcflow/capture"
)

// dispatcher hands chunks to the handler, which runs on a goroutine of its
// own (run), fed through a channel holding one chunk. While the handler is
// busy and the channel full, the streaming loop stops reading the socket (so
// the server's send buffer fills and WAL stays in PostgreSQL, not in memory)
// but keeps sending status updates on time. Memory is bounded by about three
// chunks: the one being handled, the one in the channel, the one the loop
// holds. Each chunk goes to the handler once.
type dispatcher struct {
	chunks chan []capture.Message
	errs   chan error    // the handler's error; then run has returned
	stop   chan struct{} // closed when the session ends
}

func newDispatcher() *dispatcher {
	return &dispatcher{
		chunks: make(chan []capture.Message, 1),
		errs:   make(chan error, 1),
		stop:   make(chan struct{}),
	}
}

// run calls h with each chunk in turn, and handled after h returned from it,
// until close or an error from h. It is the dispatcher's goroutine; a call of
// h in progress when close comes is finished first.
func (d *dispatcher) run(ctx context.Context, h capture.Handler, handled func([]capture.Message)) {
	for {
		select {
		case <-d.stop:
			return
		default:
		}
		select {
		case <-d.stop:
			return
		case c := <-d.chunks:
			if err := h(ctx, c); err != nil {
				d.errs <- err
				return
			}
			handled(c)
		}
	}
}

// close makes run return once the handler call in progress has.
func (d *dispatcher) close() { close(d.stop) }

// idle reports whether a chunk handed on now would be taken at once.
func (d *dispatcher) idle() bool { return len(d.chunks) < cap(d.chunks) }

// failed returns the handler's error, if it failed.
func (d *dispatcher) failed() error {
	select {
	case err := <-d.errs:
		return err
	default:
		return nil
	}
}

// offer hands c on if the handler can take it at once.
func (d *dispatcher) offer(c []capture.Message) bool {
	select {
	case d.chunks <- c:
		return true
	default:
		return false
	}
}

// wait hands c on, waiting until the handler takes it, fails, wake fires,
// until passes or ctx is done, whichever comes first. It reports whether c
// was handed on.
func (d *dispatcher) wait(ctx context.Context, c []capture.Message, until time.Time, wake <-chan struct{}) (bool, error) {
	t := time.NewTimer(max(time.Until(until), 0))
	defer t.Stop()
	select {
	case d.chunks <- c:
		return true, nil
	case err := <-d.errs:
		return false, err
	case <-wake:
	case <-t.C:
	case <-ctx.Done():
	}
	return false, nil
}
