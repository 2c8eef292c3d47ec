package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Inspector reads what Kafka holds without producing or joining a group:
// the offsets of partitions and the cursor of the record at an offset
// (`cdcflow status`). It is safe for concurrent use; the caller owns it and
// must Close it.
type Inspector struct {
	conn []kgo.Opt
	cl   *kgo.Client
	adm  *kadm.Client
}

// PartitionOffsets are a partition's log start offset (the first record
// retention left) and its end (the last stable offset: the offset after the
// last record a read_committed consumer sees).
type PartitionOffsets struct {
	Start, End int64
}

// Len is the number of records the partition holds.
func (o PartitionOffsets) Len() int64 { return max(o.End-o.Start, 0) }

// LastRecord is the last record carrying a cursor at or before an offset.
type LastRecord struct {
	Offset int64
	Stream uint32
	Cursor Cursor
	Time   time.Time // the record's timestamp (the broker's or the producer's)
}

// NewInspector returns an Inspector connecting to cfg's brokers with cfg's
// TLS and SASL settings. It does not connect until used.
func NewInspector(cfg Config) (*Inspector, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	conn, err := cfg.connOpts()
	if err != nil {
		return nil, fmt.Errorf("create kafka inspector: %w", err)
	}
	cl, err := kgo.NewClient(conn...)
	if err != nil {
		return nil, fmt.Errorf("create kafka inspector: %w", err)
	}
	return &Inspector{conn: conn, cl: cl, adm: kadm.NewClient(cl)}, nil
}

// Close closes the Inspector's client.
func (i *Inspector) Close() { i.cl.Close() }

// Offsets returns the offsets of every partition of topics. A topic that
// does not exist is absent, not an error. It blocks on Kafka.
func (i *Inspector) Offsets(ctx context.Context, topics ...string) (map[string]map[int32]PartitionOffsets, error) {
	ends, err := i.adm.ListCommittedOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("list end offsets of %v: %w", topics, err)
	}
	starts, err := i.adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("list start offsets of %v: %w", topics, err)
	}
	out := make(map[string]map[int32]PartitionOffsets)
	var lerr error
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			if lerr == nil && !isUnknownTopic(o.Err) {
				lerr = fmt.Errorf("end offset of %s[%d]: %w", o.Topic, o.Partition, o.Err)
			}
			return
		}
		po := PartitionOffsets{End: o.Offset}
		if s, ok := starts.Lookup(o.Topic, o.Partition); ok && s.Err == nil {
			po.Start = s.Offset
		}
		if out[o.Topic] == nil {
			out[o.Topic] = make(map[int32]PartitionOffsets)
		}
		out[o.Topic][o.Partition] = po
	})
	return out, lerr
}

// RecordsBefore returns, for each partition of before, the last record
// carrying a cursor among the few (resumeWindow) before the offset given
// (exclusive): before an end offset, the last record a partition holds;
// before a consumer's next offset, the last record it consumed. Partitions
// with no such record are absent. It blocks on Kafka.
func (i *Inspector) RecordsBefore(ctx context.Context, before map[string]map[int32]int64) (map[string]map[int32]LastRecord, error) {
	starts := make(map[string]map[int32]kgo.Offset)
	last := make(map[string]map[int32]int64)
	for t, parts := range before {
		for p, off := range parts {
			if off <= 0 {
				continue
			}
			if starts[t] == nil {
				starts[t], last[t] = make(map[int32]kgo.Offset), make(map[int32]int64)
			}
			starts[t][p] = kgo.NewOffset().At(max(0, off-resumeWindow))
			last[t][p] = off - 1
		}
	}
	if len(starts) == 0 {
		return map[string]map[int32]LastRecord{}, nil
	}
	return readLast(ctx, i.conn, starts, last)
}

// isUnknownTopic reports whether err says a topic does not exist.
func isUnknownTopic(err error) bool {
	return errors.Is(err, kerr.UnknownTopicOrPartition) || errors.Is(err, kerr.UnknownTopicID)
}
