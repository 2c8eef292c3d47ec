package testenv

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/internal/services"
)

// KafkaServer is an in-process kfake broker for one test. The embedded
// *services.Kafka gives Addrs, Port, Cluster (for ControlKey fault
// injection), Close and Restart.
type KafkaServer struct {
	*services.Kafka
	// DataDir is where the broker persists its state; Restart reloads it.
	DataDir string
}

// Kafka starts a kfake broker for this test alone, on a free port of
// 127.0.0.1, persisting to a directory of t.TempDir with SyncWrites, and
// creating topics of one partition on first use. It is closed in
// t.Cleanup.
func Kafka(t testing.TB) *KafkaServer {
	t.Helper()
	return NewKafka(t, services.KafkaOptions{SyncWrites: true})
}

// NewKafka is Kafka with the options o, e.g. more partitions per topic or
// no automatic topic creation. An empty o.DataDir means a directory of
// t.TempDir; o.Port is best left 0 (a free port).
func NewKafka(t testing.TB, o services.KafkaOptions) *KafkaServer {
	t.Helper()
	if o.DataDir == "" {
		o.DataDir = t.TempDir()
	}
	k, err := services.StartKafka(t.Context(), o)
	if err != nil {
		t.Fatalf("start kafka: %v", err)
	}
	t.Cleanup(k.Close)
	return &KafkaServer{Kafka: k, DataDir: o.DataDir}
}

// Client returns a kgo client seeded with the broker's address, with
// automatic topic creation allowed and opts added; it is closed in
// t.Cleanup.
func (k *KafkaServer) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return newClient(t, k.Addrs(), opts)
}

func newClient(t testing.TB, addrs []string, opts []kgo.Opt) *kgo.Client {
	t.Helper()
	opts = append([]kgo.Opt{kgo.SeedBrokers(addrs...), kgo.AllowAutoTopicCreation()}, opts...)
	c, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatalf("new kafka client: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}
