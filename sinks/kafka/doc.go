// Package kafka publishes cdcflow's records to Kafka with franz-go: the
// Publisher (at-least-once, asynchronous, acknowledgements in call order),
// topic creation with a durable record of each topic's partition count, and
// error classification for the caller's retry and dead-letter decisions.
//
// It imports pipeline for Record and never imports capture. It knows nothing
// of LSNs: the caller maps acknowledgements to source positions (through
// backpressure.Watermark in cdcflow run).
//
// # Delivery
//
// The client is idempotent with acks=all: a produce request retried after a
// timeout or a leader change never duplicates or reorders records within a
// partition. Records are partitioned by key with murmur2, exactly as Kafka's
// Java client does, so one aggregate's events stay in one partition, in
// order. Several batches may be in flight; Publish reports their
// acknowledgements strictly in call order. Control records (AllPartitions)
// are written to every partition of their topic; dead letters go to the
// dead-letter topic.
//
// # Concurrency
//
// Publisher is safe for concurrent use. New starts no goroutine of its own;
// the franz-go client's goroutines stop in Close. Acknowledgement callbacks
// run on client goroutines, one at a time.
//
// # Metrics
//
//	cdcflow_kafka_records_total{topic}      counter    records acknowledged (a control record once per partition)
//	cdcflow_kafka_events_total{topic,type}  counter    events acknowledged, by CloudEvents type (a control record once)
//	cdcflow_kafka_bytes_total{topic}        counter    bytes (key, value, headers) acknowledged
//	cdcflow_kafka_dead_letters_total{kind}  counter    dead letters acknowledged: oversized, unmappable
//	cdcflow_kafka_retries_total             counter    backoffs of the client before retrying after a transient error
//	cdcflow_kafka_records_skipped_total     counter    records not produced again on a restart: their partition held them (Resume)
//	cdcflow_kafka_commit_to_ack_seconds     histogram  source commit to Kafka acknowledgement, per batch
//	cdcflow_kafka_inflight_records          gauge      records produced, not yet acknowledged
//	cdcflow_kafka_inflight_bytes            gauge      bytes produced, not yet acknowledged
//	cdcflow_kafka_errors_total{kind}        counter    failed records: retryable, fatal, too_large, canceled
//	cdcflow_kafka_last_ack_timestamp_seconds gauge     when Kafka last acknowledged a record (0 before the first)
//	cdcflow_kafka_client_*                  franz-go's kprom plugin (requests, bytes, connections, ...)
//
// A nil *Metrics records nothing.
package kafka
