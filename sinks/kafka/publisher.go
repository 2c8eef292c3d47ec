package kafka

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"

	"github.com/cdcflow/cdcflow/pipeline"
)

// Batch is the unit of acknowledgement of Publish: its records are
// acknowledged together, after every one of them is durable in Kafka.
type Batch struct {
	// Records are written in order; records with the same topic and key
	// keep that order in the topic.
	Records []pipeline.Record
	// CommitTime is the source commit time of the newest transaction in the
	// batch, for the commit-to-ack latency histogram. Zero: not measured.
	CommitTime time.Time
	// Cursors, when not nil, holds the cursor of each record (parallel to
	// Records), written in the HeaderCursor header; with Resume, a record
	// whose partition already holds it is dropped (counted as
	// acknowledged). nil: no header, nothing dropped.
	Cursors []Cursor
	// Stream identifies the stream the cursors belong to (StreamID).
	Stream uint32
}

// Publisher writes records to Kafka asynchronously: several batches may be
// in flight at once, and their acknowledgements are reported strictly in the
// order Publish was called, so a later batch's acknowledgement never arrives
// before an earlier one's. The client is idempotent with acks=all, so a
// retried produce request never duplicates or reorders records within a
// partition.
//
// Publisher's methods are safe for concurrent use, but batches published
// from several goroutines are ordered only by the calls' own order. Create
// one with New and release it with Close.
type Publisher struct {
	cfg  Config
	conn []kgo.Opt
	cl   *kgo.Client
	adm  *kadm.Client
	log  *slog.Logger
	m    *Metrics
	now  func() time.Time

	route  *router
	limits *batchLimits
	// held is, after Resume, the cursor of the last record of each
	// partition that held one; read-only afterwards.
	held map[string]map[int32]held

	ackMu      sync.Mutex
	acks       []*pending    // batches in call order, not yet reported
	delivering bool          // a goroutine is reporting acks from acks
	reported   chan struct{} // closed and replaced each time acks becomes empty
	closed     bool
}

// pending is one published batch waiting for its records' acknowledgements.
type pending struct {
	onAck      func(error)
	commitTime time.Time
	remaining  atomic.Int64 // records not yet acknowledged, plus one while Publish is producing

	mu   sync.Mutex
	err  error // the first record error
	done bool  // guarded by Publisher.ackMu
}

func (b *pending) fail(err error) {
	b.mu.Lock()
	if b.err == nil {
		b.err = err
	}
	b.mu.Unlock()
}

// New builds a Publisher with its own *kgo.Client (idempotent, acks=all,
// kprom metrics under cdcflow_kafka_client_*, logging through kslog). It
// validates cfg but does not contact the brokers. log may be nil (discard);
// reg may be nil (no metrics).
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Publisher, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "kafka")
	conn, err := cfg.connOpts()
	if err != nil {
		return nil, fmt.Errorf("create kafka publisher: %w", err)
	}
	c, _ := codec(cfg.Compression)
	var m *Metrics
	if reg != nil {
		m = NewMetrics(reg)
	}
	limits := &batchLimits{max: cfg.BatchMaxBytes}
	opts := append(conn[:len(conn):len(conn)],
		kgo.WithLogger(clientLogger{kslog.New(log)}),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(partitioner{}),
		kgo.ProducerBatchCompression(c),
		kgo.ProducerLinger(cfg.Linger),
		kgo.ProducerBatchMaxBytesFn(limits.batchBytes),
		kgo.MaxBufferedBytes(cfg.MaxBufferedBytes),
		kgo.ProduceRequestTimeout(cfg.RequestTimeout),
		kgo.RetryBackoffFn(retryBackoff(m)),
	)
	if reg != nil {
		opts = append(opts, kgo.WithHooks(clientMetrics(reg)))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("create kafka client: %w", err)
	}
	return &Publisher{
		cfg:      cfg,
		conn:     conn,
		cl:       cl,
		adm:      kadm.NewClient(cl),
		log:      log,
		m:        m,
		now:      time.Now,
		route:    newRouter(cfg, kadm.NewClient(cl)),
		limits:   limits,
		reported: make(chan struct{}),
	}, nil
}

// Publish produces the records of b and calls onAck once, with nil when all
// of them are durable in Kafka or with the first error. onAck calls are made
// in Publish call order, one at a time, from a client goroutine: onAck must
// be quick (mark a watermark ticket done) and must not call Publish, Flush
// or Close.
//
// Publish blocks only while the client's buffer (MaxBufferedBytes) is full;
// a ctx done while blocked fails the batch with ctx's error. Records marked
// AllPartitions are written once to every partition of their topic; records
// marked DeadLetter go to the dead-letter topic, with their original topic
// in the header "cdcflow-topic".
//
// After an error the stream is broken: later batches may have reached Kafka
// while this one did not. The caller stops, and restarts from its last
// acknowledged position (at-least-once; record ids are deterministic, so
// readers recognise the duplicates).
func (p *Publisher) Publish(ctx context.Context, b Batch, onAck func(error)) {
	pb := &pending{onAck: onAck, commitTime: b.CommitTime}
	pb.remaining.Store(1) // released at the end of Publish
	p.ackMu.Lock()
	closed := p.closed
	p.acks = append(p.acks, pb)
	p.ackMu.Unlock()
	if closed {
		pb.fail(ErrClosed)
		p.finish(pb)
		return
	}
	var hdr []byte // the cursor headers of the batch, in one allocation
	if b.Cursors != nil {
		hdr = make([]byte, 0, len(b.Cursors)*cursorHeaderLen)
	}
	marks, err := p.route.endMarks(ctx, len(b.Records), func(i int) *pipeline.Record { return &b.Records[i] })
	if err != nil {
		pb.fail(err)
		b.Records = nil // nothing produced
	}
	for i, r := range b.Records {
		var cur *stamp
		if b.Cursors != nil {
			start := len(hdr)
			hdr = appendCursor(hdr, b.Stream, b.Cursors[i])
			cur = &stamp{stream: b.Stream, cursor: b.Cursors[i], header: hdr[start:len(hdr):len(hdr)]}
		}
		mark := endMark{part: -1}
		if marks != nil {
			mark = marks[i]
		}
		if err := p.produce(ctx, pb, r, cur, mark); err != nil {
			pb.fail(err)
			break
		}
	}
	if pb.remaining.Add(-1) == 0 {
		p.finish(pb)
	}
}

// stamp is a record's cursor and its header value.
type stamp struct {
	stream uint32
	cursor Cursor
	header []byte
}

// produce hands the kgo record(s) for r to the client, except those whose
// partition already holds them (cur, after Resume).
func (p *Publisher) produce(ctx context.Context, pb *pending, r pipeline.Record, cur *stamp, mark endMark) error {
	var deadKind string
	if r.DeadLetter {
		var reason string
		reason, deadKind = deadLetterReason(r)
		if reason != "" && !slices.ContainsFunc(r.Headers, func(h pipeline.Header) bool { return h.Key == HeaderReason }) {
			r.Headers = append(r.Headers[:len(r.Headers):len(r.Headers)], pipeline.Header{Key: HeaderReason, Value: []byte(reason)})
		}
	}
	var extra []kgo.RecordHeader
	if cur != nil {
		extra = []kgo.RecordHeader{{Key: HeaderCursor, Value: cur.header}}
	}
	krs, err := p.route.records(ctx, r, extra)
	if err != nil {
		return err
	}
	p.route.applyMark(r, krs, mark)
	if cur != nil && p.held != nil {
		if krs, err = p.dropHeld(ctx, krs, cur); err != nil {
			return err
		}
	}
	typ := r.Type
	if typ == "" {
		typ = "unknown"
	}
	for i, kr := range krs {
		ar := ackedRecord{topic: kr.Topic, typ: typ, bytes: recordBytes(kr), first: i == 0, deadLetter: deadKind}
		pb.remaining.Add(1)
		p.m.produced(1, ar.bytes)
		p.cl.Produce(ctx, kr, func(kr *kgo.Record, err error) {
			if err != nil {
				err = wrapRecordErr(kr, err)
				if !namesTopic(err) {
					err = fmt.Errorf("produce to %s: %w", kr.Topic, err)
				}
				pb.fail(err)
			}
			p.m.ackedRec(ar, err)
			if pb.remaining.Add(-1) == 0 {
				p.finish(pb)
			}
		})
	}
	return nil
}

// dropHeld returns krs without the records whose partition already holds
// them, counting those in the metrics. It sets the partition of a hashed
// record, as the partitioner would, to find it.
func (p *Publisher) dropHeld(ctx context.Context, krs []*kgo.Record, cur *stamp) ([]*kgo.Record, error) {
	out := krs[:0]
	for _, kr := range krs {
		if p.held[kr.Topic] == nil {
			out = append(out, kr)
			continue
		}
		if kr.Partition < 0 {
			part, err := p.route.partition(ctx, kr)
			if err != nil {
				return nil, err
			}
			kr.Partition = part
		}
		if p.holds(kr.Topic, kr.Partition, cur.stream, cur.cursor) {
			p.m.skipped()
			continue
		}
		out = append(out, kr)
	}
	return out, nil
}

// HeaderReason is the header of dead-letter records that carries the reason
// the pipeline gave (at most 1 KiB of it; the whole reason is in the data).
const HeaderReason = "cdcflow-reason"

// deadLetterReason returns the reason of a dead-letter record, from its
// CloudEvents data ("" when it has none), and its kind for the metrics:
// "oversized" for a dead letter by reference (some of it was left out),
// else "unmappable". Dead letters are rare, so decoding them costs nothing
// that matters.
func deadLetterReason(r pipeline.Record) (reason, kind string) {
	kind = "unmappable"
	ev, err := pipeline.DecodeRecord(r)
	if err != nil {
		return "", kind
	}
	var dl pipeline.DeadLetter
	if err := json.Unmarshal(ev.Data, &dl); err != nil {
		return "", kind
	}
	if len(dl.Omitted) > 0 {
		kind = "oversized"
	}
	const maxReason = 1 << 10
	if len(dl.Reason) > maxReason {
		dl.Reason = strings.ToValidUTF8(dl.Reason[:maxReason], "") + "…"
	}
	return dl.Reason, kind
}

// retryBackoff is kgo's default retry backoff (exponential from 250 ms to
// 5 s, ±20% jitter) counting each backoff in m.
func retryBackoff(m *Metrics) func(int) time.Duration {
	return func(fails int) time.Duration {
		m.retried()
		const lo, hi = 250 * time.Millisecond, 5 * time.Second
		d := hi
		if fails <= 0 {
			d = lo
		} else if fails <= 5 {
			d = lo << (fails - 1)
		}
		return min(time.Duration(float64(d)*(0.8+0.4*rand.Float64())), hi)
	}
}

// finish marks pb acknowledged and reports, in call order, every batch at
// the head of the list that is acknowledged. One goroutine at a time
// reports; others only mark their batch, which the reporter then sees.
func (p *Publisher) finish(pb *pending) {
	p.ackMu.Lock()
	pb.done = true
	if p.delivering {
		p.ackMu.Unlock()
		return
	}
	p.delivering = true
	for len(p.acks) > 0 && p.acks[0].done {
		h := p.acks[0]
		p.acks[0] = nil
		p.acks = p.acks[1:]
		p.ackMu.Unlock()
		h.mu.Lock()
		err := h.err
		h.mu.Unlock()
		if err == nil && !h.commitTime.IsZero() {
			p.m.observeLatency(p.now().Sub(h.commitTime))
		}
		if h.onAck != nil {
			h.onAck(err)
		}
		p.ackMu.Lock()
	}
	p.delivering = false
	if len(p.acks) == 0 {
		close(p.reported)
		p.reported = make(chan struct{})
	}
	p.ackMu.Unlock()
}

// Flush blocks until no batch is pending: every batch published is
// reported, its records acknowledged or failed and its onAck returned.
// Meant for shutdown, after the last Publish; with Publish still being
// called concurrently it waits for a moment with nothing in flight. It
// returns ctx's error if ctx is done first.
func (p *Publisher) Flush(ctx context.Context) error {
	if err := p.cl.Flush(ctx); err != nil {
		return fmt.Errorf("flush kafka producer: %w", err)
	}
	for {
		p.ackMu.Lock()
		if len(p.acks) == 0 && !p.delivering {
			p.ackMu.Unlock()
			return nil
		}
		wait := p.reported
		p.ackMu.Unlock()
		select {
		case <-ctx.Done():
			return fmt.Errorf("flush kafka producer: %w", context.Cause(ctx))
		case <-wait:
		}
	}
}

// Close closes the client. Batches still in flight are failed (their onAck
// gets an error; call Flush first to let them finish) and later Publish
// calls fail with ErrClosed. Close blocks until the client has stopped.
func (p *Publisher) Close() {
	p.ackMu.Lock()
	p.closed = true
	p.ackMu.Unlock()
	p.cl.Close()
}
