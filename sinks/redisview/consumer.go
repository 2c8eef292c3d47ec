package redisview

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sync/errgroup"

	"github.com/cdcflow/cdcflow/backpressure"
	"github.com/cdcflow/cdcflow/pipeline"
)

// ErrGenerationChanged is returned by Consumer.Run when FollowPointer is set
// and the generation pointer moved away from the consumer's generation (a
// replay swapped in a new one): restart with the new generation, which
// resumes from the offsets stored with it.
var ErrGenerationChanged = errors.New("generation pointer moved")

// DefaultMaxPollRecords is ConsumerConfig.MaxPollRecords when it is zero.
const DefaultMaxPollRecords = 1000

// DefaultSessionTimeout is ConsumerConfig.SessionTimeout when it is zero:
// how long the group waits for a member that stopped heartbeating before it
// gives that member's partitions to the others. Kafka's own default (45s) is
// made for clients that block their heartbeats; franz-go heartbeats from its
// own goroutine, so a short timeout costs no spurious rebalances, and a
// killed materializer's partitions move within seconds.
const DefaultSessionTimeout = 10 * time.Second

// ConsumerConfig configures a Consumer. Zero values mean the defaults.
type ConsumerConfig struct {
	// Brokers are the Kafka seed brokers (required).
	Brokers []string
	// Group is the consumer group. Only membership comes from the group:
	// offsets come from Redis and are never committed to Kafka. Empty with
	// StopAtEnd (replay): no group, every partition of Topics is consumed
	// directly, so a replay rerun after a crash never waits for a dead
	// member's session; the stored offsets fence a second concurrent writer.
	Group string
	// InstanceID makes the consumer a static member of Group (KIP-345):
	// restarted with the same InstanceID (a container restarted in its Pod),
	// it takes its partitions back at once, without a rebalance. A clean
	// stop still leaves the group explicitly, so the others take its
	// partitions over at once. Empty: a dynamic member.
	InstanceID string
	// SessionTimeout: see DefaultSessionTimeout. Heartbeats go every
	// SessionTimeout/10 (at most 3s).
	SessionTimeout time.Duration
	// Topics are the event topics to consume (required).
	Topics []string
	// DeadLetterTopic (which must exist) receives records that cannot be
	// decoded or projected, with the reason in headers. Empty means a poison record stops Run with
	// an error naming it (replay mode: a rebuild must not silently differ).
	DeadLetterTopic string
	// MaxPollRecords bounds one poll (default 1000); a partition's records
	// in one poll are one batch.
	MaxPollRecords int
	// StopAtEnd makes Run return nil once every partition of Topics has been
	// applied up to the end offsets it saw when it started (replay).
	StopAtEnd bool
	// FollowPointer makes Run return ErrGenerationChanged when the
	// generation pointer no longer names the views' generation. It is
	// checked every PointerInterval (default 2s).
	FollowPointer   bool
	PointerInterval time.Duration
	// RetryBackoff is the pause before applying a partition again after an
	// infrastructure error (default 500ms).
	RetryBackoff time.Duration
	// Progress, if set, is called after each poll during a StopAtEnd run.
	Progress func(Progress)
	// TombstoneHorizon is how much older (in event commit time) than the
	// newest event applied on a partition a deleted aggregate's position
	// tombstone must be before it is removed (default 24h; negative: never).
	// See compact.go for why this is safe. Replays (StopAtEnd) do not
	// compact.
	TombstoneHorizon time.Duration
	// CompactInterval is how often a compaction pass over the owned
	// partitions starts (default 10m); a pass does one slice of about 1000
	// positions between polls.
	CompactInterval time.Duration
	// ClientOpts are added to the franz-go client's options (TLS, SASL,
	// logger, kprom hooks).
	ClientOpts []kgo.Opt
	// Logger receives lifecycle messages; nil discards them.
	Logger *slog.Logger
}

// Progress is how far a replay is.
type Progress struct {
	Done, Total int64         // records applied, records to apply (offsets, markers included)
	Rate        float64       // records per second since the start
	ETA         time.Duration // at Rate; 0 when unknown
	// Round is the replay round (1: from the start of the topics; later
	// rounds catch up with what arrived meanwhile); 0 outside Replay.
	Round int
}

// Consumer feeds Kafka records to Views, one batch per partition per poll.
// On assignment it resumes every partition from the offset stored in Redis
// with the views (none stored: from the earliest), so a restart neither loses
// nor double-applies. It owns a franz-go client, created in Run. Lag, dead
// letters and replay progress go to the Views' Metrics.
type Consumer struct {
	cfg   ConsumerConfig
	views *Views
	log   *slog.Logger

	mu    sync.Mutex
	next  map[tp]int64                 // expected stored offset per owned partition (-1: none)
	retry map[tp]*backpressure.Backoff // pause schedule of a partition whose apply keeps failing

	// Tombstone compaction, run by Run between polls.
	compactAt   time.Time    // when the next pass may start
	compactJobs []compactJob // what is left of the current pass
	compactCur  uint64       // scan cursor of compactJobs[0]
}

type compactJob struct {
	partition int32
	agg       string
}

type tp struct {
	topic     string
	partition int32
}

// NewConsumer returns a Consumer applying to views. It starts nothing.
func NewConsumer(cfg ConsumerConfig, views *Views) (*Consumer, error) {
	switch {
	case len(cfg.Brokers) == 0:
		return nil, errors.New("consumer: no brokers")
	case cfg.Group == "" && !cfg.StopAtEnd:
		return nil, errors.New("consumer: no group")
	case cfg.Group == "" && cfg.InstanceID != "":
		return nil, errors.New("consumer: an instance id needs a group")
	case len(cfg.Topics) == 0:
		return nil, errors.New("consumer: no topics")
	case views == nil:
		return nil, errors.New("consumer: no views")
	}
	if cfg.MaxPollRecords <= 0 {
		cfg.MaxPollRecords = DefaultMaxPollRecords
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = 500 * time.Millisecond
	}
	if cfg.PointerInterval <= 0 {
		cfg.PointerInterval = 2 * time.Second
	}
	if cfg.TombstoneHorizon == 0 {
		cfg.TombstoneHorizon = 24 * time.Hour
	}
	if cfg.CompactInterval <= 0 {
		cfg.CompactInterval = 10 * time.Minute
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = DefaultSessionTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Consumer{cfg: cfg, views: views, log: log.With("component", "views_consumer", "group", cfg.Group), next: map[tp]int64{}, retry: map[tp]*backpressure.Backoff{}}, nil
}

// Run consumes until ctx ends (returning ctx.Err()), a fatal error, or, with
// StopAtEnd, the end offsets are reached (returning nil). Poison records go
// to DeadLetterTopic; without one Run returns the *ProjectError. A batch the
// stored offset refuses (ErrFenced: another instance moved the partition on)
// is dropped and the partition resumes from the stored offset. Redis errors
// are retried after RetryBackoff, from the stored offset.
func (c *Consumer) Run(ctx context.Context) error {
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.cfg.Brokers...),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Transaction markers are delivered too, so that the stored offset
		// moves past them: a partition's end (its last stable offset) is
		// often a marker, and a replay must reach it.
		kgo.KeepControlRecords(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}
	if c.cfg.Group != "" {
		heartbeat := min(c.cfg.SessionTimeout/10, 3*time.Second)
		opts = append(opts,
			kgo.ConsumerGroup(c.cfg.Group),
			kgo.ConsumeTopics(c.cfg.Topics...),
			kgo.Balancers(kgo.CooperativeStickyBalancer()),
			kgo.SessionTimeout(c.cfg.SessionTimeout),
			kgo.HeartbeatInterval(heartbeat),
			kgo.DisableAutoCommit(),
			kgo.BlockRebalanceOnPoll(),
			kgo.AdjustFetchOffsetsFn(c.adjust),
			kgo.OnPartitionsRevoked(c.forget),
			kgo.OnPartitionsLost(c.forget),
		)
		if c.cfg.InstanceID != "" {
			opts = append(opts, kgo.InstanceID(c.cfg.InstanceID))
		}
	} else {
		parts, err := c.assignAll(ctx)
		if err != nil {
			return err
		}
		opts = append(opts, kgo.ConsumePartitions(parts))
	}
	cl, err := kgo.NewClient(append(opts, c.cfg.ClientOpts...)...)
	if err != nil {
		return fmt.Errorf("create kafka client: %w", err)
	}
	defer c.leave(ctx, cl)

	var end map[tp]int64
	var total int64
	if c.cfg.StopAtEnd {
		if end, total, err = c.endOffsets(ctx, cl); err != nil {
			return err
		}
	}
	start := time.Now()
	var done int64
	lastPointer := time.Now()
	c.log.Info("views consumer started", "topics", c.cfg.Topics, "generation", c.views.Generation())
	c.views.cfg.Metrics.initTopics(c.cfg.Topics)
	for {
		if c.cfg.StopAtEnd && c.reached(ctx, end) {
			c.progress(done, total, start)
			return nil
		}
		if c.cfg.FollowPointer && time.Since(lastPointer) >= c.cfg.PointerInterval {
			lastPointer = time.Now()
			if err := c.pointerMoved(ctx); err != nil {
				return err
			}
		}
		pollCtx := ctx
		var cancel context.CancelFunc = func() {}
		if c.cfg.FollowPointer || c.cfg.StopAtEnd {
			pollCtx, cancel = context.WithTimeout(ctx, c.cfg.PointerInterval)
		}
		fetches := cl.PollRecords(pollCtx, c.cfg.MaxPollRecords)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if fetches.IsClientClosed() {
			return errors.New("kafka client closed")
		}
		for _, fe := range fetches.Errors() {
			if errors.Is(fe.Err, context.DeadlineExceeded) || errors.Is(fe.Err, context.Canceled) {
				continue
			}
			c.log.Warn("fetch failed", "topic", fe.Topic, "partition", fe.Partition, "err", fe.Err)
		}
		// Partitions are independent (their keys, offsets and aggregates are
		// disjoint), so the poll's partitions are applied concurrently; each
		// partition's batch stays one ordered step.
		var g errgroup.Group
		var applied atomic.Int64
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			if len(p.Records) == 0 {
				return
			}
			g.Go(func() error {
				n, err := c.applyPartition(ctx, cl, p)
				applied.Add(n)
				return err
			})
		})
		fatal := g.Wait()
		done += applied.Load()
		cl.AllowRebalance()
		if fatal != nil {
			return fatal
		}
		if c.cfg.StopAtEnd {
			c.progress(done, total, start)
		} else if c.cfg.TombstoneHorizon > 0 {
			if err := c.compactSlice(ctx); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				c.log.Warn("tombstone compaction failed; retried in the next pass", "err", err)
				c.compactJobs = nil
			}
		}
	}
}

// leave leaves the group (when there is one) and closes cl. Leaving waits
// for a rebalance in progress, which a member killed without leaving holds
// up until its session times out: it is bounded, then Close is immediate.
// Nothing is committed to Kafka, so an abrupt leave loses nothing.
func (c *Consumer) leave(ctx context.Context, cl *kgo.Client) {
	defer cl.Close()
	if c.cfg.Group == "" {
		return
	}
	cl.AllowRebalance()
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	memberID, _ := cl.GroupMetadata()
	_ = cl.LeaveGroupContext(lctx)
	if c.cfg.InstanceID == "" || memberID == "" {
		return
	}
	// A static member's close keeps its partitions reserved until its
	// session times out, waiting for it to come back. A clean stop is not
	// coming back (a rolling update starts a new Pod): leave by instance
	// id, so the others take the partitions over at once.
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Group = c.cfg.Group
	m := kmsg.NewLeaveGroupRequestMember()
	m.MemberID = memberID
	m.InstanceID = kmsg.StringPtr(c.cfg.InstanceID)
	m.Reason = kmsg.StringPtr("cdcflow materializer stopping")
	req.Members = append(req.Members, m)
	resp, err := req.RequestWith(lctx, cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
		for _, mr := range resp.Members {
			err = cmp.Or(err, kerr.ErrorForCode(mr.ErrorCode))
		}
	}
	if err != nil {
		c.log.Warn("leaving the group as a static member failed: its partitions move when its session times out", "instance_id", c.cfg.InstanceID, "session_timeout", c.cfg.SessionTimeout, "err", err)
		return
	}
	c.log.Info("left the group", "instance_id", c.cfg.InstanceID)
}

// assignAll returns every partition of Topics with the offset stored in
// Redis (none stored: the start), for a consumer without a group, and
// records them as owned.
func (c *Consumer) assignAll(ctx context.Context) (map[string]map[int32]kgo.Offset, error) {
	adm, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.cfg.Brokers...)}, c.cfg.ClientOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("create kafka client: %w", err)
	}
	defer adm.Close()
	md, err := kadm.NewClient(adm).Metadata(ctx, c.cfg.Topics...)
	if err != nil {
		return nil, fmt.Errorf("read the partitions of %v: %w", c.cfg.Topics, err)
	}
	assigned := map[string]map[int32]kgo.Offset{}
	for _, topic := range c.cfg.Topics {
		td, ok := md.Topics[topic]
		if !ok || td.Err != nil {
			return nil, fmt.Errorf("read the partitions of %s: %v", topic, cmp.Or(td.Err, errors.New("no such topic")))
		}
		assigned[topic] = map[int32]kgo.Offset{}
		for p := range td.Partitions {
			assigned[topic][p] = kgo.Offset{}
		}
	}
	return c.adjust(ctx, assigned)
}

// compactSlice does one slice of the current tombstone compaction pass, or
// starts a pass over the owned partitions when CompactInterval has passed.
func (c *Consumer) compactSlice(ctx context.Context) error {
	if len(c.compactJobs) == 0 {
		if time.Now().Before(c.compactAt) {
			return nil
		}
		c.compactAt = time.Now().Add(c.cfg.CompactInterval)
		c.mu.Lock()
		parts := map[int32]bool{}
		for k := range c.next {
			parts[k.partition] = true
		}
		c.mu.Unlock()
		for p := range parts {
			for _, agg := range c.views.defs.AggregateTypes() {
				c.compactJobs = append(c.compactJobs, compactJob{p, agg})
			}
		}
		c.compactCur = 0
	}
	if len(c.compactJobs) == 0 {
		return nil
	}
	j := c.compactJobs[0]
	newest := c.views.NewestApplied(j.partition)
	if newest.IsZero() {
		c.compactJobs = c.compactJobs[1:] // nothing applied here yet: no clock
		return nil
	}
	next, n, err := c.views.CompactTombstones(ctx, j.partition, j.agg, c.compactCur, 1000, newest.Add(-c.cfg.TombstoneHorizon))
	if err != nil {
		return err
	}
	if n > 0 {
		c.views.cfg.Metrics.addCompacted(n)
		c.log.Info("tombstones compacted", "partition", j.partition, "aggregate", j.agg, "removed", n)
	}
	c.compactCur = next
	if next == 0 {
		c.compactJobs = c.compactJobs[1:]
	}
	return nil
}

// pause waits RetryBackoff before key's partition is applied again from the
// stored offset, logging the failure with its attempt number. The partition's
// Backoff lives in c.retry until an apply succeeds or the partition goes:
// only the goroutine applying key's batch of a poll touches it. It returns
// nil after the pause, or the context's cause when ctx ends first.
func (c *Consumer) pause(ctx context.Context, key tp, err error) error {
	c.mu.Lock()
	b := c.retry[key]
	if b == nil {
		// A fixed pause (Initial = Max, no jitter), as RetryBackoff promises.
		b = &backpressure.Backoff{Initial: c.cfg.RetryBackoff, Max: c.cfg.RetryBackoff, Floor: 1,
			Op: "apply", Log: c.log.With("topic", key.topic, "partition", key.partition)}
		c.retry[key] = b
	}
	c.mu.Unlock()
	return b.Wait(ctx, err)
}

// adjust replaces the group's offsets with the ones stored in Redis.
func (c *Consumer) adjust(ctx context.Context, assigned map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for topic, parts := range assigned {
		ps := make([]int32, 0, len(parts))
		for p := range parts {
			ps = append(ps, p)
		}
		stored, err := c.views.Offsets(ctx, topic, ps)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			if o, ok := stored[p]; ok {
				parts[p] = kgo.NewOffset().At(o).WithEpoch(-1)
				c.next[tp{topic, p}] = o
			} else {
				parts[p] = kgo.NewOffset().AtStart()
				c.next[tp{topic, p}] = -1
			}
		}
		c.log.Info("partitions assigned", "topic", topic, "partitions", ps)
	}
	return assigned, nil
}

// forget drops revoked or lost partitions; with BlockRebalanceOnPoll this
// never runs while a batch is being applied.
func (c *Consumer) forget(_ context.Context, _ *kgo.Client, revoked map[string][]int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for topic, ps := range revoked {
		for _, p := range ps {
			delete(c.next, tp{topic, p})
			delete(c.retry, tp{topic, p})
		}
	}
}

// applyPartition applies one partition's records of a poll and returns how
// many it applied.
func (c *Consumer) applyPartition(ctx context.Context, cl *kgo.Client, p kgo.FetchTopicPartition) (int64, error) {
	key := tp{p.Topic, p.Partition}
	c.mu.Lock()
	from, owned := c.next[key]
	c.mu.Unlock()
	if !owned {
		return 0, nil
	}
	recs := make([]Record, 0, len(p.Records))
	last := int64(-1)
	for _, kr := range p.Records {
		if from >= 0 && kr.Offset < from {
			continue // already applied: fetched before a seek took effect
		}
		last = kr.Offset
		if kr.Attrs.IsControl() {
			// A transaction's commit or abort marker: nothing to apply,
			// but it takes an offset, which the batch moves past.
			continue
		}
		raw := &pipeline.Record{Topic: kr.Topic, Key: kr.Key, Value: kr.Value}
		for _, h := range kr.Headers {
			raw.Headers = append(raw.Headers, pipeline.Header{Key: h.Key, Value: h.Value})
		}
		ev, err := pipeline.DecodeRecord(*raw)
		recs = append(recs, Record{Offset: kr.Offset, Event: ev, Err: err, Raw: raw})
	}
	if last < 0 {
		return 0, nil
	}
	batch := Batch{Topic: p.Topic, Partition: p.Partition, From: from, Records: recs, Next: last + 1}
	err := c.applyWithPoison(ctx, cl, batch)
	switch {
	case err == nil:
		next := last + 1
		c.mu.Lock()
		c.next[key] = next
		delete(c.retry, key)
		c.mu.Unlock()
		c.views.cfg.Metrics.setLag(p.Topic, p.Partition, max(p.HighWatermark-next, 0))
		return next - max(from, 0), nil
	case ctx.Err() != nil:
		return 0, ctx.Err()
	case errors.Is(err, ErrGenerationChanged):
		return 0, err
	case errors.As(err, new(*ProjectError)):
		// An event that cannot be projected onto a generation that a swap
		// left behind (and perhaps deleted) is not poison: stop for the new
		// generation instead.
		if c.cfg.FollowPointer {
			if perr := c.pointerMoved(ctx); perr != nil {
				return 0, perr
			}
		}
		return 0, err
	}
	// Fenced or an infrastructure error: resume from what Redis stores, so
	// nothing is skipped and nothing applied twice.
	if errors.Is(err, ErrFenced) {
		// A replay's swap may have moved the pointer on and, after its grace
		// period, deleted this generation with its stored offsets: resuming
		// from "no stored offset" would rebuild the old generation from the
		// start. A consumer that follows the pointer stops here instead.
		if c.cfg.FollowPointer {
			if err := c.pointerMoved(ctx); err != nil {
				return 0, err
			}
		}
		c.views.cfg.Metrics.addFenced(p.Topic)
		c.log.Warn("partition fenced: resuming from the stored offset", "topic", p.Topic, "partition", p.Partition, "err", err)
	} else if c.pause(ctx, key, err) != nil {
		return 0, ctx.Err()
	}
	stored, serr := c.views.Offsets(ctx, p.Topic, []int32{p.Partition})
	if serr != nil {
		// Redis unreachable: start again from the batch's own start.
		stored = map[int32]int64{}
		if from >= 0 {
			stored[p.Partition] = from
		}
	}
	o, ok := stored[p.Partition]
	eo := kgo.EpochOffset{Epoch: -1, Offset: o}
	if !ok {
		o, eo.Offset = -1, 0
	}
	c.mu.Lock()
	c.next[key] = o
	c.mu.Unlock()
	cl.SetOffsets(map[string]map[int32]kgo.EpochOffset{p.Topic: {p.Partition: eo}})
	return 0, nil
}

// pointerMoved returns an ErrGenerationChanged error when the generation
// pointer names another generation than the consumer's. A pointer that cannot
// be read is not a move: the next check tries again.
func (c *Consumer) pointerMoved(ctx context.Context) error {
	g, err := CurrentGeneration(ctx, c.views.rdb, c.views.cfg.Prefix)
	if err == nil && g != 0 && g != c.views.Generation() {
		return fmt.Errorf("views generation %d, pointer %d: %w", c.views.Generation(), g, ErrGenerationChanged)
	}
	return nil
}

// applyWithPoison applies b, sending poison records to the dead-letter topic
// when there is one.
func (c *Consumer) applyWithPoison(ctx context.Context, cl *kgo.Client, b Batch) error {
	if c.cfg.DeadLetterTopic == "" {
		return c.views.Apply(ctx, b)
	}
	v := *c.views
	v.cfg.OnPoison = func(ctx context.Context, perr *ProjectError, rec Record) error {
		if c.cfg.FollowPointer {
			if err := c.pointerMoved(ctx); err != nil {
				return err // not poison: this generation was left behind
			}
		}
		return c.deadLetter(ctx, cl, b, perr, rec)
	}
	return v.Apply(ctx, b)
}

// HeaderReason is the header of a dead letter that says why the event could
// not be projected; "cdcflow-topic", "cdcflow-partition" and
// "cdcflow-offset" say where it was read. The names match the headers
// cdcflow run gives its own dead letters.
const HeaderReason = "cdcflow-reason"

// deadLetter writes rec to the dead-letter topic with the reason. It is
// at-least-once: if the batch is applied again after a failure, the record
// may be dead-lettered twice.
func (c *Consumer) deadLetter(ctx context.Context, cl *kgo.Client, b Batch, perr *ProjectError, rec Record) error {
	kr := &kgo.Record{Topic: c.cfg.DeadLetterTopic}
	if rec.Raw != nil {
		kr.Key, kr.Value = rec.Raw.Key, rec.Raw.Value
		for _, h := range rec.Raw.Headers {
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
	}
	kr.Headers = append(kr.Headers,
		kgo.RecordHeader{Key: HeaderReason, Value: []byte(perr.Error())},
		kgo.RecordHeader{Key: "cdcflow-topic", Value: []byte(b.Topic)},
		kgo.RecordHeader{Key: "cdcflow-partition", Value: []byte(strconv.Itoa(int(b.Partition)))},
		kgo.RecordHeader{Key: "cdcflow-offset", Value: []byte(strconv.FormatInt(perr.Offset, 10))},
	)
	// Bounded: a missing dead-letter topic must not hang the partition.
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(pctx, kr).FirstErr(); err != nil {
		return fmt.Errorf("write dead letter for %s[%d]@%d: %w", b.Topic, b.Partition, perr.Offset, err)
	}
	c.views.cfg.Metrics.addDeadLetter(b.Topic)
	c.log.Warn("record dead-lettered", "topic", b.Topic, "partition", b.Partition, "offset", perr.Offset, "err", perr.Err)
	return nil
}

// endOffsets lists every partition's end offset (read_committed: the last
// stable offset) and the records left to apply from the stored offsets.
func (c *Consumer) endOffsets(ctx context.Context, cl *kgo.Client) (map[tp]int64, int64, error) {
	end, err := listEnds(ctx, cl, c.cfg.Topics)
	if err != nil {
		return nil, 0, err
	}
	var total int64
	for k, e := range end {
		stored, err := c.views.Offsets(ctx, k.topic, []int32{k.partition})
		if err != nil {
			return nil, 0, err
		}
		total += e - stored[k.partition] // absent: from 0
	}
	return end, total, nil
}

// reached reports whether every partition's stored offset is at its end.
func (c *Consumer) reached(ctx context.Context, end map[tp]int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range end {
		if e == 0 {
			continue
		}
		if n, ok := c.next[k]; !ok || n < e {
			// Not owned by this instance or not there yet; a partition
			// owned elsewhere is checked against Redis.
			if ok {
				return false
			}
			stored, err := c.views.Offsets(ctx, k.topic, []int32{k.partition})
			if err != nil || stored[k.partition] < e {
				return false
			}
		}
	}
	return true
}

func (c *Consumer) progress(done, total int64, start time.Time) {
	p := Progress{Done: done, Total: total}
	if el := time.Since(start).Seconds(); el > 0 {
		p.Rate = float64(done) / el
	}
	if p.Rate > 0 && total > done {
		p.ETA = time.Duration(float64(total-done) / p.Rate * float64(time.Second))
	}
	c.views.cfg.Metrics.setReplay(done, total)
	if c.cfg.Progress != nil {
		c.cfg.Progress(p)
	}
}

// listEnds returns the last stable offset (the end a read_committed consumer
// reaches) of every partition of topics.
func listEnds(ctx context.Context, cl *kgo.Client, topics []string) (map[tp]int64, error) {
	listed, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("list end offsets of %v: %w", topics, err)
	}
	out := map[tp]int64{}
	var ferr error
	listed.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			ferr = fmt.Errorf("list end offset of %s[%d]: %w", o.Topic, o.Partition, o.Err)
			return
		}
		out[tp{o.Topic, o.Partition}] = o.Offset
	})
	return out, ferr
}
