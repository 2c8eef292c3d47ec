package kafka

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/pipeline"
)

// End LSN marks (pipeline.HeaderEndLSN)
//
// The flow sets Record.EndLSN on the records of each source transaction
// whose commit came in the same chunk. Of those, the last record of a batch
// in each partition gets the header: the records after it in the partition
// belong to later transactions, so once a reader has it, every transaction
// ending at or before its end LSN is in the partition up to it (the
// transaction's records of earlier chunks were published earlier). Which
// partition a keyed record goes to is known only here; the publisher sets
// it on the record (the partitioner's own choice, murmur2), so it is hashed
// once.

// endMark is what a record of a batch gets: the partition of a keyed record
// (-1: not computed) and the partitions in which it is the last record
// carrying an end LSN.
type endMark struct {
	part   int32
	lastIn []int32
}

// endMarks returns the marks of the n records rec returns, nil when none
// carries an end LSN. Dead letters are not marked (the views do not read
// them).
func (rt *router) endMarks(ctx context.Context, n int, rec func(i int) *pipeline.Record) ([]endMark, error) {
	type topicPart struct {
		topic string
		part  int32
	}
	var marks []endMark
	var last map[topicPart]int
	for i := range n {
		r := rec(i)
		if r.EndLSN == 0 || r.DeadLetter {
			continue
		}
		if marks == nil {
			marks = make([]endMark, n)
			for j := range marks {
				marks[j].part = -1
			}
			last = map[topicPart]int{}
		}
		count, err := rt.partitionCount(ctx, r.Topic)
		if err != nil {
			return nil, err
		}
		switch {
		case r.AllPartitions && r.Partitions != nil:
			for _, p := range r.Partitions {
				last[topicPart{r.Topic, p}] = i
			}
		case r.AllPartitions:
			for p := range count {
				last[topicPart{r.Topic, p}] = i
			}
		default:
			p := int32(0)
			if r.Key != nil {
				p = int32(keyHash.Partition(&kgo.Record{Key: r.Key}, int(count)))
			}
			marks[i].part = p
			last[topicPart{r.Topic, p}] = i
		}
	}
	for tp, i := range last {
		marks[i].lastIn = append(marks[i].lastIn, tp.part)
	}
	return marks, nil
}

// applyMark sets the partition of a keyed record to the one endMarks
// computed, and adds the end LSN header to the copies of r in the
// partitions where r is the last record that carries one.
func (rt *router) applyMark(r pipeline.Record, krs []*kgo.Record, m endMark) {
	if m.part >= 0 && len(krs) == 1 && krs[0].Partition < 0 {
		krs[0].Partition = m.part
	}
	if len(m.lastIn) == 0 {
		return
	}
	var val []byte
	for _, kr := range krs {
		if !slices.Contains(m.lastIn, kr.Partition) {
			continue
		}
		if val == nil {
			val = pipeline.AppendEndLSN(make([]byte, 0, 16), r.EndLSN)
		}
		// The copies of an AllPartitions record share one header slice:
		// this copy gets its own.
		kr.Headers = append(kr.Headers[:len(kr.Headers):len(kr.Headers)], kgo.RecordHeader{Key: pipeline.HeaderEndLSN, Value: val})
		rt.act.proved(kr.Topic, kr.Partition, uint64(r.EndLSN))
	}
}
