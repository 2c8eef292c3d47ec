package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"

	"github.com/cdcflow/cdcflow/internal/kafkatx"
	"github.com/cdcflow/cdcflow/pipeline"
)

// Defaults of the exactly-once publisher.
const (
	// DefaultTxTimeout is the Kafka transaction timeout: the broker aborts a
	// transaction left open longer, and it bounds how long Start waits for
	// a previous incarnation's transaction to end.
	DefaultTxTimeout = 10 * time.Second
	// DefaultTxMaxBytes is the size at which a Publish is split into several
	// Kafka transactions.
	DefaultTxMaxBytes = 16 << 20
)

// CommitUnknownError reports a Kafka transaction whose commit may or may not
// have happened (the commit request failed or timed out). The only safe
// continuation is the restart path: a new TxPublisher whose Start fences this
// one and returns the position Kafka actually holds.
type CommitUnknownError struct {
	Err error
}

func (e *CommitUnknownError) Error() string {
	return fmt.Sprintf("kafka transaction commit outcome unknown (restart to recover the committed position): %v", e.Err)
}

func (e *CommitUnknownError) Unwrap() error { return e.Err }

// IsFenced reports whether err says that a TxPublisher's transaction was
// fenced: the broker aborted it (it stayed open longer than the transaction
// timeout) or another producer with the same transactional id started. Like
// every Publish error it ends the publisher; callers use it to explain the
// stop.
func IsFenced(err error) bool {
	return errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch)
}

// TxRecord is a record for TxPublisher.Publish with an optional cut.
type TxRecord struct {
	Record pipeline.Record
	// Cut, when not nil, is the source position reached once this record
	// and all before it are written: Publish may end a Kafka transaction
	// after this record and store Cut with it. The caller sets it at least
	// on the last record of every source transaction (there Cut is the
	// transaction's end position), and may set it at change boundaries
	// inside a large transaction (there Cut must identify the change, e.g.
	// its last event's position), so that such a transaction can be split.
	Cut []byte
}

// TxPublisher writes records exactly once with Kafka transactions: each
// Kafka transaction holds a run of records and, in the same transaction, a
// record in the position topic (key = the publisher's name, value = the
// last Cut of the run). A read_committed consumer therefore sees the records
// if and only if the position that covers them is stored, and a restart that
// skips everything up to the stored position produces no duplicate.
//
// Use: NewTx, then Start (fences the previous incarnation and returns the
// stored position), then Publish repeatedly from one goroutine, then Close.
// A TxPublisher is not safe for concurrent Publish calls.
type TxPublisher struct {
	cfg     Config
	name    string
	conn    []kgo.Opt
	cl      *kgo.Client
	adm     *kadm.Client
	route   *router
	log     *slog.Logger
	m       *Metrics
	timeout time.Duration
	max     int
	txm     *txMetrics
	now     func() time.Time
	// lost counts the failed connections to the brokers.
	lost *kafkatx.Watch
}

// ErrConnectionLost is wrapped by the error of a Kafka transaction that
// TxPublisher aborted instead of committing because a connection to the
// brokers failed (dial, write or read) while it was open.
var ErrConnectionLost = errors.New("connection to the kafka brokers lost during the transaction")

// txMetrics counts the Kafka transactions of a TxPublisher.
type txMetrics struct {
	txs     *prometheus.CounterVec
	latency prometheus.Histogram
}

func newTxMetrics(reg prometheus.Registerer) *txMetrics {
	f := promauto.With(reg)
	m := &txMetrics{
		txs: f.NewCounterVec(prometheus.CounterOpts{
			Name: "cdcflow_kafka_transactions_total",
			Help: "Kafka transactions of the exactly-once publisher, by outcome: committed, aborted, unknown (commit outcome unknown).",
		}, []string{"outcome"}),
		latency: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "cdcflow_kafka_transaction_seconds",
			Help:    "Time from beginning a Kafka transaction to its commit (exactly-once mode).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
	}
	for _, o := range []string{"committed", "aborted", "unknown"} {
		m.txs.WithLabelValues(o) // exported at 0 from the start, as Metrics' kinds are
	}
	return m
}

func (m *txMetrics) outcome(o string) {
	if m != nil {
		m.txs.WithLabelValues(o).Inc()
	}
}

// TxConfig adds the exactly-once settings to Config.
type TxConfig struct {
	Config
	// Name identifies the stream (cdcflow uses the slot name). The
	// transactional id is "cdcflow-" + Name and the position record's key is
	// Name. Required.
	Name string
	// Timeout is the Kafka transaction timeout. Default DefaultTxTimeout.
	Timeout time.Duration
	// MaxBytes splits a Publish into several transactions at cuts once a
	// transaction holds this many bytes. Default DefaultTxMaxBytes.
	MaxBytes int
	// BatchMaxBytes, when not nil, caps the record batch of each topic
	// (kgo.ProducerBatchMaxBytesFn), e.g. Publisher.BatchMaxBytes after
	// FitEvents; nil: Config.BatchMaxBytes for every topic.
	BatchMaxBytes func(topic string) int32
}

// NewTx builds a TxPublisher with a transactional *kgo.Client. It validates
// the configuration but does not contact the brokers. log and reg may be nil.
func NewTx(cfg TxConfig, log *slog.Logger, reg prometheus.Registerer) (*TxPublisher, error) {
	base, err := cfg.Config.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.Name == "" {
		return nil, errors.New("kafka config: exactly-once needs a name")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTxTimeout
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultTxMaxBytes
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "kafka", "transactional_id", "cdcflow-"+cfg.Name)
	conn, err := base.connOpts()
	if err != nil {
		return nil, fmt.Errorf("create kafka transactional publisher: %w", err)
	}
	c, _ := codec(base.Compression)
	opts := append(conn[:len(conn):len(conn)],
		// kgo logs every transaction's begin and end at info level.
		kgo.WithLogger(quietLogger{kslog.New(log)}),
		kgo.TransactionalID("cdcflow-"+cfg.Name),
		kgo.TransactionTimeout(cfg.Timeout),
		kgo.RecordPartitioner(partitioner{}),
		kgo.ProducerBatchCompression(c),
		kgo.ProducerLinger(base.Linger),
		kgo.ProducerBatchMaxBytes(base.BatchMaxBytes),
		kgo.MaxBufferedBytes(base.MaxBufferedBytes),
		kgo.ProduceRequestTimeout(base.RequestTimeout),
	)
	if cfg.BatchMaxBytes != nil {
		opts = append(opts, kgo.ProducerBatchMaxBytesFn(cfg.BatchMaxBytes))
	}
	lost := &kafkatx.Watch{}
	opts = append(opts, kgo.WithHooks(lost))
	var (
		m   *Metrics
		txm *txMetrics
	)
	if reg != nil {
		m = NewMetrics(reg)
		txm = newTxMetrics(reg)
		opts = append(opts, kgo.WithHooks(clientMetrics(reg)))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("create kafka client: %w", err)
	}
	adm := kadm.NewClient(cl)
	return &TxPublisher{
		cfg: base, name: cfg.Name, conn: conn, cl: cl, adm: adm,
		route: newRouter(base, adm), log: log, m: m,
		timeout: cfg.Timeout, max: cfg.MaxBytes, txm: txm, now: time.Now, lost: lost,
	}, nil
}

// Start prepares the publisher and returns the last position committed
// under its name (nil if none). It creates the position topic if missing,
// fences any previous incarnation (a producer with the same transactional
// id: the broker aborts its open transaction), waits — at most twice the
// transaction timeout — until DescribeTransactions shows no transaction in
// progress, and reads the position topic with read_committed to its end.
// The caller skips whatever the source resends up to that position.
func (t *TxPublisher) Start(ctx context.Context) ([]byte, error) {
	compact := "compact"
	if err := createMissing(ctx, t.adm, t.cfg, t.log, []string{t.cfg.PositionTopic}, 1, map[string]*string{"cleanup.policy": &compact}); err != nil {
		return nil, err
	}
	// Loading the producer id sends InitProducerID, which bumps the epoch
	// and fences the previous incarnation.
	if _, _, err := t.cl.ProducerID(ctx); err != nil {
		return nil, fmt.Errorf("fence previous producer: %w", err)
	}
	if err := kafkatx.AwaitNoTransaction(ctx, t.adm, "cdcflow-"+t.name, 2*t.timeout, t.log); err != nil {
		return nil, err
	}
	var pos []byte
	err := readToEnd(ctx, t.adm, t.conn, t.cfg.PositionTopic, func(r *kgo.Record) error {
		if string(r.Key) == t.name {
			pos = r.Value
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read position topic %q: %w", t.cfg.PositionTopic, err)
	}
	t.log.Info("exactly-once publisher started", "has_position", pos != nil)
	return pos, nil
}

// Publish writes recs and their positions in one or more Kafka transactions
// and returns the position stored by the last of them. The last record must
// carry a Cut. Once a transaction holds MaxBytes, it ends at the next cut,
// so a transaction larger than MaxBytes in the source is split at its
// change boundaries (where the caller put cuts) and each Kafka transaction
// stores the position of the last change it completes.
//
// Publish blocks until the last transaction is committed. On an error while
// producing, the open transaction is aborted and the error returned: what
// earlier transactions of the call committed stays (the stored position says
// how far). An error that leaves the commit's outcome unknown is a
// *CommitUnknownError: close this publisher and Start a new one.
//
// commitTime is the source commit time of the newest transaction in recs,
// for the commit-to-ack latency histogram (observed when the last Kafka
// transaction commits); zero means not measured.
func (t *TxPublisher) Publish(ctx context.Context, recs []TxRecord, commitTime time.Time) ([]byte, error) {
	if len(recs) == 0 {
		return nil, errors.New("publish transaction: no records")
	}
	if recs[len(recs)-1].Cut == nil {
		return nil, errors.New("publish transaction: the last record carries no position")
	}
	var (
		committed []byte
		start     int
		size      int
	)
	marks, err := t.route.endMarks(ctx, len(recs), func(i int) *pipeline.Record { return &recs[i].Record })
	if err != nil {
		return nil, fmt.Errorf("publish transaction: %w", err)
	}
	for i, r := range recs {
		size += len(r.Record.Key) + len(r.Record.Value)
		if r.Cut == nil || (size < t.max && i < len(recs)-1) {
			continue
		}
		var ms []endMark
		if marks != nil {
			ms = marks[start : i+1]
		}
		if err := t.commit(ctx, recs[start:i+1], ms); err != nil {
			return committed, err
		}
		committed = r.Cut
		start, size = i+1, 0
	}
	if t.m != nil && !commitTime.IsZero() {
		t.m.observeLatency(t.now().Sub(commitTime))
	}
	return committed, nil
}

// commit writes recs and the position of the last one in one transaction;
// marks, when not nil, are the records' end LSN marks (endlsn.go).
func (t *TxPublisher) commit(ctx context.Context, recs []TxRecord, marks []endMark) error {
	began := t.now()
	lost := t.lost.Failures()
	if err := t.cl.BeginTransaction(); err != nil {
		return fmt.Errorf("begin kafka transaction: %w", err)
	}
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	produce := func(kr *kgo.Record, ar ackedRecord) {
		wg.Add(1)
		t.m.produced(1, ar.bytes)
		t.cl.Produce(ctx, kr, func(kr *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("produce to %s: %w", kr.Topic, wrapRecordErr(kr, err))
				}
				mu.Unlock()
			}
			t.m.ackedRec(ar, err)
			wg.Done()
		})
	}
	for ri, r := range recs {
		rec := r.Record
		var deadKind string
		if rec.DeadLetter {
			// As the at-least-once publisher does: the reason in a header.
			var reason string
			reason, deadKind = deadLetterReason(rec)
			rec.Headers = append(rec.Headers[:len(rec.Headers):len(rec.Headers)], pipeline.Header{Key: HeaderReason, Value: []byte(reason)})
		}
		krs, err := t.route.records(ctx, rec, nil)
		if err != nil {
			wg.Wait()
			return t.abort(ctx, err)
		}
		if marks != nil {
			t.route.applyMark(rec, krs, marks[ri])
		}
		typ := rec.Type
		if typ == "" {
			typ = "unknown"
		}
		for i, kr := range krs {
			produce(kr, ackedRecord{topic: kr.Topic, typ: typ, bytes: recordBytes(kr), first: i == 0, deadLetter: deadKind})
		}
	}
	pos := &kgo.Record{Topic: t.cfg.PositionTopic, Partition: 0, Key: []byte(t.name), Value: recs[len(recs)-1].Cut}
	produce(pos, ackedRecord{topic: pos.Topic, typ: "cdcflow.Position", bytes: recordBytes(pos), first: true})
	wg.Wait()
	if firstErr != nil {
		return t.abort(ctx, firstErr)
	}
	// A broker that went away while the transaction was open may have
	// aborted it meanwhile (its timeout ran out) without fencing this
	// producer: kfake, restarted after its transaction timeout, aborts it
	// at the same producer epoch, and the records the client then retries
	// are acknowledged as duplicates of aborted ones, so a commit would
	// succeed and leave them invisible to read_committed. Whether that
	// happened cannot be told from here, so the transaction is aborted
	// and the caller stops; the next start resumes from the stored
	// position and writes these records again.
	if n := t.lost.Failures(); n != lost {
		return t.abort(ctx, fmt.Errorf("%w (%d times): aborted rather than committed, as the broker may have aborted it", ErrConnectionLost, n-lost))
	}
	if err := t.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.txm.outcome("unknown")
		return &CommitUnknownError{Err: err}
	}
	t.txm.outcome("committed")
	if t.txm != nil {
		t.txm.latency.Observe(t.now().Sub(began).Seconds())
	}
	return nil
}

// abort ends the open transaction without committing and returns cause.
func (t *TxPublisher) abort(ctx context.Context, cause error) error {
	t.txm.outcome("aborted")
	if err := t.cl.AbortBufferedRecords(ctx); err != nil {
		return errors.Join(cause, fmt.Errorf("abort buffered records: %w", err))
	}
	if err := t.cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		return errors.Join(cause, fmt.Errorf("abort kafka transaction: %w", err))
	}
	return cause
}

// quietLogger passes on the client's warnings and errors only.
type quietLogger struct{ kgo.Logger }

func (l quietLogger) Level() kgo.LogLevel { return min(l.Logger.Level(), kgo.LogLevelWarn) }

// clientLogger passes on the client's log lines with its INFO lines (metadata
// updates, producer ids, the client metrics subscription: routine) at DEBUG,
// so that a run's log at INFO says what cdcflow does, not what franz-go does.
type clientLogger struct{ kgo.Logger }

func (l clientLogger) Level() kgo.LogLevel {
	if lvl := l.Logger.Level(); lvl != kgo.LogLevelInfo {
		return lvl
	}
	return kgo.LogLevelWarn
}

func (l clientLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	if level == kgo.LogLevelInfo {
		level = kgo.LogLevelDebug
	}
	l.Logger.Log(level, msg, keyvals...)
}

// MaxBytes returns how many bytes of records one Kafka transaction holds
// before Publish ends it at the next cut (TxConfig.MaxBytes or its default).
func (t *TxPublisher) MaxBytes() int { return t.max }

// Close closes the client. A transaction left open (after an error) is
// aborted by the broker when it times out or when the next incarnation
// starts.
func (t *TxPublisher) Close() {
	t.cl.Close()
}
