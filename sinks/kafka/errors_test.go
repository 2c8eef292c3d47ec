package kafka

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"
)

// TestWrapRecordErr checks how a failed record's error is classified: too
// large, fatal with a hint naming the topic, or passed on as it is.
func TestWrapRecordErr(t *testing.T) {
	r := &kgo.Record{Topic: "shop.order", Value: make([]byte, 10)}
	tests := []struct {
		err       error
		wantFatal bool
		wantLarge bool
		hint      string
	}{
		{kerr.TopicAuthorizationFailed, true, false, `grant it WRITE and DESCRIBE on topic "shop.order"`},
		{kerr.ClusterAuthorizationFailed, true, false, "IDEMPOTENT_WRITE"},
		{kerr.UnknownTopicOrPartition, true, false, `topic "shop.order" is gone`},
		{kerr.InvalidRecord, true, false, `configuration of topic "shop.order"`},
		{kerr.UnsupportedCompressionType, true, false, "kafka.compression"},
		{kerr.CorruptMessage, true, false, `topic "shop.order"`},
		{kerr.MessageTooLarge, false, true, ""},
		{kerr.NotLeaderForPartition, false, false, ""},
		{kerr.RequestTimedOut, false, false, ""},
		{kgo.ErrRecordTimeout, false, false, ""},
		{context.Canceled, false, false, ""},
		{ErrClosed, false, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			got := wrapRecordErr(r, tt.err)
			if !errors.Is(got, tt.err) {
				t.Errorf("wrapRecordErr(%v) = %v; does not wrap it", tt.err, got)
			}
			fe, fatal := errors.AsType[*FatalError](got)
			_, large := errors.AsType[*RecordTooLargeError](got)
			if fatal != tt.wantFatal || large != tt.wantLarge {
				t.Fatalf("wrapRecordErr(%v) = %T %v; want fatal %v, too large %v", tt.err, got, got, tt.wantFatal, tt.wantLarge)
			}
			if fatal {
				if fe.Topic != "shop.order" || !strings.Contains(got.Error(), tt.hint) || IsRetryable(got) {
					t.Errorf("fatal error %q: want topic shop.order, hint %q, not retryable", got, tt.hint)
				}
				if !namesTopic(fmt.Errorf("publish: %w", got)) {
					t.Errorf("namesTopic(%v) = false", got)
				}
			}
		})
	}
}

func TestClientLoggerDemotesInfo(t *testing.T) {
	var buf bytes.Buffer
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		buf.Reset()
		l := clientLogger{kslog.New(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: level})))}
		if l.Level() < kgo.LogLevelWarn {
			t.Fatalf("Level() = %v at %v; want at least warn", l.Level(), level)
		}
		if l.Level() >= kgo.LogLevelInfo {
			l.Log(kgo.LogLevelInfo, "metadata update")
		}
		l.Log(kgo.LogLevelWarn, "broker unreachable")
		got := buf.String()
		if !strings.Contains(got, "broker unreachable") {
			t.Errorf("at %v: warning not logged: %q", level, got)
		}
		if want := level == slog.LevelDebug; strings.Contains(got, "level=DEBUG msg=\"metadata update\"") != want {
			t.Errorf("at %v: info line logged at debug = %v; want %v: %q", level, !want, want, got)
		}
		if strings.Contains(got, "level=INFO") {
			t.Errorf("at %v: a franz-go line logged at INFO: %q", level, got)
		}
	}
}
