// Package kafkatx holds what the two writers of Kafka transactions
// (sinks/kafka's TxPublisher and the CEP runner of cep/cepkafka) share:
// Watch counts the failed connections of a franz-go client, so that a
// transaction during which a connection to the brokers failed is aborted
// rather than committed (a broker restarted meanwhile may have aborted it
// without fencing the producer), and AwaitNoTransaction waits, after the
// fence, until the previous incarnation's transaction has ended.
//
// It imports no project package but backpressure.
package kafkatx

import (
	"net"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Watch counts, as kgo hooks (pass it to kgo.WithHooks), the connections
// to the brokers that failed: a dial, a request write or a response read
// that ended in an error. A connection closed for being idle is not
// counted. The zero value counts from 0; it is safe for concurrent use.
type Watch struct{ n atomic.Int64 }

// Failures returns how many connections have failed so far. A caller
// compares the count at a transaction's start with the one before its
// commit.
func (w *Watch) Failures() int64 { return w.n.Load() }

func (w *Watch) failed(err error) {
	if err != nil {
		w.n.Add(1)
	}
}

// OnBrokerConnect implements kgo.HookBrokerConnect.
func (w *Watch) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	w.failed(err)
}

// OnBrokerWrite implements kgo.HookBrokerWrite.
func (w *Watch) OnBrokerWrite(_ kgo.BrokerMetadata, _ int16, _ int, _, _ time.Duration, err error) {
	w.failed(err)
}

// OnBrokerRead implements kgo.HookBrokerRead.
func (w *Watch) OnBrokerRead(_ kgo.BrokerMetadata, _ int16, _ int, _, _ time.Duration, err error) {
	w.failed(err)
}

var (
	_ kgo.HookBrokerConnect = (*Watch)(nil)
	_ kgo.HookBrokerWrite   = (*Watch)(nil)
	_ kgo.HookBrokerRead    = (*Watch)(nil)
)
