package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/backpressure"
)

// EnsureTopics creates the missing ones among topics and the dead-letter
// topic, with the configured partitions, replication factor and retention,
// and checks that none of them changed its partition count.
//
// The partition count of each topic is recorded, the first time cdcflow sees
// the topic, in the compacted one-partition metadata topic (key = topic,
// value = decimal count), which lives in Kafka itself: it survives restarts
// and needs no other store. When a topic's live count differs from the
// recorded one, EnsureTopics returns a *PartitionsChangedError and the caller
// must not publish: keys would now hash to other partitions.
func (p *Publisher) EnsureTopics(ctx context.Context, topics []string) error {
	all := append(topics[:len(topics):len(topics)], p.cfg.DeadLetterTopic)
	compact := "compact"
	if err := p.createMissing(ctx, []string{p.cfg.MetadataTopic}, 1, map[string]*string{"cleanup.policy": &compact}); err != nil {
		return err
	}
	retention := strconv.FormatInt(retentionMillis(p.cfg.Topics.Retention), 10)
	if err := p.createMissing(ctx, all, p.cfg.Topics.Partitions, map[string]*string{"retention.ms": &retention}); err != nil {
		return err
	}
	// A topic just created may take a moment to appear in every broker's
	// metadata: wait for it, within a bound.
	wctx, cancel := context.WithTimeout(ctx, topicWait)
	defer cancel()
	var details kadm.TopicDetails
	err := backpressure.Retry(wctx, &backpressure.Backoff{Initial: 10 * time.Millisecond, Max: time.Second, Op: "describe topics", Log: p.log}, IsRetryable,
		func(ctx context.Context) error {
			var err error
			if details, err = p.adm.ListTopics(fresh(ctx), append(all, p.cfg.MetadataTopic)...); err != nil {
				return err
			}
			return details.Error()
		})
	if err != nil {
		return fmt.Errorf("describe topics: %w", err)
	}
	recorded, err := p.readMetadata(ctx)
	if err != nil {
		return err
	}
	live := make(map[string]int32, len(all))
	var record []*kgo.Record
	for _, t := range all {
		n := int32(len(details[t].Partitions))
		live[t] = n
		rec, ok := recorded[t]
		switch {
		case !ok:
			record = append(record, &kgo.Record{
				Topic: p.cfg.MetadataTopic, Partition: 0,
				Key: []byte(t), Value: []byte(strconv.Itoa(int(n))),
			})
		case rec != n:
			return &PartitionsChangedError{Topic: t, Recorded: rec, Current: n}
		}
	}
	if len(record) > 0 {
		if err := p.cl.ProduceSync(ctx, record...).FirstErr(); err != nil {
			return fmt.Errorf("record partition counts in %q: %w", p.cfg.MetadataTopic, err)
		}
	}
	p.route.setCounts(live)
	return nil
}

// topicWait bounds the wait for created topics to appear in the metadata.
const topicWait = 10 * time.Second

// fresh makes kadm bypass the client's metadata cache (kept up to 5 s, and
// which may still say a topic created a moment ago does not exist): kadm
// issues a direct metadata request when authorized operations are asked for.
func fresh(ctx context.Context) context.Context {
	return kadm.WithAuthorizedOps(ctx)
}

func retentionMillis(d time.Duration) int64 {
	if d < 0 {
		return -1
	}
	return d.Milliseconds()
}

// createMissing creates those of topics that do not exist.
func (p *Publisher) createMissing(ctx context.Context, topics []string, partitions int32, configs map[string]*string) error {
	return createMissing(ctx, p.adm, p.cfg, p.log, topics, partitions, configs)
}

func createMissing(ctx context.Context, adm *kadm.Client, cfg Config, log *slog.Logger, topics []string, partitions int32, configs map[string]*string) error {
	details, err := adm.ListTopics(fresh(ctx), topics...)
	if err != nil {
		return fmt.Errorf("describe topics: %w", err)
	}
	var missing []string
	for _, t := range topics {
		d, ok := details[t]
		switch {
		case !ok, errors.Is(d.Err, kerr.UnknownTopicOrPartition):
			missing = append(missing, t)
		case d.Err != nil:
			return fmt.Errorf("describe topic %q: %w", t, d.Err)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	resps, err := adm.CreateTopics(ctx, partitions, cfg.Topics.ReplicationFactor, configs, missing...)
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	for _, r := range resps.Sorted() {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %q: %w", r.Topic, r.Err)
		}
		if r.Err == nil {
			log.Info("topic created", "topic", r.Topic, "partitions", partitions)
		}
	}
	return nil
}

// readMetadata reads the metadata topic to its end: the recorded partition
// count of each topic, the last record of a key winning.
func (p *Publisher) readMetadata(ctx context.Context) (map[string]int32, error) {
	counts := make(map[string]int32)
	err := readToEnd(ctx, p.adm, p.conn, p.cfg.MetadataTopic, func(r *kgo.Record) error {
		n, err := strconv.ParseInt(string(r.Value), 10, 32)
		if err != nil {
			return fmt.Errorf("parse partition count of %q at offset %d: %w", r.Key, r.Offset, err)
		}
		counts[string(r.Key)] = int32(n)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %q: %w", p.cfg.MetadataTopic, err)
	}
	return counts, nil
}

// readToEnd reads partition 0 of topic with read_committed isolation from
// its start to its last stable offset, calling fn for each data record. It
// uses a short-lived client of its own. Control records (transaction
// markers) are fetched too, so that a log ending with a commit marker is
// known to be read to its end.
func readToEnd(ctx context.Context, adm *kadm.Client, conn []kgo.Opt, topic string, fn func(*kgo.Record) error) error {
	ends, err := adm.ListCommittedOffsets(fresh(ctx), topic)
	if err != nil {
		return fmt.Errorf("list end offsets: %w", err)
	}
	end, ok := ends.Lookup(topic, 0)
	if !ok {
		return fmt.Errorf("list end offsets: partition 0 missing")
	}
	if end.Err != nil {
		return fmt.Errorf("list end offsets: %w", end.Err)
	}
	if end.Offset <= 0 {
		return nil
	}
	opts := append(conn[:len(conn):len(conn)],
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("create reader: %w", err)
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) {
			if ferr == nil {
				ferr = err
			}
		})
		if ferr != nil {
			return fmt.Errorf("fetch: %w", ferr)
		}
		for it := fs.RecordIter(); !it.Done(); {
			r := it.Next()
			if !r.Attrs.IsControl() {
				if err := fn(r); err != nil {
					return err
				}
			}
			if r.Offset >= end.Offset-1 {
				return nil
			}
		}
	}
}

// EnvelopeReserve is what FitEvents keeps, below a topic's record limit, for
// everything of a record but the event's data: the CloudEvents attributes,
// the key, the headers and the record batch's own framing.
const EnvelopeReserve = 4 << 10

// MinEventBytes is the smallest event cap FitEvents accepts: below it, even
// the dead letters by reference of oversized events might not fit.
const MinEventBytes = 4 << 10

// batchLimits holds the record batch cap of each topic, which the client
// reads (ProducerBatchMaxBytesFn) when it first produces to the topic.
type batchLimits struct {
	max int32 // kafka.batch_max_bytes

	mu      sync.Mutex
	byTopic map[string]int32
}

func (l *batchLimits) batchBytes(topic string) int32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n, ok := l.byTopic[topic]; ok {
		return n
	}
	return l.max
}

func (l *batchLimits) set(topic string, n int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byTopic == nil {
		l.byTopic = make(map[string]int32)
	}
	l.byTopic[topic] = n
}

// FitEvents makes what the pipeline emits fit what Kafka accepts, so that no
// record is refused as too large in the middle of the stream. It reads the
// max.message.bytes of topics and of the dead-letter topic (which inherits
// the broker's message.max.bytes unless the topic sets its own), caps the
// client's record batches of each topic at the smaller of that and
// batch_max_bytes, and returns the largest event data, at most
// maxEventBytes, whose record fits every topic: the smallest limit less
// EnvelopeReserve. The caller caps the mapper with it
// (pipeline.Mapper.LimitEventBytes): larger events become dead letters by
// reference instead of stopping the flow.
//
// It logs a warning when a topic's limit lowers the cap below maxEventBytes,
// and refuses (an error naming the topic and what to do) when the cap would
// be below MinEventBytes. When the configurations cannot be read (no
// DESCRIBE_CONFIGS permission), it warns and assumes the broker default.
// Call it after EnsureTopics and before the first Publish.
func (p *Publisher) FitEvents(ctx context.Context, topics []string, maxEventBytes int) (int, error) {
	all := append(topics[:len(topics):len(topics)], p.cfg.DeadLetterTopic)
	limit, from := int(p.cfg.BatchMaxBytes), "kafka.batch_max_bytes"
	rcs, err := p.adm.DescribeTopicConfigs(ctx, all...)
	if err == nil {
		for _, rc := range rcs {
			if rc.Err != nil {
				err = fmt.Errorf("topic %q: %w", rc.Name, rc.Err)
				break
			}
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return 0, fmt.Errorf("read max.message.bytes of the event topics: %w", err)
		}
		p.log.Warn("cannot read max.message.bytes of the event topics; assuming the broker default of 1 MiB: events above it would stop the flow", "err", err)
		if limit > defaultMaxMessageBytes {
			limit, from = defaultMaxMessageBytes, "Kafka's default message.max.bytes"
		}
	}
	for _, rc := range rcs {
		for _, c := range rc.Configs {
			if c.Key != "max.message.bytes" || c.Value == nil {
				continue
			}
			n, err := strconv.Atoi(*c.Value)
			if err != nil || n <= 0 {
				return 0, fmt.Errorf("topic %q: max.message.bytes %q is not a positive number", rc.Name, *c.Value)
			}
			if n < int(p.cfg.BatchMaxBytes) {
				p.limits.set(rc.Name, int32(n))
			}
			if n < limit {
				limit, from = n, fmt.Sprintf("max.message.bytes of topic %q", rc.Name)
			}
		}
	}
	fit := limit - EnvelopeReserve
	if fit < MinEventBytes {
		return 0, fmt.Errorf("%s is %d bytes: too small for cdcflow's events and dead letters (at least %d bytes); raise it (kafka-configs --alter --add-config max.message.bytes=...), or raise kafka.batch_max_bytes",
			from, limit, MinEventBytes+EnvelopeReserve)
	}
	if fit >= maxEventBytes {
		return maxEventBytes, nil
	}
	level := slog.LevelInfo
	if limit+EnvelopeReserve < maxEventBytes {
		level = slog.LevelWarn // a limit well below the mapping's: say so
	}
	p.log.Log(ctx, level, "events above the Kafka record limit become dead letters by reference",
		"max_event_bytes", fit, "mapping_max_event_bytes", maxEventBytes, "limit", from, "limit_bytes", limit, "envelope_reserve", EnvelopeReserve)
	return fit, nil
}

// defaultMaxMessageBytes is Kafka's default message.max.bytes.
const defaultMaxMessageBytes = 1048588

// BatchMaxBytes returns the record batch cap of topic: batch_max_bytes, or
// the topic's max.message.bytes when FitEvents found it smaller. Another
// producer of the same topics (a TxPublisher) caps its batches with it
// (kgo.ProducerBatchMaxBytesFn), so that it too never sends a batch the
// broker refuses.
func (p *Publisher) BatchMaxBytes(topic string) int32 { return p.limits.batchBytes(topic) }
