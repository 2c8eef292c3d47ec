package kafka

import (
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/pipeline"
)

// TestIntegrationResumePerPartition: after a crash that left the partitions
// holding prefixes of different lengths, a restarted publisher that resends
// everything from an earlier position writes each record exactly once:
// Resume drops a record only where its own partition holds it.
func TestIntegrationResumePerPartition(t *testing.T) {
	const parts = 4
	c := newCluster(t, parts)
	ctx := t.Context()
	topics := []string{"orders"}
	stream := StreamID("postgres://1/db?tl=1", "digest")
	cfg := Config{Linger: time.Millisecond}
	cfg.Topics.Partitions = parts

	// The stream: 400 records over 23 keys in units of 10 records, and a
	// control record to every partition in unit 20.
	var recs []pipeline.Record
	var curs []Cursor
	for i := range 400 {
		unit := uint64(0x1000 + i/10*0x100)
		r := pipeline.Record{Topic: "orders", Key: []byte("order-" + strconv.Itoa(i%23)), Value: []byte("r" + strconv.Itoa(i))}
		if i == 205 {
			r = pipeline.Record{Topic: "orders", Key: []byte("marker"), Value: []byte("control"), AllPartitions: true}
		}
		recs = append(recs, r)
		curs = append(curs, Cursor{LSN: unit, N: uint32(i%10 + 1)})
	}
	partOf := func(r pipeline.Record) int32 {
		return int32(keyHash.Partition(&kgo.Record{Key: r.Key}, parts))
	}

	// The crashed run: partition 0 got everything, partition 1 the first
	// 300 records, partitions 2 and 3 only the first 100.
	p1, _ := newPublisher(t, c, cfg)
	if err := p1.EnsureTopics(ctx, topics); err != nil {
		t.Fatal(err)
	}
	limit := map[int32]int{0: 400, 1: 300, 2: 100, 3: 100}
	for i, r := range recs {
		hdr := []kgo.RecordHeader{{Key: HeaderCursor, Value: appendCursor(nil, stream, curs[i])}}
		var krs []*kgo.Record
		if r.AllPartitions {
			for part := range int32(parts) {
				if i < limit[part] {
					krs = append(krs, &kgo.Record{Topic: "orders", Key: r.Key, Value: r.Value, Partition: part, Headers: hdr})
				}
			}
		} else if i < limit[partOf(r)] {
			krs = append(krs, &kgo.Record{Topic: "orders", Key: r.Key, Value: r.Value, Partition: -1, Headers: hdr})
		}
		if err := p1.cl.ProduceSync(ctx, krs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	p1.Close()

	// The restart resends everything.
	p2, _ := newPublisher(t, c, cfg)
	if err := p2.EnsureTopics(ctx, topics); err != nil {
		t.Fatal(err)
	}
	n, err := p2.Resume(ctx, topics)
	if err != nil {
		t.Fatalf("Resume: %v", err)
	}
	if n != parts {
		t.Fatalf("Resume found cursors in %d partitions; want %d: %v", n, parts, p2.held)
	}
	a := newAcks(1)
	p2.Publish(ctx, Batch{Records: recs, Cursors: curs, Stream: stream}, a.onAck(0))
	a.wait(t)
	if a.errs[0] != nil {
		t.Fatal(a.errs[0])
	}
	t.Logf("skipped %v records", testutil.ToFloat64(p2.m.skips))

	// 399 records once each, and the marker once in every partition; the
	// crashed run wrote the marker (unhashed) where its key hashes to.
	want := 399 + parts
	got := consume(t, c, "orders", want)
	seen := map[string]int{}
	for _, r := range got {
		seen[string(r.Value)+"@"+strconv.Itoa(int(r.Partition))]++
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("record %s written %d times; want once", k, n)
		}
	}
	if len(got) != want {
		t.Errorf("read %d records; want %d", len(got), want)
	}
	if skipped := testutil.ToFloat64(p2.m.skips); skipped == 0 {
		t.Error("nothing was skipped")
	}

	// Another stream (a new source, or another mapping) drops nothing.
	p3, _ := newPublisher(t, c, cfg)
	if _, err := p3.Resume(ctx, topics); err != nil {
		t.Fatal(err)
	}
	a = newAcks(1)
	p3.Publish(ctx, Batch{Records: recs[:10], Cursors: curs[:10], Stream: StreamID("postgres://1/db?tl=2", "digest")}, a.onAck(0))
	a.wait(t)
	if s := testutil.ToFloat64(p3.m.skips); s != 0 {
		t.Errorf("another stream skipped %v records; want 0", s)
	}
}

func TestCursorHeader(t *testing.T) {
	tests := []struct {
		stream uint32
		c      Cursor
		want   string
	}{
		{0, Cursor{}, "0000000000000000-00000000/00000000"},
		{0xdeadbeef, Cursor{LSN: 0x16B3748, N: 7}, "00000000016B3748-00000007/deadbeef"},
		{1, Cursor{LSN: ^uint64(0), N: ^uint32(0)}, "FFFFFFFFFFFFFFFF-FFFFFFFF/00000001"},
		{7, Cursor{LSN: 0x16B3747, N: 3, ClosesEpoch: true}, "00000000016B3747+00000003/00000007"},
	}
	for _, tt := range tests {
		got := string(appendCursor(nil, tt.stream, tt.c))
		if got != tt.want {
			t.Errorf("appendCursor(%x, %v) = %q; want %q", tt.stream, tt.c, got, tt.want)
		}
		s, c, ok := parseCursor([]byte(got))
		if !ok || s != tt.stream || c != tt.c {
			t.Errorf("parseCursor(%q) = %x, %v, %v; want %x, %v, true", got, s, c, ok, tt.stream, tt.c)
		}
	}
	for _, bad := range []string{"", "x", "00000000016B3748-00000007-deadbeef", "00000000016B3748-0000000G/deadbeef", "00000000016B3748-00000007/deadbeef0"} {
		if _, _, ok := parseCursor([]byte(bad)); ok {
			t.Errorf("parseCursor(%q) ok; want not", bad)
		}
	}
}

func TestCursorLess(t *testing.T) {
	tests := []struct {
		a, b Cursor
		want bool
	}{
		{Cursor{LSN: 1, N: 1}, Cursor{LSN: 1, N: 2}, true},
		{Cursor{LSN: 1, N: 2}, Cursor{LSN: 1, N: 1}, false},
		{Cursor{LSN: 1, N: 9}, Cursor{LSN: 2, N: 1}, true},
		{Cursor{LSN: 2, N: 1}, Cursor{LSN: 1, N: 9}, false},
		{Cursor{LSN: 1, N: 1}, Cursor{LSN: 1, N: 1}, false},
	}
	for _, tt := range tests {
		if got := tt.a.Less(tt.b); got != tt.want {
			t.Errorf("%v.Less(%v) = %v; want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// TestIntegrationEpochClosed: after Resume, EpochClosed says whether every
// partition holds the end of a snapshot epoch: its end marker, or a record of
// a later unit.
func TestIntegrationEpochClosed(t *testing.T) {
	const parts = 3
	c := newCluster(t, parts)
	ctx := t.Context()
	topics := []string{"orders"}
	stream := StreamID("postgres://1/db?tl=1", "digest")
	cfg := Config{Linger: time.Millisecond}
	cfg.Topics.Partitions = parts
	const unit = 0x5000 - 1 // an epoch's records: its consistent point - 1

	publish := func(recs []pipeline.Record, curs []Cursor) {
		t.Helper()
		p, _ := newPublisher(t, c, cfg)
		if err := p.EnsureTopics(ctx, topics); err != nil {
			t.Fatal(err)
		}
		a := newAcks(1)
		p.Publish(ctx, Batch{Records: recs, Cursors: curs, Stream: stream}, a.onAck(0))
		a.wait(t)
		if a.errs[0] != nil {
			t.Fatal(a.errs[0])
		}
		p.Close()
	}
	closed := func(stream uint32) bool {
		t.Helper()
		p, _ := newPublisher(t, c, cfg)
		if err := p.EnsureTopics(ctx, topics); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Resume(ctx, topics); err != nil {
			t.Fatal(err)
		}
		ok, err := p.EpochClosed(ctx, topics, stream, unit)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}

	// The snapshot's rows, no end marker yet: not closed.
	var rows []pipeline.Record
	var curs []Cursor
	for i := range 30 {
		rows = append(rows, pipeline.Record{Topic: "orders", Key: []byte("order-" + strconv.Itoa(i)), Value: []byte("row")})
		curs = append(curs, Cursor{LSN: unit, N: uint32(i + 1)})
	}
	publish(rows, curs)
	if closed(stream) {
		t.Error("EpochClosed = true with the rows only; want false")
	}
	// The end marker, to every partition: closed, for this stream only.
	publish([]pipeline.Record{{Topic: "orders", Key: []byte("end"), Value: []byte("end"), AllPartitions: true}},
		[]Cursor{{LSN: unit, N: 31, ClosesEpoch: true}})
	if !closed(stream) {
		t.Error("EpochClosed = false after the end marker; want true")
	}
	if closed(StreamID("postgres://1/db?tl=2", "digest")) {
		t.Error("EpochClosed = true for another stream; want false")
	}
	// Later records keep it closed.
	publish(rows[:5], []Cursor{{LSN: unit + 0x100, N: 1}, {LSN: unit + 0x100, N: 2}, {LSN: unit + 0x100, N: 3}, {LSN: unit + 0x200, N: 1}, {LSN: unit + 0x200, N: 2}})
	if !closed(stream) {
		t.Error("EpochClosed = false after later records; want true")
	}
}
