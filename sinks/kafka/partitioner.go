package kafka

import "github.com/twmb/franz-go/pkg/kgo"

// partitioner sends a record whose Partition is preset (>= 0) to that
// partition, and hashes every other record's key with murmur2 exactly as
// Kafka's default partitioner does, so producers in other languages agree on
// where a key lives. Records without a key go to partition 0: every cdcflow
// record has a key, and the choice must be deterministic.
type partitioner struct{}

func (partitioner) ForTopic(string) kgo.TopicPartitioner {
	return &topicPartitioner{hash: kgo.StickyKeyPartitioner(nil).ForTopic("")}
}

type topicPartitioner struct {
	hash kgo.TopicPartitioner // murmur2 for records with a key
}

// RequiresConsistency is always true: a key must never move to another
// partition because its own is briefly unavailable, and a control record
// must reach the partition it was written for.
func (*topicPartitioner) RequiresConsistency(*kgo.Record) bool { return true }

func (p *topicPartitioner) Partition(r *kgo.Record, n int) int {
	switch {
	case r.Partition >= 0:
		// Out of range means the topic shrank, which Kafka does not allow;
		// the client then fails the record with a clear error.
		return int(r.Partition)
	case r.Key == nil:
		return 0
	}
	return p.hash.Partition(r, n)
}
