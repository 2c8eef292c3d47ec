package kafka

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/cdcflow/cdcflow/pipeline"
)

// event returns the structured CloudEvents record of an event of type typ
// with data, as cdcflow run encodes it.
func event(t *testing.T, topic, typ, key string, pos uint32, data []byte, deadLetter bool) pipeline.Record {
	t.Helper()
	e := pipeline.Event{
		ID: fmt.Sprintf("id-%d", pos), Source: "postgres://1/db?tl=1", Type: typ, Version: 1,
		AggregateType: "order", AggregateID: key, Position: pipeline.MakePosition(0x100, pos, 0),
		Time: time.Unix(1700000000, 0).UTC(), Data: data, DeadLetter: deadLetter,
	}
	r, err := pipeline.EncodeEvent(e, topic, pipeline.Structured)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestIntegrationFitEvents checks the start-time fit to the topics' record
// limit: a topic whose max.message.bytes is below the mapping's cap lowers
// the cap, and a record batch of many small records to that topic stays
// within its limit (else the broker would refuse it mid-stream); a limit
// too small for any event is refused with a message naming the topic.
func TestIntegrationFitEvents(t *testing.T) {
	c := newCluster(t, 1)
	const limit = 64 << 10
	if err := c.CreateTopic("small", 1, map[string]string{"max.message.bytes": fmt.Sprint(limit)}); err != nil {
		t.Fatal(err)
	}
	p, _ := newPublisher(t, c, Config{Compression: "none", Linger: 50 * time.Millisecond})
	ctx := t.Context()
	if err := p.EnsureTopics(ctx, []string{"small", "big"}); err != nil {
		t.Fatal(err)
	}
	got, err := p.FitEvents(ctx, []string{"small", "big"}, pipeline.DefaultMaxEventBytes)
	if err != nil {
		t.Fatal(err)
	}
	if want := limit - EnvelopeReserve; got != want {
		t.Errorf("FitEvents = %d; want %d (the topic's limit less the envelope reserve)", got, want)
	}
	// An event of exactly the cap fits the topic with its envelope.
	rec := event(t, "small", "OrderNoted", "o1", 1, []byte(`"`+strings.Repeat("x", got-2)+`"`), false)
	// 200 records of 1 KiB in one linger window: one batch would be 200 KiB.
	recs := []pipeline.Record{rec}
	for i := range 200 {
		recs = append(recs, event(t, "small", "OrderNoted", "o1", uint32(i+2), []byte(`"`+strings.Repeat("y", 1<<10)+`"`), false))
	}
	a := newAcks(1)
	p.Publish(ctx, Batch{Records: recs}, a.onAck(0))
	a.wait(t)
	if a.errs[0] != nil {
		t.Fatalf("publish to a topic of max.message.bytes %d: %v", limit, a.errs[0])
	}

	// Unchanged when every limit is above the cap.
	if got, err := p.FitEvents(ctx, []string{"big"}, 100<<10); err != nil || got != 100<<10 {
		t.Errorf("FitEvents(big, 100 KiB) = %d, %v; want 100 KiB", got, err)
	}

	if err := c.CreateTopic("tiny", 1, map[string]string{"max.message.bytes": "5000"}); err != nil {
		t.Fatal(err)
	}
	_, err = p.FitEvents(ctx, []string{"tiny"}, pipeline.DefaultMaxEventBytes)
	if err == nil || !strings.Contains(err.Error(), `topic "tiny"`) || !strings.Contains(err.Error(), "raise it") {
		t.Errorf("FitEvents(tiny) = %v; want a refusal naming the topic and what to do", err)
	}
}

// TestIntegrationFatalErrorMessage checks that an authorization failure
// surfaces as a *FatalError whose message names the topic and what to do.
func TestIntegrationFatalErrorMessage(t *testing.T) {
	for _, code := range []int16{kerr.TopicAuthorizationFailed.Code, kerr.ClusterAuthorizationFailed.Code, kerr.InvalidRecord.Code} {
		t.Run(kerr.ErrorForCode(code).Error(), func(t *testing.T) {
			c := newCluster(t, 1)
			p, reg := newPublisher(t, c, Config{})
			ctx := t.Context()
			if err := p.EnsureTopics(ctx, []string{"orders"}); err != nil {
				t.Fatal(err)
			}
			c.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
				c.KeepControl()
				return produceErrs(kreq, code), nil, true
			})
			a := newAcks(1)
			p.Publish(ctx, Batch{Records: []pipeline.Record{event(t, "orders", "OrderNoted", "o1", 1, []byte(`{}`), false)}}, a.onAck(0))
			a.wait(t)
			err := a.errs[0]
			fe, ok := errors.AsType[*FatalError](err)
			if !ok || fe.Topic != "orders" || !errors.Is(err, kerr.ErrorForCode(code)) || IsRetryable(err) {
				t.Fatalf("ack = %v; want a *FatalError for topic orders wrapping %v", err, kerr.ErrorForCode(code))
			}
			msg := err.Error()
			for _, want := range []string{`topic "orders"`, "start cdcflow again", "next start sends the rest again"} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q does not say %q", msg, want)
				}
			}
			if strings.Count(msg, "orders") > 3 {
				t.Errorf("message %q repeats the topic", msg)
			}
			if got := testutil.ToFloat64(p.m.errors.WithLabelValues("fatal")); got != 1 {
				t.Errorf("cdcflow_kafka_errors_total{kind=fatal} = %v; want 1", got)
			}
			_ = reg
			t.Log(msg)
		})
	}
}

// TestIntegrationRetriesCounted fails produce requests with retriable codes
// (a request timed out, a leader moving) a few times: every record is
// acknowledged once, and the retries are counted.
func TestIntegrationRetriesCounted(t *testing.T) {
	c := newCluster(t, 1)
	p, _ := newPublisher(t, c, Config{})
	ctx := t.Context()
	if err := p.EnsureTopics(ctx, []string{"orders"}); err != nil {
		t.Fatal(err)
	}
	codes := []int16{kerr.RequestTimedOut.Code, kerr.NotLeaderForPartition.Code, kerr.RequestTimedOut.Code}
	var failed atomic.Int32
	c.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		n := failed.Add(1)
		if int(n) > len(codes) {
			c.DropControl()
			return nil, nil, false
		}
		return produceErrs(kreq, codes[n-1]), nil, true
	})
	a := newAcks(10)
	for b := range 10 {
		p.Publish(ctx, Batch{Records: []pipeline.Record{event(t, "orders", "OrderNoted", "o1", uint32(b), []byte(`{}`), false)}}, a.onAck(b))
	}
	a.wait(t)
	for i, err := range a.errs {
		if err != nil {
			t.Fatalf("ack %d = %v", i, err)
		}
	}
	if got := consume(t, c, "orders", 10); len(got) != 10 {
		t.Fatalf("read %d records; want 10", len(got))
	}
	retries := testutil.ToFloat64(p.m.retries)
	if retries < 1 {
		t.Errorf("cdcflow_kafka_retries_total = %v after %d failed produce requests; want at least 1", retries, failed.Load()-1)
	}
	if got := testutil.ToFloat64(p.m.events.WithLabelValues("orders", "OrderNoted")); got != 10 {
		t.Errorf("cdcflow_kafka_events_total{orders,OrderNoted} = %v; want 10", got)
	}
	t.Logf("%d produce requests failed, %v retries counted", failed.Load()-1, retries)
}

// TestIntegrationEventsByType checks the events metric and the dead letter's
// reason header: a control record counts once, a dead letter by reference
// counts as oversized and carries its reason.
func TestIntegrationEventsByType(t *testing.T) {
	c := newCluster(t, 1)
	p, _ := newPublisher(t, c, Config{Topics: TopicConfig{Partitions: 3}})
	ctx := t.Context()
	if err := p.EnsureTopics(ctx, []string{"orders"}); err != nil {
		t.Fatal(err)
	}
	dl, err := json.Marshal(pipeline.DeadLetter{Reason: "event OrderNoted of 9999 bytes exceeds max_event_bytes 100", Omitted: []string{"note"}})
	if err != nil {
		t.Fatal(err)
	}
	control := event(t, "orders", pipeline.SnapshotBeginType, "", 0, []byte(`{}`), false)
	control.AllPartitions = true
	recs := []pipeline.Record{
		control,
		event(t, "orders", "OrderNoted", "o1", 1, []byte(`{}`), false),
		event(t, "orders", "OrderNoted", "o2", 2, []byte(`{}`), false),
		event(t, "orders", "OrderShipped", "o1", 3, []byte(`{}`), false),
		event(t, "orders", pipeline.DeadLetterType, "o3", 4, dl, true),
	}
	a := newAcks(1)
	p.Publish(ctx, Batch{Records: recs}, a.onAck(0))
	a.wait(t)
	if a.errs[0] != nil {
		t.Fatal(a.errs[0])
	}
	for _, tt := range []struct {
		topic, typ string
		want       float64
	}{
		{"orders", pipeline.SnapshotBeginType, 1},
		{"orders", "OrderNoted", 2},
		{"orders", "OrderShipped", 1},
		{DefaultDeadLetterTopic, pipeline.DeadLetterType, 1},
	} {
		if got := testutil.ToFloat64(p.m.events.WithLabelValues(tt.topic, tt.typ)); got != tt.want {
			t.Errorf("cdcflow_kafka_events_total{%s,%s} = %v; want %v", tt.topic, tt.typ, got, tt.want)
		}
	}
	if got := testutil.ToFloat64(p.m.records.WithLabelValues("orders")); got != 6 {
		t.Errorf("cdcflow_kafka_records_total{orders} = %v; want 6 (3 control copies, 3 events)", got)
	}
	if got := testutil.ToFloat64(p.m.deadLetters.WithLabelValues("oversized")); got != 1 {
		t.Errorf("cdcflow_kafka_dead_letters_total{kind=oversized} = %v; want 1", got)
	}
	r := consume(t, c, DefaultDeadLetterTopic, 1)[0]
	hs := map[string]string{}
	for _, h := range r.Headers {
		hs[h.Key] = string(h.Value)
	}
	if hs[HeaderReason] != "event OrderNoted of 9999 bytes exceeds max_event_bytes 100" || hs["cdcflow-topic"] != "orders" {
		t.Errorf("dead letter headers %v; want the reason and the original topic", hs)
	}
}
