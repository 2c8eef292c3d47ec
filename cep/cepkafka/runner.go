package cepkafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/backpressure"
	"github.com/cdcflow/cdcflow/cep"
	"github.com/cdcflow/cdcflow/internal/kafkatx"
	"github.com/cdcflow/cdcflow/pipeline"
)

// Defaults of Config.
const (
	DefaultStateTopic     = "cdcflow.cep.state"
	DefaultCommitInterval = time.Second
	DefaultMaxBuffered    = 10000
	DefaultTxTimeout      = 10 * time.Second
	DefaultMaxPollRecords = 1000
	DefaultTxMaxBytes     = 16 << 20
	DefaultPartitions     = 6
)

// Config configures a Runner. A zero field means its default.
type Config struct {
	// Brokers are the Kafka seed brokers. Required.
	Brokers []string
	// ClientOpts are added to every franz-go client's options (TLS, SASL,
	// client id, logger, kprom hooks).
	ClientOpts []kgo.Opt
	// Name names this consumer of the rules: its state is stored under this
	// key in StateTopic, and the transactional id is derived from it. Two
	// processes with the same name fence each other. Lower-case letters,
	// digits, '_', '-' and '.'. Required.
	Name string
	// TransactionalID is the Kafka transactional id. Default "cdcflow-cep-" + Name.
	TransactionalID string
	// Inputs are the event topics to read, every partition of each.
	// Required.
	Inputs []string
	// Topic receives the derived events (key = aggregate id). Required.
	Topic string
	// Partitions, ReplicationFactor and Retention are used when Topic does
	// not exist: default 6 partitions, the broker's replication factor
	// (-1) and forever (-1).
	Partitions        int32
	ReplicationFactor int16
	Retention         time.Duration
	// StateTopic is the compacted one-partition changelog topic where the
	// state is stored with the consumed offsets. Default "cdcflow.cep.state".
	StateTopic string
	// Source is the CloudEvents source of the derived events and an input
	// of their ids. It must not change between runs or replays. Required.
	Source string
	// Envelope lays the derived events out (structured by default).
	Envelope pipeline.EnvelopeMode
	// Upcast, when not nil, brings each input event's data to the current
	// version of its type before the rules see it (Mapping.Upcast). It is
	// called from the runner's reading goroutine, one record at a time.
	Upcast func(pipeline.Event) (pipeline.Event, error)
	// CommitInterval is how often a transaction commits the derived events,
	// the state and the offsets. Default 1s. Derived events become visible
	// to read_committed readers at the commit.
	CommitInterval time.Duration
	// MaxBuffered is the number of input records held by the merge beyond
	// which the partitions that run ahead are paused. Default 10000.
	MaxBuffered int
	// TxTimeout is the Kafka transaction timeout. Default 10s; it must
	// exceed CommitInterval.
	TxTimeout time.Duration
	// TxMaxBytes commits early once the derived events of a transaction
	// reach this many bytes. Default 16 MiB.
	TxMaxBytes int
	// MaxPollRecords bounds one poll. Default 1000.
	MaxPollRecords int
	// MaxOpenPerKey is cep.Config.MaxOpenPerKey (0: its default).
	MaxOpenPerKey int
	// Logger receives lifecycle messages; nil discards them.
	Logger *slog.Logger
	// Metrics, when not nil, receives the runner's metrics.
	Metrics *Metrics
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)

func (c *Config) setDefaults() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("cep runner: no brokers")
	case !nameRE.MatchString(c.Name):
		return fmt.Errorf("cep runner: name %q: want lower-case letters, digits, '_', '-' and '.'", c.Name)
	case len(c.Inputs) == 0:
		return errors.New("cep runner: no input topics")
	case c.Topic == "":
		return errors.New("cep runner: no topic for the derived events")
	case c.Source == "":
		return errors.New("cep runner: no source")
	case slices.Contains(c.Inputs, c.Topic):
		return fmt.Errorf("cep runner: topic %q is also an input: the rules would read their own derived events", c.Topic)
	case c.CommitInterval < 0, c.MaxBuffered < 0, c.TxTimeout < 0, c.TxMaxBytes < 0, c.MaxPollRecords < 0, c.Partitions < 0:
		return errors.New("cep runner: negative duration, size or count")
	}
	if c.TransactionalID == "" {
		c.TransactionalID = "cdcflow-cep-" + c.Name
	}
	if c.StateTopic == "" {
		c.StateTopic = DefaultStateTopic
	}
	if c.CommitInterval == 0 {
		c.CommitInterval = DefaultCommitInterval
	}
	if c.MaxBuffered == 0 {
		c.MaxBuffered = DefaultMaxBuffered
	}
	if c.TxTimeout == 0 {
		c.TxTimeout = DefaultTxTimeout
	}
	if c.TxTimeout <= c.CommitInterval {
		return fmt.Errorf("cep runner: transaction timeout %s must exceed the commit interval %s", c.TxTimeout, c.CommitInterval)
	}
	if c.TxMaxBytes == 0 {
		c.TxMaxBytes = DefaultTxMaxBytes
	}
	if c.MaxPollRecords == 0 {
		c.MaxPollRecords = DefaultMaxPollRecords
	}
	if c.Partitions == 0 {
		c.Partitions = DefaultPartitions
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = -1
	}
	if c.Retention == 0 {
		c.Retention = -1
	}
	return nil
}

// Runner runs compiled rules over the event topics with exactly-once
// delivery: per commit interval, one Kafka transaction holds the derived
// events, the engine's state (with the input offsets it covers) on the
// changelog topic. A restart reads the changelog to its end, restores the
// state and seeks every input partition to the offset after the one the
// state covers, so a crash at any moment neither loses nor duplicates a
// derived event for read_committed readers.
//
// Use New, then Run from one goroutine. A Runner is not safe for
// concurrent Runs.
type Runner struct {
	cfg   Config
	rules *cep.Rules
	log   *slog.Logger
	m     *Metrics
	ready atomic.Bool
}

// New returns a Runner for rules. It validates cfg but contacts nothing.
func New(cfg Config, rules *cep.Rules) (*Runner, error) {
	if rules == nil {
		return nil, errors.New("cep runner: no rules")
	}
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "cep", "name", cfg.Name)
	return &Runner{cfg: cfg, rules: rules, log: log, m: cfg.Metrics}, nil
}

// Ready returns nil once the runner has restored its state and consumes,
// and an error saying why not otherwise. Safe for concurrent use.
func (r *Runner) Ready() error {
	if !r.ready.Load() {
		return errors.New("cep: not consuming yet")
	}
	return nil
}

// permanentError ends Run: retrying would not help (or would fight
// another instance).
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Run consumes, evaluates and commits until ctx is done (it then commits
// what it has, bounded by the transaction timeout, and returns ctx's
// error). A failed session (a broker error, a transaction that could not
// commit) is aborted and a new one starts from the last committed state
// after a backoff. Run returns another error only when retrying cannot
// help: the state cannot be restored (a rule changed without a new
// version, a partition vanished) or another process with the same
// transactional id fenced this one.
func (r *Runner) Run(ctx context.Context) error {
	b := backpressure.Backoff{Initial: 500 * time.Millisecond, Max: 30 * time.Second, Op: "cep session", Log: r.log}
	for {
		progressed, err := r.session(ctx)
		r.ready.Store(false)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var perm *permanentError
		if errors.As(err, &perm) {
			return perm.err
		}
		if isFenced(err) {
			return fmt.Errorf("cep %q: fenced by another process with transactional id %q: %w", r.cfg.Name, r.cfg.TransactionalID, err)
		}
		if progressed {
			b.Reset()
		}
		if b.Wait(ctx, err) != nil {
			return ctx.Err()
		}
	}
}

func isFenced(err error) bool {
	return errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) || errors.Is(err, kerr.TransactionalIDAuthorizationFailed)
}

// session is one incarnation: fence, restore, consume and commit until ctx
// is done or an error. progressed says whether it committed anything.
func (r *Runner) session(ctx context.Context) (progressed bool, err error) {
	cfg := r.cfg
	adm, closeAdm, err := r.admin()
	if err != nil {
		return false, err
	}
	defer closeAdm()
	parts, err := r.inputPartitions(ctx, adm)
	if err != nil {
		return false, err
	}
	if err := r.ensureTopics(ctx, adm); err != nil {
		return false, err
	}
	if err := r.fence(ctx, adm); err != nil {
		return false, err
	}
	snap, gen, chunks, err := r.readState(ctx, adm)
	if err != nil && !errors.Is(err, errNoState) {
		return false, &permanentError{fmt.Errorf("read the state of %q from %q: %w", cfg.Name, cfg.StateTopic, err)}
	}
	eng, err := cep.New(r.rules, cep.Config{Source: cfg.Source, Partitions: parts, MaxOpenPerKey: cfg.MaxOpenPerKey, Hooks: r.m.hooks()})
	if err != nil {
		return false, &permanentError{err}
	}
	if snap != nil {
		if err := eng.Restore(snap); err != nil {
			return false, &permanentError{fmt.Errorf("restore the state of %q (generation %d): %w", cfg.Name, gen, err)}
		}
	}
	r.m.rebase(eng)
	offsets := eng.Offsets()
	start := map[string]map[int32]kgo.Offset{}
	for p, off := range offsets {
		if start[p.Topic] == nil {
			start[p.Topic] = map[int32]kgo.Offset{}
		}
		if off < 0 {
			start[p.Topic][p.Partition] = kgo.NewOffset().AtStart()
		} else {
			start[p.Topic][p.Partition] = kgo.NewOffset().At(off + 1)
		}
	}
	lost := &kafkatx.Watch{}
	opts := append(cfg.ClientOpts[:len(cfg.ClientOpts):len(cfg.ClientOpts)],
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.TransactionalID(cfg.TransactionalID),
		kgo.TransactionTimeout(cfg.TxTimeout),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumePartitions(start),
		// Keyed records go where Kafka's default partitioner puts them
		// (murmur2 of the key), as the event publisher does.
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.WithHooks(lost),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return false, &permanentError{fmt.Errorf("create kafka client: %w", err)}
	}
	defer cl.Close()
	if _, _, err := cl.ProducerID(ctx); err != nil {
		return false, fmt.Errorf("init producer id %q: %w", cfg.TransactionalID, err)
	}
	r.log.Info("cep started", "inputs", cfg.Inputs, "partitions", len(parts), "topic", cfg.Topic,
		"state_generation", gen, "state_bytes", len(snap), "watermark", eng.Watermark())
	r.ready.Store(true)
	s := &loop{r: r, cl: cl, eng: eng, gen: gen, chunks: chunks, lost: lost,
		accepted: map[cep.PartitionID]int64{}, paused: map[cep.PartitionID]bool{}}
	for p, off := range offsets {
		s.accepted[p] = off
	}
	err = s.run(ctx)
	return s.commits > 0, err
}

// admin returns an admin client over its own franz-go client.
func (r *Runner) admin() (*kadm.Client, func(), error) {
	opts := append(r.cfg.ClientOpts[:len(r.cfg.ClientOpts):len(r.cfg.ClientOpts)], kgo.SeedBrokers(r.cfg.Brokers...))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, nil, &permanentError{fmt.Errorf("create kafka client: %w", err)}
	}
	return kadm.NewClient(cl), cl.Close, nil
}

// inputPartitions lists every partition of the input topics, waiting for
// topics that do not exist yet (the flow creates them when it starts).
func (r *Runner) inputPartitions(ctx context.Context, adm *kadm.Client) ([]cep.PartitionID, error) {
	b := backpressure.Backoff{Initial: 200 * time.Millisecond, Max: 5 * time.Second, Floor: 1, Op: "wait for the input topics", Log: r.log}
	for {
		details, err := adm.ListTopics(ctx, r.cfg.Inputs...)
		if err == nil {
			var parts []cep.PartitionID
			for _, t := range r.cfg.Inputs {
				d, ok := details[t]
				switch {
				case !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) || (d.Err == nil && len(d.Partitions) == 0):
					err = fmt.Errorf("input topic %q does not exist yet", t)
				case d.Err != nil:
					err = fmt.Errorf("describe input topic %q: %w", t, d.Err)
				}
				if err != nil {
					break
				}
				for _, p := range d.Partitions.Sorted() {
					parts = append(parts, cep.PartitionID{Topic: t, Partition: p.Partition})
				}
			}
			if err == nil {
				return parts, nil
			}
		}
		if b.Wait(ctx, err) != nil {
			return nil, ctx.Err()
		}
	}
}

// ensureTopics creates the derived topic and the changelog topic when
// missing.
func (r *Runner) ensureTopics(ctx context.Context, adm *kadm.Client) error {
	retention := strconv.FormatInt(max(int64(r.cfg.Retention/time.Millisecond), -1), 10)
	compact := "compact"
	for _, t := range []struct {
		name    string
		parts   int32
		configs map[string]*string
	}{
		{r.cfg.Topic, r.cfg.Partitions, map[string]*string{"retention.ms": &retention}},
		{r.cfg.StateTopic, 1, map[string]*string{"cleanup.policy": &compact}},
	} {
		resp, err := adm.CreateTopic(ctx, t.parts, r.cfg.ReplicationFactor, t.configs, t.name)
		if err == nil {
			err = resp.Err
		}
		switch {
		case err == nil:
			r.log.Info("topic created", "topic", t.name, "partitions", t.parts)
		case errors.Is(err, kerr.TopicAlreadyExists):
		default:
			return fmt.Errorf("create topic %q: %w", t.name, err)
		}
	}
	return nil
}

// fence bumps the producer epoch of the transactional id, so that an
// earlier incarnation can no longer commit, and waits until its open
// transaction (if any) has been aborted, so that the changelog's last
// stable offset covers everything it committed.
func (r *Runner) fence(ctx context.Context, adm *kadm.Client) error {
	opts := append(r.cfg.ClientOpts[:len(r.cfg.ClientOpts):len(r.cfg.ClientOpts)],
		kgo.SeedBrokers(r.cfg.Brokers...), kgo.TransactionalID(r.cfg.TransactionalID), kgo.TransactionTimeout(r.cfg.TxTimeout))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return &permanentError{fmt.Errorf("create kafka client: %w", err)}
	}
	defer cl.Close()
	if _, _, err := cl.ProducerID(ctx); err != nil {
		return fmt.Errorf("fence the previous incarnation of %q: %w", r.cfg.TransactionalID, err)
	}
	return kafkatx.AwaitNoTransaction(ctx, adm, r.cfg.TransactionalID, 2*r.cfg.TxTimeout, r.log)
}

// readState reads the changelog with read_committed from its start to its
// last stable offset and returns the stored snapshot of the runner's name,
// with its generation and chunk count (errNoState when there is none).
func (r *Runner) readState(ctx context.Context, adm *kadm.Client) ([]byte, uint64, int, error) {
	topic := r.cfg.StateTopic
	sr := newStateReader(r.cfg.Name)
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("list end offsets: %w", err)
	}
	end, ok := ends.Lookup(topic, 0)
	if !ok {
		return nil, 0, 0, errors.New("list end offsets: partition 0 missing")
	}
	if end.Err != nil {
		return nil, 0, 0, fmt.Errorf("list end offsets: %w", end.Err)
	}
	if end.Offset > 0 {
		opts := append(r.cfg.ClientOpts[:len(r.cfg.ClientOpts):len(r.cfg.ClientOpts)],
			kgo.SeedBrokers(r.cfg.Brokers...),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			// Transaction markers too, so that a log ending with a commit
			// marker is known to be read to its end.
			kgo.KeepControlRecords(),
		)
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return nil, 0, 0, fmt.Errorf("create state reader: %w", err)
		}
		defer cl.Close()
	read:
		for {
			fs := cl.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				return nil, 0, 0, err
			}
			if err := firstError(fs); err != nil {
				return nil, 0, 0, fmt.Errorf("fetch: %w", err)
			}
			for it := fs.RecordIter(); !it.Done(); {
				rec := it.Next()
				if !rec.Attrs.IsControl() {
					sr.add(rec.Key, rec.Value)
				}
				if rec.Offset >= end.Offset-1 {
					break read
				}
			}
		}
	}
	return sr.snapshot()
}

func firstError(fs kgo.Fetches) error {
	var first error
	fs.EachError(func(_ string, _ int32, err error) {
		if first == nil {
			first = err
		}
	})
	return first
}

// loop is one session's consume-evaluate-commit loop.
type loop struct {
	r    *Runner
	cl   *kgo.Client
	eng  *cep.Engine
	lost *kafkatx.Watch

	gen     uint64 // generation of the last committed state
	chunks  int    // its chunk count
	commits int

	pending      []*kgo.Record // derived events since the last commit
	pendingBytes int
	dirty        bool                      // records fed since the last commit
	accepted     map[cep.PartitionID]int64 // offset of the last record each partition's merge buffer accepted
	paused       map[cep.PartitionID]bool
	emitErr      error
}

// run reads and decodes on a goroutine of its own (read) and evaluates and
// commits on this one, so decoding one fetch overlaps evaluating the one
// before it. The engine sees the records in the order they were polled.
func (s *loop) run(ctx context.Context) error {
	cfg := s.r.cfg
	rctx, stop := context.WithCancel(ctx)
	batches := make(chan batch, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.read(rctx, batches)
	}()
	defer func() {
		stop()
		<-done
	}()
	next := time.Now().Add(cfg.CommitInterval)
	timer := time.NewTimer(cfg.CommitInterval)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			// Commit what was evaluated, so the next start redoes less.
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.TxTimeout)
			defer cancel()
			if err := s.commit(fctx); err != nil {
				s.r.log.Warn("final commit failed: the next start redoes the last interval", "err", err)
			}
			return ctx.Err()
		case b := <-batches:
			if b.err != nil {
				return b.err
			}
			if err := s.feed(b.recs); err != nil {
				return err
			}
			s.backpressure()
			s.r.m.observe(s.eng)
		case <-timer.C:
		}
		if !time.Now().Before(next) || s.pendingBytes >= cfg.TxMaxBytes {
			if err := s.commit(ctx); err != nil {
				return err
			}
			next = time.Now().Add(cfg.CommitInterval)
		}
		timer.Reset(time.Until(next))
	}
}

// batch is one poll's records, decoded, or the error that ends reading.
type batch struct {
	recs []decoded
	err  error
}

// decoded is one input record, decoded and upcast (err when it is not a
// cdcflow event).
type decoded struct {
	kr  *kgo.Record
	ev  pipeline.Event
	err error
}

// read polls the input partitions and decodes each poll's records into a
// batch for run, until ctx is done or a fetch fails (its error is the last
// batch).
func (s *loop) read(ctx context.Context, out chan<- batch) {
	cfg := s.r.cfg
	for {
		fs := s.cl.PollRecords(ctx, cfg.MaxPollRecords)
		if ctx.Err() != nil {
			return
		}
		var b batch
		fs.EachError(func(t string, p int32, err error) {
			if b.err == nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				b.err = fmt.Errorf("fetch %s/%d: %w", t, p, err)
			}
		})
		if b.err == nil {
			b.recs = make([]decoded, 0, fs.NumRecords())
			fs.EachRecord(func(kr *kgo.Record) {
				ev, err := decode(kr, cfg.Upcast)
				b.recs = append(b.recs, decoded{kr: kr, ev: ev, err: err})
			})
		}
		select {
		case out <- b:
		case <-ctx.Done():
			return
		}
		if b.err != nil {
			return
		}
	}
}

// feed hands decoded records to the engine.
func (s *loop) feed(recs []decoded) error {
	cfg := s.r.cfg
	emit := func(d pipeline.Event) {
		rec, err := pipeline.EncodeEvent(d, cfg.Topic, cfg.Envelope)
		if err != nil {
			if s.emitErr == nil {
				s.emitErr = fmt.Errorf("encode derived event %s %q: %w", d.Type, d.ID, err)
			}
			return
		}
		kr := &kgo.Record{Topic: cfg.Topic, Key: rec.Key, Value: rec.Value}
		if len(rec.Headers) > 0 {
			kr.Headers = make([]kgo.RecordHeader, len(rec.Headers))
			for i, h := range rec.Headers {
				kr.Headers[i] = kgo.RecordHeader{Key: h.Key, Value: h.Value}
			}
		}
		s.pending = append(s.pending, kr)
		s.pendingBytes += len(kr.Key) + len(kr.Value)
	}
	n := 0
	defer func() { s.r.m.input(n) }()
	for i := range recs {
		d := &recs[i]
		kr := d.kr
		n++
		s.dirty = true
		if d.err != nil {
			s.r.m.skipped()
			s.r.log.Warn("input record skipped: not a cdcflow event", "topic", kr.Topic, "partition", kr.Partition, "offset", kr.Offset, "err", d.err)
			continue
		}
		part := cep.PartitionID{Topic: kr.Topic, Partition: kr.Partition}
		dups := s.eng.Duplicates()
		if err := s.eng.Feed(cep.Input{Partition: part, Offset: kr.Offset, Event: d.ev}, emit); err != nil {
			return &permanentError{fmt.Errorf("evaluate %s offset %d: %w", part, kr.Offset, err)}
		}
		if s.eng.Duplicates() == dups {
			s.accepted[part] = kr.Offset
		}
		if s.emitErr != nil {
			return &permanentError{s.emitErr}
		}
	}
	return nil
}

// decode turns a consumed record into an event, upcast.
func decode(kr *kgo.Record, upcast func(pipeline.Event) (pipeline.Event, error)) (pipeline.Event, error) {
	rec := pipeline.Record{Topic: kr.Topic, Key: kr.Key, Value: kr.Value}
	if len(kr.Headers) > 0 {
		rec.Headers = make([]pipeline.Header, len(kr.Headers))
		for i, h := range kr.Headers {
			rec.Headers[i] = pipeline.Header{Key: h.Key, Value: h.Value}
		}
	}
	ev, err := pipeline.DecodeRecord(rec)
	if err != nil {
		return ev, err
	}
	if upcast != nil && ev.Control == pipeline.NotControl && !ev.DeadLetter {
		if ev, err = upcast(ev); err != nil {
			return ev, fmt.Errorf("upcast: %w", err)
		}
	}
	return ev, nil
}

// backpressure pauses the partitions whose records wait in the merge once
// it holds MaxBuffered records, and resumes them once it holds less than
// half. A paused partition whose records have all been released is resumed
// at once, whatever the count: the merge may now wait for it, and a paused
// partition the merge waits for would hold everything. After a Feed at
// least one partition has nothing buffered, so the merge always moves on.
func (s *loop) backpressure() {
	pause, resume := pauseResume(s.accepted, s.eng.Offsets(), s.paused, s.eng.Buffered(), s.r.cfg.MaxBuffered)
	if len(pause) > 0 {
		s.cl.PauseFetchPartitions(pause)
	}
	if len(resume) > 0 {
		s.cl.ResumeFetchPartitions(resume)
	}
}

// pauseResume decides backpressure's pauses and resumptions and updates
// paused: accepted is each partition's last offset the merge took, released
// its last offset the merge released.
func pauseResume(accepted, released map[cep.PartitionID]int64, paused map[cep.PartitionID]bool, buffered, limit int) (pause, resume map[string][]int32) {
	over, under := buffered >= limit, buffered < limit/2
	pause, resume = map[string][]int32{}, map[string][]int32{}
	for p, acc := range accepted {
		holds := acc > released[p] // records of p wait in the merge
		switch {
		case paused[p] && (!holds || under):
			delete(paused, p)
			resume[p.Topic] = append(resume[p.Topic], p.Partition)
		case !paused[p] && holds && over:
			paused[p] = true
			pause[p.Topic] = append(pause[p.Topic], p.Partition)
		}
	}
	return pause, resume
}

// commit writes the pending derived events and the state (with the
// offsets it covers) in one Kafka transaction. Nothing to commit when no
// record was fed since the last commit.
func (s *loop) commit(ctx context.Context) error {
	if !s.dirty {
		return nil
	}
	cfg := s.r.cfg
	snap, err := s.eng.Snapshot()
	if err != nil {
		return &permanentError{err}
	}
	gen := s.gen + 1
	state, chunks := stateRecords(cfg.StateTopic, cfg.Name, gen, snap, DefaultChunkBytes, s.chunks)
	began := time.Now()
	lost := s.lost.Failures()
	if err := s.cl.BeginTransaction(); err != nil {
		return fmt.Errorf("begin kafka transaction: %w", err)
	}
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	produce := func(kr *kgo.Record) {
		wg.Add(1)
		s.cl.Produce(ctx, kr, func(kr *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("produce to %s: %w", kr.Topic, err)
				}
				mu.Unlock()
			}
			wg.Done()
		})
	}
	for _, kr := range s.pending {
		produce(kr)
	}
	for _, kr := range state {
		produce(kr)
	}
	wg.Wait()
	if firstErr == nil {
		if n := s.lost.Failures(); n != lost {
			firstErr = fmt.Errorf("connection to the kafka brokers lost during the transaction (%d times): aborted rather than committed", n-lost)
		}
	}
	if firstErr != nil {
		s.r.m.outcome("aborted")
		if err := s.cl.AbortBufferedRecords(ctx); err != nil {
			return errors.Join(firstErr, fmt.Errorf("abort buffered records: %w", err))
		}
		if err := s.cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
			return errors.Join(firstErr, fmt.Errorf("abort kafka transaction: %w", err))
		}
		return firstErr
	}
	if err := s.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		s.r.m.outcome("unknown")
		return fmt.Errorf("commit kafka transaction (outcome unknown; the next session reads what was stored): %w", err)
	}
	s.r.m.committed(time.Since(began), len(snap))
	if s.r.log.Enabled(ctx, slog.LevelDebug) {
		s.r.log.Debug("cep committed", "derived", len(s.pending), "state_bytes", len(snap), "generation", gen, "watermark", s.eng.Watermark())
	}
	s.gen, s.chunks = gen, chunks
	s.commits++
	s.pending, s.pendingBytes, s.dirty = nil, 0, false
	return nil
}
