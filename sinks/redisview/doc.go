// Package redisview materializes domain events read from Kafka into Redis
// views (the CQRS read side): declarative entity, index, aggregate and history
// views (ParseDefinitions), applied per Kafka partition in one atomic Lua step
// with the partition's offset (Views.Apply), consumed by a consumer group
// that resumes from the offsets stored with the views (Consumer), kept in
// generations that a replay rebuilds and swaps in atomically (Swap,
// DeleteGeneration), and read back merged over partitions (Reader).
//
// It imports pipeline (events, envelope, decimals), go-redis and franz-go;
// it never imports capture.
//
// Consistency. Each batch of one partition is one EVALSHA that (1) checks the
// partition's stored offset is the one the batch started from, else refuses
// with ErrFenced (a zombie after a rebalance cannot interleave), (2) checks
// that the stored position of every aggregate it touches is still the one the
// batch was computed from (Go reads the old entity state, folds the events and
// derives index and aggregate deltas from old and new state; a changed
// position makes Apply compute again), (3) writes entity hashes, index sorted
// sets, aggregate counters (HINCRBY of scaled integers), history lists and
// positions, and (4) stores the next offset. An event whose position is not
// above its aggregate's stored one changes nothing, except a snapshot state
// event (Epoch > 0) at an equal position, which is idempotent and applied.
// The same step stores what the query side reads (applied.go): the
// partition's applied source position, one change stream entry, and the
// top sorted sets of the aggregate groups it changed; Snapshot.Applied,
// Changes and Top read them.
//
// Concurrency. Definitions, Views and Reader are safe for concurrent use;
// batches of one partition must be applied one at a time. Consumer.Run owns
// its goroutines and stops them when its context ends.
//
// Metrics (NewMetrics; a nil *Metrics records nothing):
//
//	cdcflow_views_events_applied_total{view}              events that changed a view (derived views: per aggregate and batch)
//	cdcflow_views_events_skipped_total{aggregate}         stale or duplicate events ignored
//	cdcflow_views_apply_seconds                           histogram: one partition batch
//	cdcflow_views_apply_conflicts_total                   batches computed again
//	cdcflow_views_fenced_total{topic}                     batches refused: offset moved
//	cdcflow_views_last_applied_event_timestamp_seconds    staleness = time() - this
//	cdcflow_views_consumer_lag_records{topic,partition}   high watermark - next offset
//	cdcflow_views_dead_letters_total{topic}               poison records dead-lettered
//	cdcflow_views_replay_events_done                      replay progress
//	cdcflow_views_replay_events_total                     replay target
//	cdcflow_views_replay_last_progress_timestamp_seconds  when a replay last applied records (or started)
//	cdcflow_views_staleness_seconds{partition}            scrape time - commit time of the newest event applied on the partition
//	cdcflow_views_applied_commit_timestamp_seconds{partition}  commit time of what moved the applied position
package redisview
