package redisview

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/internal/testenv"
	"github.com/cdcflow/cdcflow/pipeline"
)

// setLSN sets ev.LSN to n (the sinks never import capture, whose LSN type
// the field has).
func setLSN(ev *pipeline.Event, n uint64) { reflect.ValueOf(&ev.LSN).Elem().SetUint(n) }

// setEndLSN sets ev.EndLSN to n.
func setEndLSN(ev *pipeline.Event, n uint64) { reflect.ValueOf(&ev.EndLSN).Elem().SetUint(n) }

var appliedBase = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// lsnEvent is an order event of the stream transaction committed at lsn.
func lsnEvent(id, typ string, lsn uint64, data map[string]any) pipeline.Event {
	ev := orderEvent(id, typ, lsn, data)
	ev.Position = testPosition(lsn, 1)
	setLSN(&ev, lsn)
	ev.Time = appliedBase.Add(time.Duration(lsn) * time.Millisecond)
	return ev
}

// progressEvent is a progress record at lsn.
func progressEvent(lsn uint64) pipeline.Event {
	ev := pipeline.Event{ID: fmt.Sprintf("progress-%d", lsn), Source: "s", Type: pipeline.ProgressType, Version: 1,
		AggregateType: "order", Position: testPosition(lsn, ^uint32(0)), Control: pipeline.ControlProgress,
		Time: appliedBase.Add(time.Duration(lsn) * time.Millisecond)}
	setLSN(&ev, lsn)
	return ev
}

func records(from int64, evs ...pipeline.Event) []Record {
	out := make([]Record, len(evs))
	for i, ev := range evs {
		out[i] = Record{Offset: from + int64(i), Event: ev}
	}
	return out
}

// TestIntegrationAppliedPosition: the applied position moves with events
// (their commit LSN), progress records and snapshot ends, never with
// snapshot rows or begin markers, never backwards, and only with a step
// that is stored (a fenced one stores nothing); each step adds one change
// stream entry naming what it changed.
func TestIntegrationAppliedPosition(t *testing.T) {
	ctx := t.Context()
	srv := testenv.Redis(t)
	rdb := srv.Client(t)
	defs := testDefinitions(t)
	prefix := srv.Prefix(t)
	v, err := New(Config{Prefix: prefix}, defs, rdb)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Preflight(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(defs, rdb, prefix, testPartitions)
	if err != nil {
		t.Fatal(err)
	}
	s := r.At(1)
	state := func(p int32) PartitionState {
		t.Helper()
		st, err := s.Applied(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(st) != testPartitions {
			t.Fatalf("Applied returned %d partitions; want %d", len(st), testPartitions)
		}
		return st[p]
	}
	changes := func(p int32) []Change {
		t.Helper()
		cs, err := s.Changes(ctx, map[int32]string{p: "0-0"}, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}
	apply := func(from int64, next int64, evs ...pipeline.Event) error {
		return v.Apply(ctx, Batch{Topic: "shop.order", Partition: 1, From: from, Records: records(max(from, 0), evs...), Next: next})
	}
	if st := state(1); st.AppliedLSN != 0 || !st.CommitTime.IsZero() || len(st.Offsets) != 0 {
		t.Fatalf("before any step: %+v; want nothing", st)
	}

	// Two events of transactions at 0x10 and 0x20: proves 0x20.
	req := map[string]any{"customer_id": "c1", "total": "10.50", "ordered_at": "2026-11-23T23:30:00Z"}
	if err := apply(-1, 0, lsnEvent("o1", "OrderRequested", 0x10, req), lsnEvent("o2", "OrderRequested", 0x20, req)); err != nil {
		t.Fatal(err)
	}
	st := state(1)
	if st.AppliedLSN != 0x20 || !st.CommitTime.Equal(appliedBase.Add(0x20*time.Millisecond)) || st.Offsets["shop.order"] != 2 {
		t.Fatalf("after two events: %+v; want lsn 0x20 at its commit time, offset 2", st)
	}
	cs := changes(1)
	if len(cs) != 1 {
		t.Fatalf("after one step: %d change entries; want 1", len(cs))
	}
	c := cs[0]
	if c.Topic != "shop.order" || c.Offset != 2 || c.AppliedLSN != 0x20 || !c.CommitTime.Equal(st.CommitTime) ||
		!slices.Equal(c.Views["order"], []string{"o1", "o2"}) || !slices.Equal(c.Views["pending"], []string{"o1", "o2"}) ||
		!slices.Equal(c.Views["per_status"], []string{"requested"}) || !slices.Equal(c.Views["history"], []string{"o1", "o2"}) {
		t.Fatalf("change entry = %+v", c)
	}

	// An event that carries its transaction's end LSN (the last of its
	// transaction in the partition) proves that end, not only its commit.
	ended := lsnEvent("o2", "OrderPromised", 0x24, nil)
	setEndLSN(&ended, 0x2C)
	if err := apply(2, 0, ended); err != nil {
		t.Fatal(err)
	}
	if st := state(1); st.AppliedLSN != 0x2C || st.Offsets["shop.order"] != 3 {
		t.Fatalf("after an event with its end LSN: %+v; want lsn 0x2C, offset 3", st)
	}
	if cs := changes(1); len(cs) != 2 || cs[1].AppliedLSN != 0x2C {
		t.Fatalf("after an event with its end LSN: entries %+v; want a second one at 0x2C", cs)
	}

	// A zombie re-delivering the batch is fenced and stores nothing.
	if err := apply(-1, 0, lsnEvent("o3", "OrderRequested", 0x30, req)); !errors.Is(err, ErrFenced) {
		t.Fatalf("fenced Apply = %v; want ErrFenced", err)
	}
	if st := state(1); st.AppliedLSN != 0x2C || len(changes(1)) != 2 {
		t.Fatalf("after a fenced step: %+v, %d entries; want unchanged", st, len(changes(1)))
	}

	// Progress records alone: the position moves, an entry with no views.
	if err := apply(3, 0, progressEvent(0x40), progressEvent(0x48)); err != nil {
		t.Fatal(err)
	}
	if st := state(1); st.AppliedLSN != 0x48 || st.Offsets["shop.order"] != 5 {
		t.Fatalf("after progress: %+v; want lsn 0x48, offset 5", st)
	}
	cs = changes(1)
	if len(cs) != 3 || len(cs[2].Views) != 0 || cs[2].AppliedLSN != 0x48 || cs[2].Offset != 5 {
		t.Fatalf("after progress: entries %+v; want a third one at 0x48 with no views", cs)
	}
	// An older progress record (a re-send) neither moves it back nor adds
	// an entry.
	if err := apply(5, 0, progressEvent(0x44)); err != nil {
		t.Fatal(err)
	}
	if st := state(1); st.AppliedLSN != 0x48 || st.Offsets["shop.order"] != 6 || len(changes(1)) != 3 {
		t.Fatalf("after a stale progress record: %+v, %d entries; want lsn 0x48, offset 6, 3 entries", st, len(changes(1)))
	}

	// A snapshot: begin and rows prove nothing, the end proves its LSN.
	begin := pipeline.Event{ID: "b", Source: "s", Type: "SnapshotBegin", AggregateType: "order", Epoch: 7, Control: pipeline.ControlSnapshotBegin, Time: appliedBase}
	setLSN(&begin, 0x4F)
	row := lsnEvent("o1", "OrderStateObserved", 0x4F, map[string]any{"customer_id": "c1", "total": "10.50", "status": "promised", "ordered_at": "2026-11-23T23:30:00Z"})
	row.Epoch = 7
	if err := apply(6, 0, begin, row); err != nil {
		t.Fatal(err)
	}
	if st := state(1); st.AppliedLSN != 0x48 {
		t.Fatalf("during a snapshot: lsn %X; want 48 (snapshot rows prove nothing)", st.AppliedLSN)
	}
	// Now the progress record in the middle of the snapshot is impossible
	// (the flow sends none); the end marker proves the consistent point - 1.
	end := begin
	end.ID, end.Type, end.Control = "e", "SnapshotEnd", pipeline.ControlSnapshotEnd
	if err := apply(8, 0, end); err != nil {
		t.Fatal(err)
	}
	if st := state(1); st.AppliedLSN != 0x4F {
		t.Fatalf("after the snapshot end: lsn %X; want 4F", st.AppliedLSN)
	}
	// The step dropped o2 (not seen in the epoch): its entry names it.
	cs = changes(1)
	last := cs[len(cs)-1]
	if last.AppliedLSN != 0x4F || !slices.Contains(last.Views["order"], "o2") {
		t.Fatalf("snapshot end entry = %+v; want lsn 4F naming o2", last)
	}
	// Other partitions hold nothing.
	if st := state(0); st.AppliedLSN != 0 || len(changes(0)) != 0 {
		t.Fatalf("partition 0: %+v; want nothing", st)
	}
}

// TestIntegrationChangeStream: the change stream is capped, Changes
// reports a trimmed resume point, "$" reads only what comes, and a
// blocking read returns as soon as a step is applied.
func TestIntegrationChangeStream(t *testing.T) {
	ctx := t.Context()
	srv := testenv.Redis(t)
	rdb := srv.Client(t)
	defs := testDefinitions(t)
	prefix := srv.Prefix(t)
	const maxLen = 10
	v, err := New(Config{Prefix: prefix, ChangesMaxLen: maxLen}, defs, rdb)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Preflight(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(defs, rdb, prefix, testPartitions)
	if err != nil {
		t.Fatal(err)
	}
	s := r.At(1)
	first := ""
	from := int64(-1)
	step := func(lsn uint64) {
		t.Helper()
		if err := v.Apply(ctx, Batch{Topic: "shop.order", Partition: 2, From: from, Records: records(max(from, 0), progressEvent(lsn))}); err != nil {
			t.Fatal(err)
		}
		from = max(from, 0) + 1
	}
	const steps = 400
	for i := range steps {
		step(uint64(0x100 + i))
		if i == 0 {
			cs, err := s.Changes(ctx, map[int32]string{2: "0-0"}, 0, 1)
			if err != nil || len(cs) != 1 {
				t.Fatalf("Changes after one step = %v, %v", cs, err)
			}
			first = cs[0].ID
		}
	}
	n, err := rdb.XLen(ctx, v.keys.changes(2)).Result()
	if err != nil {
		t.Fatal(err)
	}
	// MAXLEN ~ trims whole stream nodes (stream-node-max-entries, 100).
	if n < maxLen || n > maxLen+100 {
		t.Fatalf("change stream holds %d entries after %d steps; want about %d", n, steps, maxLen)
	}
	if _, err := s.Changes(ctx, map[int32]string{2: first}, 0, 10); !errors.Is(err, ErrChangesTrimmed) {
		t.Fatalf("Changes after a trimmed entry = %v; want ErrChangesTrimmed", err)
	}
	all, err := s.Changes(ctx, map[int32]string{2: "0-0"}, 0, 1000)
	if err != nil || int64(len(all)) != n {
		t.Fatalf("Changes from 0-0 = %d entries, %v; want %d", len(all), err, n)
	}
	newest := all[len(all)-1]
	if newest.AppliedLSN != 0x100+steps-1 || newest.Offset != steps {
		t.Fatalf("newest entry = %+v", newest)
	}
	// Reading after the newest entry is no trim, and finds nothing.
	if cs, err := s.Changes(ctx, map[int32]string{2: newest.ID, 0: "$"}, 0, 10); err != nil || len(cs) != 0 {
		t.Fatalf("Changes after the newest = %v, %v; want none", cs, err)
	}
	// A blocking read returns once a step is applied.
	got := make(chan []Change, 1)
	go func() {
		cs, err := s.Changes(ctx, map[int32]string{2: "$", 1: "$"}, 10*time.Second, 10)
		if err != nil {
			t.Error(err)
		}
		got <- cs
	}()
	start := time.Now()
	deadline := time.After(10 * time.Second)
	var cs []Change
	for cs == nil {
		select {
		case cs = <-got:
		case <-time.After(50 * time.Millisecond):
			step(uint64(0x100 + steps + int(time.Since(start)/time.Millisecond)))
		case <-deadline:
			t.Fatal("blocking Changes did not return")
		}
	}
	if len(cs) == 0 || cs[0].Partition != 2 || compareStreamIDs(cs[0].ID, newest.ID) <= 0 {
		t.Fatalf("blocking Changes = %+v; want a new entry of partition 2", cs)
	}
	if _, err := s.Changes(ctx, map[int32]string{2: "x"}, 0, 1); err == nil {
		t.Fatal("Changes accepted the stream ID \"x\"")
	}
	if _, err := s.Changes(ctx, map[int32]string{testPartitions: "0-0"}, 0, 1); err == nil {
		t.Fatal("Changes accepted a partition out of range")
	}
}

// TestIntegrationReadEntity: one pipelined read returns the entity and the
// applied position of every partition, as Entity and Applied read them
// apart.
func TestIntegrationReadEntity(t *testing.T) {
	ctx := t.Context()
	srv := testenv.Redis(t)
	rdb := srv.Client(t)
	defs := testDefinitions(t)
	prefix := srv.Prefix(t)
	v, err := New(Config{Prefix: prefix}, defs, rdb)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Preflight(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(defs, rdb, prefix, testPartitions)
	if err != nil {
		t.Fatal(err)
	}
	s := r.At(1)
	req := map[string]any{"customer_id": "c1", "total": "10.50", "ordered_at": "2026-11-23T23:30:00Z"}
	if err := v.Apply(ctx, Batch{Topic: "shop.order", Partition: 2, From: -1, Records: records(0, lsnEvent("o1", "OrderRequested", 0x30, req))}); err != nil {
		t.Fatal(err)
	}
	if err := v.Apply(ctx, Batch{Topic: "shop.order", Partition: 0, From: -1, Records: records(0, progressEvent(0x18))}); err != nil {
		t.Fatal(err)
	}
	got, err := s.ReadEntity(ctx, "order", "o1")
	if err != nil {
		t.Fatal(err)
	}
	want, err := s.Entity(ctx, "order", "o1")
	if err != nil {
		t.Fatal(err)
	}
	if want == nil || !reflect.DeepEqual(got.Fields, want) {
		t.Errorf("ReadEntity(o1).Fields = %v; want %v", got.Fields, want)
	}
	states, err := s.Applied(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Applied) != len(states) {
		t.Fatalf("ReadEntity returned %d partitions; want %d", len(got.Applied), len(states))
	}
	for i, st := range states {
		g := got.Applied[i]
		if g.Partition != st.Partition || g.AppliedLSN != st.AppliedLSN || !g.CommitTime.Equal(st.CommitTime) {
			t.Errorf("ReadEntity partition %d = %+v; want %+v", i, g, st)
		}
	}
	if got.Applied[2].AppliedLSN != 0x30 || got.Applied[0].AppliedLSN != 0x18 || got.Applied[1].AppliedLSN != 0 {
		t.Errorf("applied = %+v; want 0x18, 0, 0x30", got.Applied)
	}
	none, err := s.ReadEntity(ctx, "order", "nobody")
	if err != nil || none.Fields != nil || len(none.Applied) != testPartitions {
		t.Errorf("ReadEntity(nobody) = %+v, %v; want no fields and every partition's position", none, err)
	}
	if _, err := s.ReadEntity(ctx, "pending", "o1"); err == nil {
		t.Error("ReadEntity of an index view: no error")
	}
}

// TestIntegrationReadEntities: a batch of reads in one pipeline gives each
// read its own answer or error (an unknown view, a missing entity and a key
// of the wrong type fail or miss alone), and every read the same applied
// positions, read once per partition.
func TestIntegrationReadEntities(t *testing.T) {
	ctx := t.Context()
	srv := testenv.Redis(t)
	rdb := srv.Client(t)
	defs := testDefinitions(t)
	prefix := srv.Prefix(t)
	v, err := New(Config{Prefix: prefix}, defs, rdb)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(defs, rdb, prefix, testPartitions)
	if err != nil {
		t.Fatal(err)
	}
	s := r.At(1)
	for i, id := range []string{"o1", "o2"} {
		req := map[string]any{"customer_id": "c" + id, "total": "10.50", "ordered_at": "2026-11-23T23:30:00Z"}
		if err := v.Apply(ctx, Batch{Topic: "shop.order", Partition: int32(i), From: -1, Records: records(0, lsnEvent(id, "OrderRequested", 0x30+uint64(i), req))}); err != nil {
			t.Fatal(err)
		}
	}
	// A string where a read expects a hash: WRONGTYPE for that read only.
	if err := rdb.Set(ctx, s.keys.item(1, "order", "broken"), "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	qs := []EntityQuery{{View: "order", ID: "o1"}, {View: "pending", ID: "o1"}, {View: "order", ID: "broken"},
		{View: "order", ID: "nobody"}, {View: "order", ID: "o2"}, {View: "order", ID: "o1"}}
	s.ReadEntities(ctx, qs)
	for _, i := range []int{0, 4, 5} {
		want, err := s.Entity(ctx, "order", qs[i].ID)
		if err != nil {
			t.Fatal(err)
		}
		if qs[i].Err != nil || want == nil || !reflect.DeepEqual(qs[i].Read.Fields, want) {
			t.Errorf("read %d (%s) = %+v, %v; want %v", i, qs[i].ID, qs[i].Read, qs[i].Err, want)
		}
	}
	if qs[1].Err == nil || qs[1].Read.Fields != nil {
		t.Errorf("read of an index view = %+v, %v; want an error", qs[1].Read, qs[1].Err)
	}
	if qs[2].Err == nil || !strings.Contains(qs[2].Err.Error(), "WRONGTYPE") || qs[2].Read.Applied != nil {
		t.Errorf("read of a string key = %+v, %v; want WRONGTYPE", qs[2].Read, qs[2].Err)
	}
	if qs[3].Err != nil || qs[3].Read.Fields != nil || len(qs[3].Read.Applied) != testPartitions {
		t.Errorf("read of no entity = %+v, %v; want no fields and every partition's position", qs[3].Read, qs[3].Err)
	}
	states, err := s.Applied(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 3, 4, 5} {
		for p, st := range states {
			if g := qs[i].Read.Applied[p]; g.Partition != st.Partition || g.AppliedLSN != st.AppliedLSN || !g.CommitTime.Equal(st.CommitTime) {
				t.Errorf("read %d: partition %d = %+v; want %+v", i, p, g, st)
			}
		}
	}
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("cmdstat_hmget:calls=%d,", testPartitions); !strings.Contains(info, want) {
		t.Errorf("5 entity reads in one batch: commandstats %q; want %s (the applied positions once per partition)", info, want)
	}
}

// TestIntegrationAppliedPositionAcrossTopics: partition N of every event
// topic shares the applied position, which is the lowest of the topics'
// in it: a topic running ahead proves nothing for the others, and with
// Config.Topics nothing is proven until each topic has applied a step.
func TestIntegrationAppliedPositionAcrossTopics(t *testing.T) {
	ctx := t.Context()
	srv := testenv.Redis(t)
	rdb := srv.Client(t)
	defs := testDefinitions(t)
	prefix := srv.Prefix(t)
	v, err := New(Config{Prefix: prefix, Topics: []string{"shop.order", "shop.payment"}}, defs, rdb)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Preflight(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(defs, rdb, prefix, testPartitions)
	if err != nil {
		t.Fatal(err)
	}
	next := map[string]int64{"shop.order": -1, "shop.payment": -1}
	step := func(topic string, lsn uint64) {
		t.Helper()
		from := next[topic]
		if err := v.Apply(ctx, Batch{Topic: topic, Partition: 0, From: from, Records: records(max(from, 0), progressEvent(lsn))}); err != nil {
			t.Fatal(err)
		}
		next[topic] = max(from, 0) + 1
	}
	applied := func() PartitionState {
		t.Helper()
		st, err := r.At(1).Applied(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st[0]
	}
	for _, tt := range []struct {
		topic   string
		lsn     uint64
		want    uint64 // 0: nothing proven
		wantAt  uint64 // the lsn whose record's time the position carries
		comment string
	}{
		{"shop.order", 0x20, 0, 0, "only one of the two topics has applied a step"},
		{"shop.payment", 0x10, 0x10, 0x10, "both have: the lower one"},
		{"shop.payment", 0x30, 0x20, 0x20, "payment ahead: order's"},
		{"shop.order", 0x40, 0x30, 0x30, "order ahead: payment's"},
		{"shop.order", 0x50, 0x30, 0x30, "order further ahead: still payment's"},
	} {
		step(tt.topic, tt.lsn)
		st := applied()
		var at time.Time
		if tt.want != 0 {
			at = appliedBase.Add(time.Duration(tt.wantAt) * time.Millisecond)
		}
		if st.AppliedLSN != tt.want || !st.CommitTime.Equal(at) {
			t.Fatalf("after %s at %#x (%s): applied %#x at %v; want %#x at %v", tt.topic, tt.lsn, tt.comment, st.AppliedLSN, st.CommitTime, tt.want, at)
		}
	}
}
