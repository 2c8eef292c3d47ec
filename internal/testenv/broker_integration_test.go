package testenv

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestIntegrationBrokerProcessKill(t *testing.T) {
	b := BrokerProcess(t, "")
	cl := b.Client(t, kgo.RequiredAcks(kgo.AllISRAcks()))
	produceN(t, cl, "orders", 0, 100)

	if err := b.Kill(); err != nil {
		t.Fatal(err)
	}
	b.Restart(t)
	produceN(t, cl, "orders", 100, 20) // the same client reconnects
	consumeAll(t, b.Addrs(), "orders", 120)

	// A clean stop keeps everything too.
	b.Restart(t)
	consumeAll(t, b.Addrs(), "orders", 120)
}

func TestIntegrationBrokerProcessSharesDataDir(t *testing.T) {
	dir := t.TempDir()
	first := BrokerProcess(t, dir)
	produceN(t, first.Client(t), "t", 0, 10)
	if err := first.Kill(); err != nil {
		t.Fatal(err)
	}
	second := BrokerProcess(t, dir)
	consumeAll(t, second.Addrs(), "t", 10)
}
