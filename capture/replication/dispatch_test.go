package replication

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cdcflow/cdcflow/capture"
)

func TestDispatcherHandsEachChunkOnceInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newDispatcher()
		release := make(chan struct{})
		var got, handled [][]capture.Message
		h := func(_ context.Context, msgs []capture.Message) error {
			got = append(got, msgs)
			<-release
			return nil
		}
		var wg sync.WaitGroup
		wg.Go(func() { d.run(t.Context(), h, func(c []capture.Message) { handled = append(handled, c) }) })

		c1, c2, c3 := []capture.Message{&capture.Begin{}}, []capture.Message{&capture.Commit{}}, []capture.Message{&capture.Begin{}}
		if !d.offer(c1) {
			t.Fatal("offer to an idle handler failed")
		}
		synctest.Wait() // the handler took c1 and blocks
		if !d.idle() || !d.offer(c2) {
			t.Fatal("the channel does not hold one chunk while the handler is busy")
		}
		if d.idle() || d.offer(c3) {
			t.Fatal("offer succeeded with a chunk waiting and the handler busy")
		}
		start := time.Now()
		handed, err := d.wait(t.Context(), c3, start.Add(time.Second), nil)
		if handed || err != nil || time.Since(start) != time.Second {
			t.Fatalf("wait = %v, %v after %v; want not handed, no error, after 1s", handed, err, time.Since(start))
		}
		release <- struct{}{} // c1 done; the handler takes c2
		handed, err = d.wait(t.Context(), c3, time.Now().Add(time.Hour), nil)
		if !handed || err != nil {
			t.Fatalf("wait = %v, %v; want handed", handed, err)
		}
		release <- struct{}{}
		release <- struct{}{}
		synctest.Wait()
		d.close()
		wg.Wait()
		if len(got) != 3 || &got[0][0] != &c1[0] || &got[1][0] != &c2[0] || &got[2][0] != &c3[0] || len(handled) != 3 {
			t.Errorf("handler got %d chunks (%d handled); want c1, c2, c3 once each, in order", len(got), len(handled))
		}
	})
}

func TestDispatcherWaitWakesOnConfirm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newDispatcher()
		d.chunks <- nil // the channel is full: nobody runs the handler
		wake := make(chan struct{}, 1)
		wake <- struct{}{}
		start := time.Now()
		handed, err := d.wait(t.Context(), []capture.Message{&capture.Begin{}}, start.Add(time.Hour), wake)
		if handed || err != nil || time.Since(start) != 0 {
			t.Errorf("wait = %v, %v after %v; want a wake-up at once", handed, err, time.Since(start))
		}
	})
}

func TestDispatcherReportsTheHandlerError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newDispatcher()
		boom := errors.New("boom")
		calls := 0
		var wg sync.WaitGroup
		wg.Go(func() {
			d.run(t.Context(), func(context.Context, []capture.Message) error { calls++; return boom }, func([]capture.Message) {
				t.Error("a failed chunk was recorded as handled")
			})
		})
		if err := d.failed(); err != nil {
			t.Fatalf("failed() = %v before any chunk", err)
		}
		d.offer([]capture.Message{&capture.Begin{}})
		synctest.Wait()
		d.offer([]capture.Message{&capture.Begin{}}) // never handled: run returned
		_, err := d.wait(t.Context(), []capture.Message{&capture.Begin{}}, time.Now().Add(time.Hour), nil)
		if !errors.Is(err, boom) {
			t.Errorf("wait = %v; want the handler's error", err)
		}
		d.close()
		wg.Wait()
		if calls != 1 {
			t.Errorf("handler called %d times; want 1 (it stops at its error)", calls)
		}
	})
}
