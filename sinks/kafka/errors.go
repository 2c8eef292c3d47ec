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

// wrapRecordErr turns the broker's too-large errors into RecordTooLargeError.
func wrapRecordErr(r *kgo.Record, err error) error {
	if errors.Is(err, kerr.MessageTooLarge) || errors.Is(err, kerr.RecordListTooLarge) {
		return &RecordTooLargeError{Topic: r.Topic, Bytes: recordBytes(r), Err: err}
	}
	return err
}

func recordBytes(r *kgo.Record) int {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}
