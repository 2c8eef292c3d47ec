package redisview

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/cdcflow/cdcflow/internal/testenv"
)

// TestIntegrationConsumerSASL runs the views' consumer against a kfake
// broker that requires SASL (SCRAM-SHA-256; the harness's broker has no
// security, so kfake is started directly): with the credentials in
// ClientOpts (what cmd/cdcflow builds from the kafka section's sasl and tls)
// it applies every event; with a wrong password it applies nothing.
func TestIntegrationConsumerSASL(t *testing.T) {
	ctx := t.Context()
	const user, password = "views", "s3cret-views"
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", user, password),
		kfake.SeedTopics(1, "shop.order"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	auth := func(pass string) kgo.Opt {
		return kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha256Mechanism())
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), auth(password), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prod.Close)
	var recs []partRecord
	for i := range 20 {
		id := fmt.Sprintf("o%d", i)
		recs = append(recs, partRecord{partition: 0, ev: orderEvent(id, "OrderRequested", uint64(i+1),
			map[string]any{"customer_id": "c1", "total": "2.50", "ordered_at": "2026-11-23T10:00:00Z"})})
	}
	produce(t, prod, "shop.order", recs)

	srv := testenv.Redis(t)
	rdb := srv.Client(t)
	defs := testDefinitions(t)
	newViews := func() *Views {
		v, err := New(Config{Prefix: srv.Prefix(t)}, defs, rdb)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Preflight(ctx); err != nil {
			t.Fatal(err)
		}
		return v
	}
	cfg := ConsumerConfig{Brokers: c.ListenAddrs(), Group: "views-sasl", Topics: []string{"shop.order"}, StopAtEnd: true,
		PointerInterval: 200 * time.Millisecond, Logger: testLogger(t)}

	// A wrong password: nothing is applied (the client keeps retrying the
	// authentication, so the run is bounded).
	bad := cfg
	bad.ClientOpts = []kgo.Opt{auth("wrong-" + password)}
	bctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	v := newViews()
	if err := runConsumer(t, bctx, bad, v); err == nil {
		t.Fatal("the consumer with a wrong password finished")
	}
	if stored, err := v.Offsets(ctx, "shop.order", []int32{0}); err != nil || len(stored) != 0 {
		t.Fatalf("with a wrong password: stored offsets %v, %v; want none", stored, err)
	}

	good := cfg
	good.ClientOpts = []kgo.Opt{auth(password)}
	gctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := runConsumer(t, gctx, good, v); err != nil {
		t.Fatalf("consumer with SASL: %v", err)
	}
	rd, err := NewReader(defs, rdb, v.cfg.Prefix, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if e, err := rd.At(1).Entity(ctx, "order", r.ev.AggregateID); err != nil || e["status"] != "requested" {
			t.Errorf("order %s = %v, %v; want it applied", r.ev.AggregateID, e, err)
		}
	}
}
