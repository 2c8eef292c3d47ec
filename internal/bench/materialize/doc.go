// Command materialize measures how the materializer scales by partitions:
// events per second applied by 1, 2 and 4 `cdcflow materialize` processes
// (-instances) in one consumer group, on one topic of -partitions
// partitions, against one redis-server and against a Redis Cluster of
// three masters (-targets).
//
// It builds the real binary once (go build ./cmd/cdcflow), starts the
// kfake broker in this process (internal/services) and writes -events
// reference order events into shop.order once, encoded as the pipeline
// encodes them (structured CloudEvents; each order requested, promised,
// then accepted for two in three orders, keyed and partitioned by order
// id). For each target and each instance count it then starts that many
// materializers with a fresh key prefix and consumer group over the
// reference views (deploy/examples/orders/views.yaml and its mapping), and
// measures from the moment the group is stable (every member holds
// partitions/instances partitions, read with the Kafka admin API) until
// the offsets stored in Redis reach the end of every partition:
//
//   - events/s applied, and per instance (the partitions are split evenly);
//   - CPU per event of the materializers (sum over the processes, from
//     /proc), of Redis (INFO cpu, summed over the masters) and of this
//     process (the broker serving the fetches);
//   - how many cores the three together kept busy, which says where it
//     stops scaling on a small machine.
//
// Events applied before the group was stable are not counted, so a join or
// rebalance does not dilute the rate. Redis is flushed between
// measurements. The figures belong in docs/benchmarks.md and
// docs/scaling.md; measure on a quiet machine.
package main
