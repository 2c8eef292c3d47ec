package kafka

import (
	"context"
	"fmt"
	"hash/fnv"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Resuming without repeats (at-least-once mode)
//
// A restart resumes capture at the slot's confirmed position, which can lie
// behind what Kafka already holds: the last acknowledgements of a clean stop
// may not have reached the slot, and PostgreSQL before 17 does not write a
// logical slot's confirmed position at its shutdown checkpoint unless the slot
// is dirty. The records re-sent from there would repeat.
//
// So every record carries its cursor (HeaderCursor): its place in the
// stream of records the flow emits, which is the same whenever the same WAL
// is mapped with the same mapping. Records of one partition are produced in
// cursor order, and the idempotent client fails every later batch of a
// partition when one fails, so a partition always holds a prefix of the
// records meant for it. Resume reads the last record of every partition;
// Publish then drops a record only when its own partition already holds a
// record of the same stream at or after its cursor. One maximum over all
// partitions would drop records that a crash left unacknowledged in other
// partitions.

// HeaderCursor is the record header that carries a record's cursor and
// stream, as "<LSN:%016X>-<N:%08X>/<stream:%08x>", with '+' in place of '-'
// when the record closes a snapshot epoch (Cursor.ClosesEpoch).
const HeaderCursor = "cdcflow-cursor"

// Cursor is a record's place in the stream of records a flow emits: the N-th
// record (from 1) of the unit at LSN, where a unit is a source transaction
// (its commit LSN) or a snapshot epoch (its consistent point - 1). Cursors
// order the records of one stream.
type Cursor struct {
	LSN uint64
	N   uint32
	// ClosesEpoch marks the snapshot epoch's end marker, the last record
	// of its unit in every partition (see Publisher.EpochClosed). It takes
	// no part in the order.
	ClosesEpoch bool
}

// Less reports whether c comes before o.
func (c Cursor) Less(o Cursor) bool {
	if c.LSN != o.LSN {
		return c.LSN < o.LSN
	}
	return c.N < o.N
}

// StreamID identifies a stream of records for Batch.Stream: records of
// different sources (a restore or a promoted standby may reuse LSNs) or
// mapped with different mappings (the record counts of a unit differ) have
// different cursors for the same place, and are never compared.
func StreamID(source, mappingDigest string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(source))
	h.Write([]byte{0})
	h.Write([]byte(mappingDigest))
	return h.Sum32()
}

const cursorHeaderLen = 16 + 1 + 8 + 1 + 8

// appendCursor appends the header value of c in stream to dst.
func appendCursor(dst []byte, stream uint32, c Cursor) []byte {
	const digits = "0123456789ABCDEF"
	for i := 60; i >= 0; i -= 4 {
		dst = append(dst, digits[c.LSN>>uint(i)&0xF])
	}
	sep := byte('-')
	if c.ClosesEpoch {
		sep = '+'
	}
	dst = append(dst, sep)
	for i := 28; i >= 0; i -= 4 {
		dst = append(dst, digits[c.N>>uint(i)&0xF])
	}
	dst = append(dst, '/')
	const lower = "0123456789abcdef"
	for i := 28; i >= 0; i -= 4 {
		dst = append(dst, lower[stream>>uint(i)&0xF])
	}
	return dst
}

// parseCursor parses a HeaderCursor value.
func parseCursor(b []byte) (stream uint32, c Cursor, ok bool) {
	if len(b) != cursorHeaderLen || b[16] != '-' && b[16] != '+' || b[25] != '/' {
		return 0, Cursor{}, false
	}
	lsn, err1 := strconv.ParseUint(string(b[:16]), 16, 64)
	n, err2 := strconv.ParseUint(string(b[17:25]), 16, 32)
	s, err3 := strconv.ParseUint(string(b[26:]), 16, 32)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, Cursor{}, false
	}
	return uint32(s), Cursor{LSN: lsn, N: uint32(n), ClosesEpoch: b[16] == '+'}, true
}

// held is the cursor of the last record a partition holds.
type held = LastRecord

// resumeWindow is how many records before a partition's end Resume reads
// to find the last one that carries a cursor (the very last may be a
// transaction marker left by an exactly-once run).
const resumeWindow = 16

// Resume reads the cursor of the last record of every partition of topics
// and of the dead-letter topic, so that Publish drops the records a partition
// already holds (see HeaderCursor). Call it once, after EnsureTopics and
// before the first Publish; without it nothing is dropped. A partition whose
// last records carry no cursor (written by another producer or an older
// cdcflow) drops nothing. It returns how many partitions hold a cursor.
func (p *Publisher) Resume(ctx context.Context, topics []string) (int, error) {
	topics = append(topics[:len(topics):len(topics)], p.cfg.DeadLetterTopic)
	ends, err := p.adm.ListCommittedOffsets(fresh(ctx), topics...)
	if err != nil {
		return 0, fmt.Errorf("resume: list end offsets: %w", err)
	}
	firsts, err := p.adm.ListStartOffsets(fresh(ctx), topics...)
	if err != nil {
		return 0, fmt.Errorf("resume: list start offsets: %w", err)
	}
	starts := make(map[string]map[int32]kgo.Offset)
	last := make(map[string]map[int32]int64)
	var lerr error
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			lerr = fmt.Errorf("resume: end offset of %s/%d: %w", o.Topic, o.Partition, o.Err)
			return
		}
		// A partition with no record left (never written, or emptied by
		// retention) holds nothing to skip.
		if first, ok := firsts.Lookup(o.Topic, o.Partition); o.Offset <= 0 || ok && first.Err == nil && first.Offset >= o.Offset {
			return
		}
		if starts[o.Topic] == nil {
			starts[o.Topic], last[o.Topic] = make(map[int32]kgo.Offset), make(map[int32]int64)
		}
		starts[o.Topic][o.Partition] = kgo.NewOffset().At(max(0, o.Offset-resumeWindow))
		last[o.Topic][o.Partition] = o.Offset - 1
	})
	if lerr != nil {
		return 0, lerr
	}
	holds := make(map[string]map[int32]held)
	if len(starts) > 0 {
		if holds, err = readLast(ctx, p.conn, starts, last); err != nil {
			return 0, fmt.Errorf("resume: %w", err)
		}
	}
	n := 0
	for _, parts := range holds {
		n += len(parts)
	}
	p.held = holds
	return n, nil
}

// readLast reads each partition of starts from its start offset to its last
// offset and returns the last record that carries a cursor, with a client
// of its own connected with conn.
func readLast(ctx context.Context, conn []kgo.Opt, starts map[string]map[int32]kgo.Offset, last map[string]map[int32]int64) (map[string]map[int32]LastRecord, error) {
	opts := append(conn[:len(conn):len(conn)],
		kgo.ConsumePartitions(starts),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("create reader: %w", err)
	}
	defer cl.Close()
	holds := make(map[string]map[int32]held)
	remaining := 0
	for _, parts := range last {
		remaining += len(parts)
	}
	for remaining > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var ferr error
		fs.EachError(func(t string, part int32, err error) {
			if ferr == nil {
				ferr = fmt.Errorf("fetch %s/%d: %w", t, part, err)
			}
		})
		if ferr != nil {
			return nil, ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := last[r.Topic][r.Partition]
			if !ok || r.Offset > end {
				return
			}
			if !r.Attrs.IsControl() {
				for _, h := range r.Headers {
					if h.Key != HeaderCursor {
						continue
					}
					if s, c, ok := parseCursor(h.Value); ok {
						if holds[r.Topic] == nil {
							holds[r.Topic] = make(map[int32]held)
						}
						holds[r.Topic][r.Partition] = LastRecord{Offset: r.Offset, Stream: s, Cursor: c, Time: r.Timestamp}
					}
				}
			}
			if r.Offset == end {
				remaining--
			}
		})
	}
	return holds, nil
}

// holds reports whether partition part of topic already holds the record of
// stream at c.
func (p *Publisher) holds(topic string, part int32, stream uint32, c Cursor) bool {
	h, ok := p.held[topic][part]
	return ok && h.Stream == stream && !h.Cursor.Less(c)
}

// EpochClosed reports whether, after Resume, every partition of topics holds
// the end of the snapshot epoch whose records have the unit lsn, in stream:
// a record of a later unit, or the epoch's end marker. Every partition gets
// the end marker, after the epoch's rows and before anything later, so this
// says the whole snapshot is durable in Kafka. It must not be called before
// Resume returned, nor concurrently with it.
func (p *Publisher) EpochClosed(ctx context.Context, topics []string, stream uint32, lsn uint64) (bool, error) {
	for _, t := range topics {
		n, err := p.route.partitionCount(ctx, t)
		if err != nil {
			return false, err
		}
		for part := range n {
			h, ok := p.held[t][part]
			if !ok || h.Stream != stream || h.Cursor.LSN < lsn || h.Cursor.LSN == lsn && !h.Cursor.ClosesEpoch {
				return false, nil
			}
		}
	}
	return true, nil
}
