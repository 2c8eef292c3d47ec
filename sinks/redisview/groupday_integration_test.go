package redisview

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/internal/services"
	"github.com/cdcflow/cdcflow/internal/testenv"
)

// TestIntegrationRevenuePerDayAndCurrency applies orders through a replay
// from Kafka into real Redis and reads revenue per day and currency back,
// equal to a hand-computed expectation; a second replay gives the same
// groups. The plain day view next to it keeps its stored fields as they
// always were (count:<date>).
func TestIntegrationRevenuePerDayAndCurrency(t *testing.T) {
	ctx := t.Context()
	srv := testenv.Redis(t)
	rdb := srv.Client(t)
	prefix := srv.Prefix(t)
	k := testenv.NewKafka(t, services.KafkaOptions{Partitions: testPartitions})
	prod := k.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	src, err := os.ReadFile("testdata/groupday.views.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defs, err := ParseDefinitions(src)
	if err != nil {
		t.Fatal(err)
	}

	var recs []partRecord
	lsn := uint64(1)
	add := func(id, typ string, data map[string]any) {
		recs = append(recs, partRecord{partition: partitionOf(id), ev: orderEvent(id, typ, lsn, data)})
		lsn++
	}
	order := func(id, total, currency, at string) {
		add(id, "OrderRequested", map[string]any{"total": total, "currency": currency, "ordered_at": at})
	}
	order("o1", "12.30", "EUR", "2026-11-23T10:00:00Z")
	order("o2", "7.70", "EUR", "2026-11-23T22:30:00Z") // 23:30 in Berlin: still the 23rd
	order("o3", "5.00", "EUR", "2026-11-23T23:30:00Z") // 00:30 in Berlin: the 24th
	order("o4", "100.01", "USD", "2026-11-23T12:00:00Z")
	order("o5", "1.00", "USD", "2026-11-23T12:00:00Z") // never accepted
	order("o6", "2.50", "E|R%", "2026-11-24T08:00:00Z")
	order("o7", "3.00", "GBP", "2026-11-23T12:00:00Z") // accepted, then deleted
	order("o8", "4.00", "EUR", "2026-11-23T12:00:00Z") // accepted, then moved to USD
	for _, id := range []string{"o1", "o2", "o3", "o4", "o6", "o7", "o8"} {
		add(id, "OrderAccepted", nil)
	}
	add("o7", "OrderDeleted", nil)
	add("o8", "OrderCurrencyCorrected", map[string]any{"currency": "USD"})
	produce(t, prod, "shop.order", recs)

	// By hand: accepted orders only, Berlin dates.
	wantComposite := map[string]string{
		"2026-11-23|EUR":      "day=2026-11-23 currency=EUR count=2 revenue=20.00",
		"2026-11-24|EUR":      "day=2026-11-24 currency=EUR count=1 revenue=5.00",
		"2026-11-23|USD":      "day=2026-11-23 currency=USD count=2 revenue=104.01",
		"2026-11-24|E%7CR%25": "day=2026-11-24 currency=E|R% count=1 revenue=2.50",
	}
	wantPlain := map[string]string{
		"2026-11-23": "count=4 revenue=124.01",
		"2026-11-24": "count=2 revenue=7.50",
	}
	wantPlainFields := []string{"count:2026-11-23", "count:2026-11-24", "scale:revenue", "sum:revenue:2026-11-23", "sum:revenue:2026-11-24"}

	r, err := NewReader(defs, rdb, prefix, testPartitions)
	if err != nil {
		t.Fatal(err)
	}
	cc := ConsumerConfig{Brokers: k.Addrs(), Group: "views-groupday", Topics: []string{"shop.order"}, PointerInterval: 200 * time.Millisecond}
	for want := range int64(2) {
		gen, err := Replay(ctx, ReplayConfig{Consumer: cc, Views: Config{Prefix: prefix}}, defs, rdb)
		if err != nil || gen != want+1 {
			t.Fatalf("Replay = %d, %v; want %d, nil", gen, err, want+1)
		}
		s := r.At(gen)
		groups, err := s.Aggregate(ctx, "revenue_per_day_currency")
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for key, g := range groups {
			got[key] = fmt.Sprintf("day=%s currency=%s count=%d revenue=%s", g.Parts["day"], g.Parts["currency"], g.Count, g.Sums["revenue"])
		}
		if !maps.Equal(got, wantComposite) {
			t.Errorf("generation %d: revenue_per_day_currency = %v; want %v", gen, got, wantComposite)
		}
		if _, ok := groups[GroupKey("2026-11-23", "EUR")]; !ok {
			t.Errorf("generation %d: no group under GroupKey(2026-11-23, EUR)", gen)
		}
		plain, err := s.Aggregate(ctx, "revenue_per_day")
		if err != nil {
			t.Fatal(err)
		}
		gotPlain := map[string]string{}
		for key, g := range plain {
			if g.Parts != nil {
				t.Errorf("generation %d: revenue_per_day %s has parts %v; want none", gen, key, g.Parts)
			}
			gotPlain[key] = fmt.Sprintf("count=%d revenue=%s", g.Count, g.Sums["revenue"])
		}
		if !maps.Equal(gotPlain, wantPlain) {
			t.Errorf("generation %d: revenue_per_day = %v; want %v", gen, gotPlain, wantPlain)
		}
		// The plain day view's fields are what they always were, and the
		// sum's scale.
		var fields []string
		for p := range int32(testPartitions) {
			m, err := rdb.HGetAll(ctx, s.keys.whole(p, "revenue_per_day")).Result()
			if err != nil {
				t.Fatal(err)
			}
			for f, v := range m {
				if v != "0" {
					fields = append(fields, f)
				}
			}
		}
		slices.Sort(fields)
		fields = slices.Compact(fields)
		if strings.Join(fields, " ") != strings.Join(wantPlainFields, " ") {
			t.Errorf("generation %d: revenue_per_day fields = %v; want %v", gen, fields, wantPlainFields)
		}
	}
}
