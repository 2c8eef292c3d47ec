package services

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// produce writes n records to topic with acks from all in-sync replicas and
// waits for every acknowledgement.
func produce(t *testing.T, addrs []string, topic string, from, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic(topic),
		kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for i := from; i < from+n; i++ {
		recs = append(recs, &kgo.Record{Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i)})
	}
	if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// consume reads topic from the start until it has n records, or fails.
func consume(t *testing.T, addrs []string, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []*kgo.Record
	deadline := time.Now().Add(20 * time.Second)
	for len(got) < n && time.Now().Before(deadline) {
		ctx, cancel := contextWithDeadline(t, deadline)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) { got = append(got, r) })
	}
	if len(got) != n {
		t.Fatalf("consumed %d records of %s; want %d", len(got), topic, n)
	}
	return got
}

func checkRecords(t *testing.T, recs []*kgo.Record) {
	t.Helper()
	for i, r := range recs {
		if want := fmt.Sprintf("v%d", i); string(r.Value) != want || r.Offset != int64(i) {
			t.Errorf("record %d = %s at offset %d; want %s at offset %d", i, r.Value, r.Offset, want, i)
		}
	}
}

func TestIntegrationKafkaRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	k, err := StartKafka(t.Context(), KafkaOptions{DataDir: dir, SyncWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	addrs := k.Addrs()
	produce(t, addrs, "orders", 0, 100)

	if err := k.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := k.Addrs(); got[0] != addrs[0] {
		t.Errorf("address after restart = %v; want %v", got, addrs)
	}
	produce(t, addrs, "orders", 100, 10)
	checkRecords(t, consume(t, addrs, "orders", 110))

	// Closed and started afresh on the same directory, as after a crash
	// of the process holding it.
	port := k.Port()
	k.Close()
	k2, err := StartKafka(t.Context(), KafkaOptions{DataDir: dir, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer k2.Close()
	checkRecords(t, consume(t, k2.Addrs(), "orders", 110))
}

func TestIntegrationKafkaWithoutDataDirForgets(t *testing.T) {
	k, err := StartKafka(t.Context(), KafkaOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	produce(t, k.Addrs(), "t", 0, 5)
	if err := k.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	produce(t, k.Addrs(), "t", 0, 1)
	recs := consume(t, k.Addrs(), "t", 1)
	if recs[0].Offset != 0 {
		t.Errorf("first offset after an in-memory restart = %d; want 0 (nothing kept)", recs[0].Offset)
	}
}

// TestIntegrationKafkaCrashImage copies the data directory of a running
// broker, as a crash would leave it, and starts a broker on the copy: every
// acknowledged record, in a topic created on first use, must be there.
func TestIntegrationKafkaCrashImage(t *testing.T) {
	dir := t.TempDir()
	k, err := StartKafka(t.Context(), KafkaOptions{DataDir: dir, SyncWrites: true, Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	produce(t, k.Addrs(), "auto", 0, 30)

	image := filepath.Join(t.TempDir(), "image")
	if err := os.CopyFS(image, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	k2, err := StartKafka(t.Context(), KafkaOptions{DataDir: image})
	if err != nil {
		t.Fatal(err)
	}
	defer k2.Close()
	recs := consume(t, k2.Addrs(), "auto", 30)
	parts := map[int32]bool{}
	for _, r := range recs {
		parts[r.Partition] = true
	}
	if len(parts) < 2 {
		t.Errorf("records landed in partitions %v; want them spread over the 3 of an auto-created topic", parts)
	}
}
