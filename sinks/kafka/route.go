package kafka

import (
	"context"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/pipeline"
)

// router turns a pipeline.Record into the kgo records that carry it: one
// keyed record, one per partition for AllPartitions records, and dead
// letters redirected to the dead-letter topic. It is safe for concurrent use.
type router struct {
	deadLetterTopic string
	adm             *kadm.Client

	mu    sync.Mutex
	parts map[string]int32 // partition count of each topic, from EnsureTopics or metadata

	act activity // what was last written to each partition (progress.go)
}

func newRouter(cfg Config, adm *kadm.Client) *router {
	return &router{deadLetterTopic: cfg.DeadLetterTopic, adm: adm, parts: make(map[string]int32)}
}

func (rt *router) setCounts(counts map[string]int32) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for t, n := range counts {
		rt.parts[t] = n
	}
}

// records returns the kgo records for r, with the headers extra appended
// to r's. Hashed records get Partition -1, which the package's partitioner
// reads as "hash the key".
func (rt *router) records(ctx context.Context, r pipeline.Record, extra []kgo.RecordHeader) ([]*kgo.Record, error) {
	topic := r.Topic
	headers := make([]kgo.RecordHeader, len(r.Headers), len(r.Headers)+len(extra)+1)
	for i, h := range r.Headers {
		headers[i] = kgo.RecordHeader{Key: h.Key, Value: h.Value}
	}
	headers = append(headers, extra...)
	if r.DeadLetter {
		topic = rt.deadLetterTopic
		if r.Topic != "" && r.Topic != topic {
			headers = append(headers, kgo.RecordHeader{Key: "cdcflow-topic", Value: []byte(r.Topic)})
		}
	}
	if !r.AllPartitions {
		out := []*kgo.Record{{Topic: topic, Key: r.Key, Value: r.Value, Headers: headers, Partition: -1}}
		rt.noteRecords(r, out)
		return out, nil
	}
	n, err := rt.partitionCount(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := make([]*kgo.Record, n)
	for i := range n {
		out[i] = &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value, Headers: headers, Partition: i}
	}
	if r.Partitions != nil {
		out = only(out, r.Partitions)
	}
	rt.noteRecords(r, out)
	return out, nil
}

// keyHash is Kafka's default partitioner for keyed records (murmur2), as
// the package's partitioner applies it; for a record with a key it keeps no
// state, so one serves every goroutine.
var keyHash = kgo.StickyKeyPartitioner(nil).ForTopic("")

// partition returns the partition the package's partitioner sends the
// hashed record kr to.
func (rt *router) partition(ctx context.Context, kr *kgo.Record) (int32, error) {
	if kr.Key == nil {
		return 0, nil
	}
	n, err := rt.partitionCount(ctx, kr.Topic)
	if err != nil {
		return 0, err
	}
	return int32(keyHash.Partition(kr, int(n))), nil
}

// partitionCount returns the number of partitions of topic, from
// EnsureTopics or else from the cluster's metadata.
func (rt *router) partitionCount(ctx context.Context, topic string) (int32, error) {
	rt.mu.Lock()
	n, ok := rt.parts[topic]
	rt.mu.Unlock()
	if ok {
		return n, nil
	}
	details, err := rt.adm.ListTopics(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("look up partitions of topic %q: %w", topic, err)
	}
	d := details[topic]
	if d.Err != nil {
		return 0, fmt.Errorf("look up partitions of topic %q: %w", topic, d.Err)
	}
	if len(d.Partitions) == 0 {
		return 0, fmt.Errorf("look up partitions of topic %q: no partitions", topic)
	}
	n = int32(len(d.Partitions))
	rt.setCounts(map[string]int32{topic: n})
	return n, nil
}
