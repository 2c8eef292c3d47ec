package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrClosed is reported for batches published after Close.
var ErrClosed = errors.New("kafka: publisher closed")

// RecordTooLargeError reports a record the broker refused as too large.
// It is not fatal to the stream: the pipeline's per-event size cap should
// have turned the event into a dead letter by reference, so the caller
// dead-letters it and goes on. It unwraps to the broker's error.
type RecordTooLargeError struct {
	Topic string
	Bytes int // key + value + headers
	Err   error
}

func (e *RecordTooLargeError) Error() string {
	return fmt.Sprintf("record of %d bytes for topic %q too large for the broker: %v", e.Bytes, e.Topic, e.Err)
}

func (e *RecordTooLargeError) Unwrap() error { return e.Err }

// FatalError reports records Kafka refused for a reason that neither a retry
// nor a dead letter can fix: an authorization failure, a missing or invalid
// topic, a topic or broker configuration the records cannot meet. The flow
// must stop; Hint says what an operator does about it. Nothing past the last
// acknowledged batch was confirmed to the source, so the next start sends the
// rest again. It unwraps to the broker's (or client's) error.
type FatalError struct {
	Topic string
	Err   error
	// Hint is what to do, in a sentence naming the topic.
	Hint string
}

func (e *FatalError) Error() string {
	return fmt.Sprintf("kafka refused records for topic %q: %v; %s (nothing past the last acknowledged event was confirmed to PostgreSQL: the next start sends the rest again)", e.Topic, e.Err, e.Hint)
}

func (e *FatalError) Unwrap() error { return e.Err }

// fatalHint says what an operator does about a non-retryable produce error
// for topic.
func fatalHint(topic string, err error) string {
	switch {
	case errors.Is(err, kerr.TopicAuthorizationFailed):
		return fmt.Sprintf("the principal cdcflow authenticates as may not write to it: grant it WRITE and DESCRIBE on topic %q (Kafka ACLs), then start cdcflow again", topic)
	case errors.Is(err, kerr.ClusterAuthorizationFailed):
		return "the principal cdcflow authenticates as may not use the idempotent producer: grant it IDEMPOTENT_WRITE on the cluster (Kafka ACLs), then start cdcflow again"
	case errors.Is(err, kerr.TransactionalIDAuthorizationFailed):
		return "the principal cdcflow authenticates as may not use its transactional id: grant it WRITE and DESCRIBE on the transactional id, then start cdcflow again"
	case errors.Is(err, kerr.SaslAuthenticationFailed):
		return "check kafka.sasl.mechanism, kafka.sasl.user and kafka.sasl.password, then start cdcflow again"
	case errors.Is(err, kerr.UnknownTopicOrPartition), errors.Is(err, kerr.UnknownTopicID):
		return fmt.Sprintf("topic %q is gone (deleted while cdcflow ran?): cdcflow creates its topics when it starts, so start it again (a topic created by hand must keep the partition count recorded in the metadata topic)", topic)
	case errors.Is(err, kerr.InvalidTopicException):
		return fmt.Sprintf("%q is not a valid topic name: correct the mapping's topics", topic)
	case errors.Is(err, kerr.UnsupportedCompressionType):
		return "the broker does not support the codec: set kafka.compression to one it does (gzip, or none), then start cdcflow again"
	case errors.Is(err, kerr.InvalidRecord), errors.Is(err, kerr.PolicyViolation), errors.Is(err, kerr.InvalidTimestamp),
		errors.Is(err, kerr.CorruptMessage):
		return fmt.Sprintf("the broker refused the records under the configuration of topic %q (e.g. message.timestamp.type, cleanup.policy=compact with records without a key, or a policy): correct the topic's configuration, then start cdcflow again", topic)
	case errors.Is(err, kerr.InvalidProducerEpoch), errors.Is(err, kerr.ProducerFenced):
		return "another cdcflow process with the same transactional id took over: run one cdcflow per slot"
	}
	return fmt.Sprintf("correct the broker or topic %q configuration the error names, then start cdcflow again", topic)
}

// PartitionsChangedError reports an event topic whose partition count is no
// longer the one recorded when cdcflow first wrote it. Keys would now hash to
// other partitions and per-aggregate order would break, so the publisher
// refuses to run until an operator restores the count or starts a new topic.
type PartitionsChangedError struct {
	Topic             string
	Recorded, Current int32
}

func (e *PartitionsChangedError) Error() string {
	return fmt.Sprintf("topic %q has %d partitions but was created with %d: keys would move between partitions; restore the topic or use a new one", e.Topic, e.Current, e.Recorded)
}

// IsRetryable reports whether err is transient: retrying the same batch later
// may succeed (a broker unavailable, a leader moving, a timeout, a full
// buffer). Authorization failures, unknown topics, invalid configuration,
// a fenced producer and records too large are not retryable; the last is
// reported as *RecordTooLargeError so the caller can dead-letter the record.
// Context cancellation is not retryable: it means stop.
func IsRetryable(err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, context.Canceled), errors.Is(err, ErrClosed), errors.Is(err, kgo.ErrClientClosed):
		return false
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, kgo.ErrRecordTimeout),
		errors.Is(err, kgo.ErrRecordRetries), errors.Is(err, kgo.ErrMaxBuffered):
		return true
	}
	if _, ok := errors.AsType[*RecordTooLargeError](err); ok {
		return false
	}
	if _, ok := errors.AsType[*FatalError](err); ok {
		return false
	}
	if ke, ok := errors.AsType[*kerr.Error](err); ok {
		return ke.Retriable
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return true
	}
	return kgo.IsRetryableBrokerErr(err)
}

// errorKind names err for the cdcflow_kafka_errors_total metric.
func errorKind(err error) string {
	if _, ok := errors.AsType[*RecordTooLargeError](err); ok {
		return "too_large"
	}
	if errors.Is(err, context.Canceled) {
		return "canceled"
	}
	if IsRetryable(err) {
		return "retryable"
	}
	return "fatal"
}

// wrapRecordErr turns the broker's too-large errors into RecordTooLargeError
// and the broker errors no retry can fix into FatalError: the non-retriable
// codes, and UNKNOWN_TOPIC_OR_PARTITION (after kgo's UnknownTopicRetries) and
// CORRUPT_MESSAGE (which kgo never retries), retriable in name only.
// Client-side errors (timeouts, cancellation, a closed client) and other
// retriable codes pass as they are.
func wrapRecordErr(r *kgo.Record, err error) error {
	if errors.Is(err, kerr.MessageTooLarge) || errors.Is(err, kerr.RecordListTooLarge) {
		return &RecordTooLargeError{Topic: r.Topic, Bytes: recordBytes(r), Err: err}
	}
	ke, ok := errors.AsType[*kerr.Error](err)
	if !ok {
		return err
	}
	gaveUp := ke == kerr.UnknownTopicOrPartition || ke == kerr.UnknownTopicID || ke == kerr.CorruptMessage
	if ke.Retriable && !gaveUp {
		return err // only with a retry limit, which cdcflow does not set
	}
	return &FatalError{Topic: r.Topic, Err: err, Hint: fatalHint(r.Topic, err)}
}

// namesTopic reports whether err's message already names its topic.
func namesTopic(err error) bool {
	if _, ok := errors.AsType[*FatalError](err); ok {
		return true
	}
	_, ok := errors.AsType[*RecordTooLargeError](err)
	return ok
}

func recordBytes(r *kgo.Record) int {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}
