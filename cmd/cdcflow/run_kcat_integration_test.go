package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/cdcflow/cdcflow/internal/testenv"
)

// kcatMessage is one line of `kcat -J`: a message in kcat's JSON envelope.
type kcatMessage struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Offset    int64   `json:"offset"`
	Key       *string `json:"key"`
	Payload   *string `json:"payload"`
	// Headers alternate names and values.
	Headers []string `json:"headers"`
}

// TestIntegrationRunKcat has Debian's kcat (librdkafka, a client cdcflow
// shares no code with) read shop.order as `cdcflow run` wrote it: every
// message must be a structured CloudEvent the CloudEvents SDK accepts, with
// the attributes cdcflow promises and the aggregate id as key and subject.
func TestIntegrationRunKcat(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("kcat is required in CI (scripts/setup.sh installs it): %v", err)
		}
		t.Skipf("kcat not installed (apt-get install kcat): %v", err)
	}
	ctx := t.Context()
	db, seed := orderDB(t, testenv.Postgres(t), 60) // snapshot
	broker := testenv.Kafka(t)
	_, env := ordersRunEnv(t, db, broker.Addrs(), "kcat", "CDCFLOW_KAFKA_TOPICS_PARTITIONS=3")
	p := startRun(t, env...)
	fold := newOrderFold(consumer(t, broker.Addrs(), "shop.order"))
	awaitSnapshot(t, ctx, p, fold)
	installAudit(t, db)
	if _, err := loadOrders(ctx, db.DSN, seed+1, 120, 0); err != nil { // streamed
		t.Fatal(err)
	}
	awaitConverged(t, p, db, fold, 60*time.Second)

	out, err := exec.CommandContext(ctx, kcat, "-C", "-b", strings.Join(broker.Addrs(), ","),
		"-t", "shop.order", "-o", "beginning", "-e", "-J", "-q").Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("kcat: %v\n%s", err, stderr)
	}
	types := map[string]int{}
	n, bad := 0, 0
	parts := map[int32]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		n++
		var m kcatMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("kcat line %d is not JSON: %v\n%s", n, err, sc.Bytes())
		}
		where := fmt.Sprintf("%s/%d@%d", m.Topic, m.Partition, m.Offset)
		if err := checkKcatMessage(m); err != nil {
			if bad++; bad <= 5 {
				t.Errorf("%s: %v", where, err)
			}
			continue
		}
		var ce event.Event
		if err := json.Unmarshal([]byte(*m.Payload), &ce); err != nil {
			t.Errorf("%s: payload is not a structured CloudEvent: %v", where, err)
			continue
		}
		types[ce.Type()]++
		parts[m.Partition] = true
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if bad > 5 {
		t.Errorf("... %d bad messages in all", bad)
	}
	// Progress records keep coming while the database is idle: the two
	// readers compare the rest.
	if n-types["cdcflow.Progress"] != fold.records {
		t.Errorf("kcat read %d messages besides progress records; franz-go read %d", n-types["cdcflow.Progress"], fold.records)
	}
	if len(parts) != 3 || types["cdcflow.SnapshotBegin"] != 3 {
		t.Errorf("kcat saw partitions %v and %d snapshot begin markers; want 3 of each", parts, types["cdcflow.SnapshotBegin"])
	}
	if types["OrderRequested"] == 0 || types["OrderStateObserved"] == 0 {
		t.Errorf("event types seen by kcat %v; want both snapshot state and streamed events", types)
	}
	t.Logf("kcat read %d messages from partitions %v, by type %v", n, parts, types)
}

// checkKcatMessage checks one message as kcat saw it: a structured
// CloudEvent (content-type header), valid for the CloudEvents SDK, with
// every attribute cdcflow promises, JSON data, and the key as subject.
func checkKcatMessage(m kcatMessage) error {
	if m.Payload == nil {
		return fmt.Errorf("no payload")
	}
	var contentType string
	for i := 0; i+1 < len(m.Headers); i += 2 {
		if strings.EqualFold(m.Headers[i], "content-type") {
			contentType = m.Headers[i+1]
		}
	}
	if mt, _, err := mime.ParseMediaType(contentType); err != nil || mt != "application/cloudevents+json" {
		return fmt.Errorf("content-type header %q; want application/cloudevents+json", contentType)
	}
	var ce event.Event
	if err := json.Unmarshal([]byte(*m.Payload), &ce); err != nil {
		return fmt.Errorf("payload is not a CloudEvent: %w", err)
	}
	if err := ce.Validate(); err != nil {
		return fmt.Errorf("invalid CloudEvent: %w", err)
	}
	var attrs map[string]json.RawMessage
	if err := json.Unmarshal([]byte(*m.Payload), &attrs); err != nil {
		return err
	}
	for _, a := range []string{"specversion", "id", "source", "type", "time", "sequence", "aggregatetype"} {
		if _, ok := attrs[a]; !ok {
			return fmt.Errorf("no %q attribute in %s", a, *m.Payload)
		}
	}
	if ce.SpecVersion() != "1.0" {
		return fmt.Errorf("specversion %q", ce.SpecVersion())
	}
	if ce.Time().IsZero() {
		return fmt.Errorf("time %s does not parse", attrs["time"])
	}
	if _, control := attrs["control"]; !control {
		if m.Key == nil || ce.Subject() != *m.Key {
			return fmt.Errorf("subject %q; want the record key %v", ce.Subject(), m.Key)
		}
		if !json.Valid(ce.Data()) || ce.DataContentType() != "application/json" {
			return fmt.Errorf("data %q of content type %q; want JSON", ce.Data(), ce.DataContentType())
		}
	}
	return nil
}
