package flow

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/cdcflow/cdcflow/capture"
)

// DefaultMaxMapBytes is the default of Config.MaxMapBytes.
const DefaultMaxMapBytes = 16 << 20

// mapBudget bounds the estimated bytes of the chunks in the mapping stage:
// capture's handler takes a chunk's share before handing it to a worker,
// and the sequencer gives it back once the chunk is queued. It has one
// taker (the handler) and one giver (the sequencer).
type mapBudget struct {
	max   int64
	mu    sync.Mutex
	used  int64
	freed chan struct{} // capacity 1: a give since the taker last looked
}

func newMapBudget(max int64) *mapBudget {
	return &mapBudget{max: max, freed: make(chan struct{}, 1)}
}

// take waits until n bytes fit, or nothing is held (so a chunk larger than
// the whole budget still passes, alone), or ctx is done.
func (b *mapBudget) take(ctx context.Context, n int64) error {
	for {
		b.mu.Lock()
		if b.used == 0 || b.used+n <= b.max {
			b.used += n
			b.mu.Unlock()
			return nil
		}
		b.mu.Unlock()
		select {
		case <-b.freed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// give returns n bytes.
func (b *mapBudget) give(n int64) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
	select {
	case b.freed <- struct{}{}:
	default:
	}
}

// Estimated sizes: what a decoded message holds in memory, roughly, so that
// wide rows (long texts, jsonb, arrays, the old row under REPLICA IDENTITY
// FULL) count for what they are and narrow ones for little.
const (
	messageOverhead = 128 // a message's struct and its slot in the chunk
	valueOverhead   = 24  // a capture.Value
	boxedOverhead   = 16  // a value's boxed data (an int64, a time, a header)
	// encodedOverhead is a deferred value's capture.Encoded (pgoutput's
	// is 16 bytes), its text's framing in the tuple's bytes, which the
	// values share, and its share of the tuple's header.
	encodedOverhead = 24
)

// chunkBytes estimates the memory msgs hold.
func chunkBytes(msgs []capture.Message) int64 {
	n := int64(0)
	for _, m := range msgs {
		n += messageOverhead
		if c, ok := m.(*capture.Change); ok {
			n += valuesBytes(c.Old) + valuesBytes(c.New)
		}
	}
	return n
}

func valuesBytes(vs []capture.Value) int64 {
	n := int64(len(vs)) * valueOverhead
	for _, v := range vs {
		switch v.Kind {
		case capture.KindValue:
			n += dataBytes(v.Data)
		case capture.KindEncoded:
			if e, ok := v.Data.(capture.Encoded); ok {
				n += encodedOverhead + int64(e.Len())
			}
		}
	}
	return n
}

func dataBytes(d any) int64 {
	switch d := d.(type) {
	case string:
		return boxedOverhead + int64(len(d))
	case capture.Numeric:
		return boxedOverhead + int64(len(d))
	case json.RawMessage:
		return boxedOverhead + int64(len(d))
	case []byte:
		return boxedOverhead + int64(len(d))
	case []any:
		n := int64(boxedOverhead + 16*len(d))
		for _, e := range d {
			if e != nil {
				n += dataBytes(e)
			}
		}
		return n
	}
	return boxedOverhead
}
