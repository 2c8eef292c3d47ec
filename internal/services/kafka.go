package services

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DefaultKafkaHost is KafkaOptions.Host when it is empty: the broker
// listens on the loopback interface only.
const DefaultKafkaHost = "127.0.0.1"

// KafkaOptions configures StartKafka. The zero value is an in-memory broker
// on a free port of 127.0.0.1 that creates topics of one partition on
// first use.
type KafkaOptions struct {
	// DataDir is where the broker persists topics, records, groups and
	// committed offsets, reloading them when it starts again on the same
	// directory; created if missing. Empty keeps everything in memory, so
	// Restart starts empty.
	DataDir string
	// SyncWrites makes the broker fsync every produced batch before
	// acknowledging it. Without it an acknowledged batch sits in the page
	// cache: it survives the process dying but not the machine.
	SyncWrites bool
	// Host is the address to listen on; empty means 127.0.0.1. Clients are
	// told to connect to the address the broker is bound to.
	Host string
	// Port is the TCP port; 0 picks a free one, kept across Restart.
	Port int
	// Partitions is the partition count of topics created without one
	// (auto-created on first produce or metadata request, or created with
	// a count of -1); 0 means 1.
	Partitions int
	// NoAutoCreateTopics refuses to create unknown topics, as Kafka's
	// auto.create.topics.enable=false. By default a topic is created when a
	// client asks for it in a metadata request with auto-creation allowed
	// (kgo.AllowAutoTopicCreation).
	NoAutoCreateTopics bool
	// Log receives the broker's life cycle events and kfake's own log
	// (its errors and warnings as such, its request log at Debug); nil
	// discards them.
	Log *slog.Logger
}

// Kafka is a one-broker kfake cluster running in this process. Its methods
// are safe for concurrent use; the caller owns it and must Close it.
type Kafka struct {
	o    KafkaOptions
	port int
	log  *slog.Logger

	mu      sync.Mutex
	cluster *kfake.Cluster // nil once closed
}

// StartKafka starts the broker and returns once it is listening; with a
// DataDir holding an earlier broker's state, that state is loaded first.
// Clients connect with kgo.SeedBrokers(k.Addrs()...).
func StartKafka(ctx context.Context, o KafkaOptions) (*Kafka, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start kafka: %w", err)
	}
	if o.Host == "" {
		o.Host = DefaultKafkaHost
	}
	if o.Partitions <= 0 {
		o.Partitions = 1
	}
	k := &Kafka{o: o, port: o.Port, log: o.Log}
	if k.log == nil {
		k.log = slog.New(slog.DiscardHandler)
	}
	pick := k.port == 0
	for attempt := 1; ; attempt++ {
		if pick {
			p, err := freePort()
			if err != nil {
				return nil, fmt.Errorf("start kafka: %w", err)
			}
			k.port = p
		}
		err := k.start()
		if err == nil {
			return k, nil
		}
		// Another process may take a free port between our probe and the
		// broker's bind; pick again in that case only, at once: this is
		// not a backoff loop, as waiting would not free the port.
		if !pick || attempt == 3 || !errors.Is(err, errPortInUse) {
			return nil, fmt.Errorf("start kafka: %w", err)
		}
	}
}

// start creates the cluster on k.port. The caller holds k.mu or owns k
// alone.
func (k *Kafka) start() error {
	listen := func(network, _ string) (net.Listener, error) {
		// kfake asks for 127.0.0.1:port; we honour Host instead.
		ln, err := net.Listen(network, net.JoinHostPort(k.o.Host, strconv.Itoa(k.port)))
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("%w: %w", errPortInUse, err)
		}
		return ln, err
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(k.port),
		kfake.ListenFn(listen),
		kfake.DefaultNumPartitions(k.o.Partitions),
		kfake.WithLogger(kfakeLogger{k.log.With("component", "kfake")}),
	}
	if k.o.DataDir != "" {
		opts = append(opts, kfake.DataDir(k.o.DataDir))
	}
	if k.o.SyncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("start kfake on %s port %d: %w", k.o.Host, k.port, err)
	}
	if !k.o.NoAutoCreateTopics {
		autoCreateTopics(c, int32(k.o.Partitions))
	}
	k.cluster = c
	k.log.Info("kafka broker started", "addr", c.ListenAddrs()[0], "data_dir", k.o.DataDir, "sync_writes", k.o.SyncWrites)
	return nil
}

// Addrs returns the broker's address, for kgo.SeedBrokers. It does not
// change across Restart.
func (k *Kafka) Addrs() []string {
	return []string{net.JoinHostPort(k.o.Host, strconv.Itoa(k.port))}
}

// Port returns the broker's TCP port.
func (k *Kafka) Port() int { return k.port }

// Cluster returns the running kfake cluster, for fault injection with
// ControlKey; nil after Close. Restart replaces it, and controls installed
// on the old one are gone with it.
func (k *Kafka) Cluster() *kfake.Cluster {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.cluster
}

// Close stops the broker: it stops listening, drops every client
// connection and, with a DataDir, writes its state there. It blocks until
// done. Close on a closed broker does nothing.
func (k *Kafka) Close() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.close()
}

func (k *Kafka) close() {
	if k.cluster == nil {
		return
	}
	k.cluster.Close()
	k.cluster = nil
	k.log.Info("kafka broker closed", "port", k.port)
}

// Restart closes the broker if it runs and starts it again on the same
// DataDir and port, so clients reconnect to the same address and find what
// was persisted. It blocks until the broker listens again.
func (k *Kafka) Restart(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.close()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("restart kafka: %w", err)
	}
	if err := k.start(); err != nil {
		return fmt.Errorf("restart kafka: %w", err)
	}
	return nil
}

// autoCreateTopics makes c create the unknown topics a metadata request
// names when the request allows auto-creation, like Kafka's
// auto.create.topics.enable. kfake's own AllowAutoTopicCreation does not
// write the new topic to its DataDir (only CreateTopics and a clean Close
// do), so after a SIGKILL the topic and every record acknowledged in it
// would be gone; Cluster.CreateTopic persists it before the metadata
// response names it, hence before any record can be produced to it.
func autoCreateTopics(c *kfake.Cluster, partitions int32) {
	c.ControlKey(int16(kmsg.Metadata), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		req := kreq.(*kmsg.MetadataRequest)
		if !req.AllowAutoTopicCreation {
			return nil, nil, false
		}
		for _, t := range req.Topics {
			if t.Topic == nil || *t.Topic == "" {
				continue // a request by topic ID creates nothing
			}
			// Control functions run while the cluster serves admin calls,
			// so CreateTopic cannot deadlock here. An existing topic
			// answers TOPIC_ALREADY_EXISTS and an invalid name
			// INVALID_TOPIC_EXCEPTION; the metadata handler then answers
			// for the topic as it is.
			_ = c.CreateTopic(*t.Topic, partitions, nil)
		}
		return nil, nil, false // not handled: the cluster answers as usual
	})
}

// kfakeLogger passes kfake's log to slog. kfake logs every request at its
// Info level, which is Debug to us.
type kfakeLogger struct{ log *slog.Logger }

func (l kfakeLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	var lvl slog.Level
	switch level {
	case kfake.LogLevelError:
		lvl = slog.LevelError
	case kfake.LogLevelWarn:
		lvl = slog.LevelWarn
	default:
		lvl = slog.LevelDebug
	}
	ctx := context.Background()
	if l.log.Enabled(ctx, lvl) {
		l.log.Log(ctx, lvl, fmt.Sprintf(format, args...))
	}
}
