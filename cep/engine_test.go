package cep

import (
	"bytes"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/pipeline"
)

const absenceRules = `
version: 1
rules:
  - name: overdue
    version: 1
    kind: absence
    aggregate: order
    start: {type: OrderPromised}
    expect: {type: OrderDeclared}
    within: 10m
    emit:
      type: OrderOverdue
      version: 1
      data: {due: deadline, n: matched.start.data.n}
    resolve:
      type: OrderOverdueResolved
      version: 1
      within: 1h
      data: {by: matched.expect.type, n: matched.start.data.n}
`

func TestAbsence(t *testing.T) {
	const m, s = time.Minute, time.Second
	tests := []struct {
		name   string
		inputs []Input
		want   string
	}{
		{"declared in time cancels", []Input{
			in(0, 1, "OrderPromised", "a", 0, `{"n":1}`),
			in(0, 2, "OrderDeclared", "a", 5*m, ""),
			progress(0, 3, 30*m),
		}, ""},
		{"declared exactly at the deadline is in time", []Input{
			in(0, 1, "OrderPromised", "a", 0, `{"n":1}`),
			in(0, 2, "OrderDeclared", "a", 10*m, ""),
			progress(0, 3, 30*m),
		}, ""},
		{"watermark at the deadline does not fire", []Input{
			in(0, 1, "OrderPromised", "a", 0, `{"n":1}`),
			progress(0, 2, 10*m),
		}, ""},
		{"watermark past the deadline fires", []Input{
			in(0, 1, "OrderPromised", "a", 0, `{"n":1}`),
			progress(0, 2, 10*m+time.Microsecond),
		}, `OrderOverdue a {"due":"2026-03-01T08:10:00Z","n":1}`},
		{"declared after the deadline resolves", []Input{
			in(0, 1, "OrderPromised", "a", 0, `{"n":1}`),
			progress(0, 2, 11*m),
			in(0, 3, "OrderDeclared", "a", 12*m, ""),
			in(0, 4, "OrderDeclared", "a", 13*m, ""),
		}, "OrderOverdue a {\"due\":\"2026-03-01T08:10:00Z\",\"n\":1}\n" +
			`OrderOverdueResolved a {"by":"OrderDeclared","n":1}`},
		{"the event that passes the deadline fires it before it is matched", []Input{
			in(0, 1, "OrderPromised", "a", 0, `{"n":1}`),
			in(0, 2, "OrderDeclared", "a", 10*m+s, ""),
		}, "OrderOverdue a {\"due\":\"2026-03-01T08:10:00Z\",\"n\":1}\n" +
			`OrderOverdueResolved a {"by":"OrderDeclared","n":1}`},
		{"declared after the resolution window: nothing", []Input{
			in(0, 1, "OrderPromised", "a", 0, `{"n":1}`),
			progress(0, 2, 11*m),
			progress(0, 3, 71*m),
			in(0, 4, "OrderDeclared", "a", 72*m, ""),
		}, `OrderOverdue a {"due":"2026-03-01T08:10:00Z","n":1}`},
		{"a redelivered start counts once", []Input{
			in(0, 1, "OrderPromised", "a", 0, `{"n":1}`),
			in(0, 1, "OrderPromised", "a", 0, `{"n":1}`),
			progress(0, 2, 11*m),
		}, `OrderOverdue a {"due":"2026-03-01T08:10:00Z","n":1}`},
		{"keys are independent", []Input{
			in(0, 1, "OrderPromised", "a", 0, `{"n":1}`),
			in(0, 2, "OrderPromised", "b", m, `{"n":2}`),
			in(0, 3, "OrderDeclared", "a", 2*m, ""),
			progress(0, 4, 20*m),
		}, `OrderOverdue b {"due":"2026-03-01T08:11:00Z","n":2}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustEngine(t, mustRules(t, absenceRules), 1)
			if got := brief(run(t, e, tt.inputs...)); got != tt.want {
				t.Errorf("derived:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestAbsenceFiresAtTheProgressRecord(t *testing.T) {
	e := mustEngine(t, mustRules(t, absenceRules), 1)
	out := run(t, e, in(0, 1, "OrderPromised", "a", 0, `{"n":1}`), progress(0, 0x20, 11*time.Minute))
	if len(out) != 1 {
		t.Fatalf("derived %d events; want 1", len(out))
	}
	d := out[0]
	if want := pipeline.MakePosition(0x20, ^uint32(0), derivedOrdinal); d.Position != want {
		t.Errorf("Position = %s; want %s (the progress record's, the first derived ordinal)", d.Position, want)
	}
	if !d.Time.Equal(t0.Add(10 * time.Minute)) {
		t.Errorf("Time = %v; want the deadline", d.Time)
	}
	if d.Source != testSource || d.AggregateType != "order" || d.Version != 1 || d.ID == "" {
		t.Errorf("derived event %+v: want source, aggregate, version and id set", d)
	}
	if _, err := pipeline.EncodeEvent(d, "shop.cep", pipeline.Structured); err != nil {
		t.Errorf("EncodeEvent: %v", err)
	}
}

const sequenceRules = `
version: 1
rules:
  - name: redo
    version: 1
    kind: sequence
    aggregate: order
    steps:
      - {name: requested, type: OrderRequested}
      - {name: declined, type: OrderDeclined, when: data.total == matched.requested.data.total}
      - {name: again, type: OrderRequested}
    within: 10m
    emit:
      type: OrderRetried
      version: 1
      data: {first: matched.requested.data.total, last: matched.again.data.total}
`

func TestSequence(t *testing.T) {
	const m = time.Minute
	tests := []struct {
		name   string
		inputs []Input
		want   string
	}{
		{"in time", []Input{
			in(0, 1, "OrderRequested", "a", 0, `{"total":"5"}`),
			in(0, 2, "OrderDeclined", "a", m, `{"total":"5"}`),
			in(0, 3, "OrderRequested", "a", 2*m, `{"total":"6"}`),
		}, `OrderRetried a {"first":"5","last":"6"}`},
		{"last step exactly at the deadline", []Input{
			in(0, 1, "OrderRequested", "a", 0, `{"total":"5"}`),
			in(0, 2, "OrderDeclined", "a", m, `{"total":"5"}`),
			in(0, 3, "OrderRequested", "a", 10*m, `{"total":"6"}`),
		}, `OrderRetried a {"first":"5","last":"6"}`},
		{"too late", []Input{
			in(0, 1, "OrderRequested", "a", 0, `{"total":"5"}`),
			in(0, 2, "OrderDeclined", "a", m, `{"total":"5"}`),
			in(0, 3, "OrderRequested", "a", 10*m+time.Second, `{"total":"6"}`),
		}, ``},
		{"condition on an earlier match", []Input{
			in(0, 1, "OrderRequested", "a", 0, `{"total":"5"}`),
			in(0, 2, "OrderDeclined", "a", m, `{"total":"7"}`),
			in(0, 3, "OrderRequested", "a", 2*m, `{"total":"6"}`),
		}, ``},
		{"out of order steps do not match", []Input{
			in(0, 1, "OrderDeclined", "a", 0, `{"total":"5"}`),
			in(0, 2, "OrderRequested", "a", m, `{"total":"5"}`),
		}, ``},
		{"other key does not advance", []Input{
			in(0, 1, "OrderRequested", "a", 0, `{"total":"5"}`),
			in(0, 2, "OrderDeclined", "b", m, `{"total":"5"}`),
			in(0, 3, "OrderRequested", "a", 2*m, `{"total":"6"}`),
		}, ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustEngine(t, mustRules(t, sequenceRules), 1)
			if got := brief(run(t, e, tt.inputs...)); got != tt.want {
				t.Errorf("derived:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func windowRules(kind, extra string) string {
	return `
version: 1
rules:
  - name: risk
    version: 1
    kind: ` + kind + `
    aggregate: customer
    on: {type: OrderDeclined}
    key: data.customer
    window: 1h
` + extra + `
    emit:
      type: CustomerAtRisk
      version: 1
      data: {n: count, sum: sum, from: window_start, to: window_end, last: matched.last.data.total}
`
}

func TestWindows(t *testing.T) {
	const m = time.Minute
	decl := func(lsn uint64, cust string, at time.Duration, total string) Input {
		return in(0, lsn, "OrderDeclined", "o", at, `{"customer":`+cust+`,"total":"`+total+`"}`)
	}
	tests := []struct {
		name   string
		rules  string
		inputs []Input
		want   string
	}{
		{"count sliding reaches 3 within the hour, once", windowRules("count", "    at_least: 3"), []Input{
			decl(1, "7", 0, "1"), decl(2, "7", 30*m, "1"), decl(3, "7", 59*m, "1"), decl(4, "7", 61*m, "1"),
		}, `CustomerAtRisk 7 {"from":"2026-03-01T08:00:00Z","last":"1","n":3,"sum":"3","to":"2026-03-01T08:59:00Z"}`},
		{"count sliding: exactly one hour apart is inside", windowRules("count", "    at_least: 3"), []Input{
			decl(1, "7", 0, "1"), decl(2, "7", 30*m, "1"), decl(3, "7", 60*m, "1"),
		}, `CustomerAtRisk 7 {"from":"2026-03-01T08:00:00Z","last":"1","n":3,"sum":"3","to":"2026-03-01T09:00:00Z"}`},
		{"count sliding: the first slid out", windowRules("count", "    at_least: 3"), []Input{
			decl(1, "7", 0, "1"), decl(2, "7", 30*m, "1"), decl(3, "7", 60*m+time.Second, "1"),
		}, ``},
		{"count per key", windowRules("count", "    at_least: 2"), []Input{
			decl(1, "7", 0, "1"), decl(2, "8", m, "1"), decl(3, "9", 2*m, "1"),
		}, ``},
		{"count tumbling: windows are aligned", windowRules("count", "    at_least: 3\n    tumbling: true"), []Input{
			decl(1, "7", 50*m, "1"), decl(2, "7", 55*m, "1"), decl(3, "7", 65*m, "1"),
			decl(4, "7", 70*m, "1"), decl(5, "7", 75*m, "1"), decl(6, "7", 80*m, "1"),
		}, `CustomerAtRisk 7 {"from":"2026-03-01T09:00:00Z","last":"1","n":3,"sum":"3","to":"2026-03-01T10:00:00Z"}`},
		{"sum is exact", windowRules("sum", "    at_least: \"100.00\"\n    value: decimal(data.total)"), []Input{
			decl(1, "7", 0, "33.33"), decl(2, "7", m, "33.33"), decl(3, "7", 2*m, "33.33"), decl(4, "7", 3*m, "0.01"),
		}, `CustomerAtRisk 7 {"from":"2026-03-01T08:00:00Z","last":"0.01","n":4,"sum":"100.00","to":"2026-03-01T08:03:00Z"}`},
		{"sum below the threshold", windowRules("sum", "    at_least: \"100.00\"\n    value: decimal(data.total)"), []Input{
			decl(1, "7", 0, "33.33"), decl(2, "7", m, "33.33"), decl(3, "7", 2*m, "33.33"),
		}, ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustEngine(t, mustRules(t, tt.rules), 1)
			if got := brief(run(t, e, tt.inputs...)); got != tt.want {
				t.Errorf("derived:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

// TestWatermarkHeldByIdlePartition: nothing fires while a partition has
// said nothing; its progress record releases the other one's records and
// fires the deadline at the progress record's position.
func TestWatermarkHeldByIdlePartition(t *testing.T) {
	e := mustEngine(t, mustRules(t, absenceRules), 2)
	out := run(t, e,
		in(0, 1, "OrderPromised", "a", 0, `{"n":1}`),
		in(0, 5, "OrderAmended", "a", 30*time.Minute, ``),
	)
	if len(out) != 0 || !e.Watermark().IsZero() || e.Buffered() != 2 {
		t.Fatalf("with partition 1 idle: derived %d, watermark %v, buffered %d; want 0, zero, 2", len(out), e.Watermark(), e.Buffered())
	}
	out = run(t, e, progress(1, 3, 20*time.Minute))
	if got, want := brief(out), `OrderOverdue a {"due":"2026-03-01T08:10:00Z","n":1}`; got != want {
		t.Fatalf("after the progress record: %s; want %s", got, want)
	}
	if want := pipeline.MakePosition(3, ^uint32(0), derivedOrdinal); out[0].Position != want {
		t.Errorf("Position = %s; want the progress record's %s", out[0].Position, want)
	}
	if off := e.Offsets(); off[part(0)] != 1 || off[part(1)] != 3 {
		t.Errorf("Offsets = %v; want p0 1 (the record at 5 waits), p1 3", off)
	}
}

// TestOutOfOrderAcrossPartitions: the released order, and so the output,
// does not depend on how the partitions' records interleave.
func TestOutOfOrderAcrossPartitions(t *testing.T) {
	p0 := []Input{in(0, 1, "OrderPromised", "a", 0, `{"n":1}`), in(0, 4, "OrderDeclared", "b", 12*time.Minute, ""), progress(0, 9, 40*time.Minute)}
	p1 := []Input{in(1, 2, "OrderPromised", "b", time.Minute, `{"n":2}`), in(1, 3, "OrderDeclared", "a", 15*time.Minute, ""), progress(1, 9, 40*time.Minute)}
	var first []pipeline.Event
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20 {
		seq := interleave(rng, p0, p1)
		e := mustEngine(t, mustRules(t, absenceRules), 2)
		out := run(t, e, seq...)
		if i == 0 {
			first = out
			if len(out) != 4 {
				t.Fatalf("derived:\n%s\nwant 2 overdue, 2 resolved", brief(out))
			}
			continue
		}
		if !slices.EqualFunc(out, first, func(a, b pipeline.Event) bool {
			return a.ID == b.ID && a.Position == b.Position && bytes.Equal(a.Data, b.Data)
		}) {
			t.Fatalf("interleaving %d derived:\n%s\nwant:\n%s", i, brief(out), brief(first))
		}
	}
}

func interleave(rng *rand.Rand, ps ...[]Input) []Input {
	idx := make([]int, len(ps))
	var out []Input
	for {
		var live []int
		for i, p := range ps {
			if idx[i] < len(p) {
				live = append(live, i)
			}
		}
		if len(live) == 0 {
			return out
		}
		i := live[rng.IntN(len(live))]
		out = append(out, ps[i][idx[i]])
		idx[i]++
	}
}

// synthetic builds a long run over parts partitions: orders promised and,
// most of them, declared before or after the deadline; declines of
// customers; progress records on every partition every 100 records.
// Commit times grow with LSNs, as a source's do.
func synthetic(n, parts int, seed uint64) [][]Input {
	rng := rand.New(rand.NewPCG(seed, 7))
	type gen struct {
		at       time.Duration
		typ, key string
		data     string
		p        int32
	}
	var evs []gen
	at := time.Duration(0)
	for i := range n {
		at += time.Duration(rng.IntN(90)) * time.Second
		order := "o" + itoa(i)
		p := int32(i % parts)
		evs = append(evs, gen{at, "OrderPromised", order, `{"n":` + itoa(i) + `}`, p})
		if rng.IntN(4) != 0 {
			evs = append(evs, gen{at + time.Duration(rng.IntN(20))*time.Minute, "OrderDeclared", order, "", p})
		}
		evs = append(evs, gen{at + time.Duration(rng.IntN(300))*time.Second, "OrderDeclined", order,
			`{"customer":` + itoa(rng.IntN(50)) + `,"total":"1.5"}`, p})
	}
	slices.SortStableFunc(evs, func(a, b gen) int { return int(a.at - b.at) })
	out := make([][]Input, parts)
	lsn := uint64(16)
	for i, g := range evs {
		lsn += 16
		out[g.p] = append(out[g.p], in(g.p, lsn, g.typ, g.key, g.at, g.data))
		if i%100 == 99 {
			lsn += 16
			for q := range parts {
				out[q] = append(out[q], progress(int32(q), lsn, g.at))
			}
		}
	}
	return out
}

func itoa(i int) string { return strconv.Itoa(i) }

func readReference() ([]byte, error) { return os.ReadFile("../deploy/examples/orders/cep.yaml") }

const allRules = absenceRules + `
  - name: risk
    version: 1
    kind: count
    aggregate: customer
    on: {type: OrderDeclined}
    key: data.customer
    window: 1h
    at_least: 3
    emit:
      type: CustomerAtRisk
      version: 1
      data: {n: count}
`

// TestDeterminism: the same input gives the same ids and positions, in any
// interleaving of the partitions and across a Snapshot/Restore in the
// middle (restarting from the snapshot's offsets).
func TestDeterminism(t *testing.T) {
	rs := mustRules(t, allRules)
	parts := synthetic(3000, 3, 1)
	ref := run(t, mustEngine(t, rs, 3), interleave(rand.New(rand.NewPCG(9, 9)), parts...)...)
	if len(ref) < 100 {
		t.Fatalf("the synthetic run derived only %d events", len(ref))
	}
	for cut := 500; cut < 6000; cut += 1700 {
		seq := interleave(rand.New(rand.NewPCG(uint64(cut), 3)), parts...)
		e := mustEngine(t, rs, 3)
		got := run(t, e, seq[:cut]...)
		snap, err := e.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		offsets := e.Offsets()
		e2 := mustEngine(t, rs, 3)
		if err := e2.Restore(snap); err != nil {
			t.Fatalf("Restore: %v", err)
		}
		snap2, _ := e2.Snapshot()
		if !bytes.Equal(snap, snap2) {
			t.Fatalf("Snapshot after Restore differs:\n%s\n%s", snap, snap2)
		}
		// A restart reads every partition again from its offset + 1.
		var rest [][]Input
		for _, p := range parts {
			var tail []Input
			for _, x := range p {
				if x.Offset > offsets[x.Partition] {
					tail = append(tail, x)
				}
			}
			rest = append(rest, tail)
		}
		got = append(got, run(t, e2, interleave(rand.New(rand.NewPCG(uint64(cut), 4)), rest...)...)...)
		if len(got) != len(ref) {
			t.Fatalf("cut %d: derived %d events; want %d", cut, len(got), len(ref))
		}
		for i := range ref {
			if got[i].ID != ref[i].ID || got[i].Position != ref[i].Position || !bytes.Equal(got[i].Data, ref[i].Data) {
				t.Fatalf("cut %d: event %d = %s %s %s; want %s %s %s", cut, i, got[i].Type, got[i].ID, got[i].Position,
					ref[i].Type, ref[i].ID, ref[i].Position)
			}
		}
	}
	// Ids are unique, and positions increase per derived aggregate.
	ids := map[string]bool{}
	last := map[string]pipeline.Position{}
	for _, d := range ref {
		if ids[d.ID] {
			t.Fatalf("duplicate id %s", d.ID)
		}
		ids[d.ID] = true
		k := d.AggregateType + "/" + d.AggregateID
		if d.Position <= last[k] {
			t.Fatalf("%s: position %s after %s", k, d.Position, last[k])
		}
		last[k] = d.Position
	}
}

// TestNoStateGrowth: over a long run whose keys never come back, the open
// matches, timers and keys stay bounded by what the longest window holds.
func TestNoStateGrowth(t *testing.T) {
	rs := mustRules(t, allRules)
	e := mustEngine(t, rs, 1)
	lsn := uint64(16)
	maxOpen, maxTimers := 0, 0
	sink := func(pipeline.Event) {}
	for i := range 50000 {
		lsn += 16
		at := time.Duration(i) * 10 * time.Second
		key := "o" + itoa(i)
		var x Input
		switch i % 2 {
		case 0:
			x = in(0, lsn, "OrderPromised", key, at, `{"n":1}`)
		default:
			x = in(0, lsn, "OrderDeclined", key, at, `{"customer":`+itoa(i)+`,"total":"1"}`)
		}
		if err := e.Feed(x, sink); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 0 {
			open, timers := 0, 0
			for _, s := range e.Stats() {
				open += s.OpenMatches
				timers += s.Timers
			}
			maxOpen, maxTimers = max(maxOpen, open), max(maxTimers, timers)
		}
	}
	// One record every 10 s and windows of at most 1h10m (overdue 10 m,
	// then 1 h awaiting resolution): 420 records' worth.
	if maxOpen > 450 || maxTimers > 450 {
		t.Errorf("open matches peaked at %d, timers at %d; want at most 450", maxOpen, maxTimers)
	}
	keys, entries := 0, 0
	for i, s := range e.state {
		keys += len(s.keys)
		entries += len(e.timers[i])
	}
	if keys > 450 || entries > 1000 {
		t.Errorf("after the run: %d keys, %d heap entries; want them bounded", keys, entries)
	}
}

func TestRuleEvolution(t *testing.T) {
	v1 := mustRules(t, absenceRules)
	e := mustEngine(t, v1, 1)
	run(t, e, in(0, 1, "OrderPromised", "a", 0, `{"n":1}`))
	snap, err := e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, rules string
		wantOut     int
		wantErr     string
	}{
		{"same rule keeps its state", absenceRules, 1, ""},
		{"a new version starts empty", strings.Replace(absenceRules, "version: 1\n    kind: absence", "version: 2\n    kind: absence", 1), 0, ""},
		{"a changed rule without a new version is refused", strings.Replace(absenceRules, "within: 10m", "within: 20m", 1), 0, "give it a new version"},
		{"a removed rule's state is dropped", sequenceRules, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e2 := mustEngine(t, mustRules(t, tt.rules), 1)
			err := e2.Restore(snap)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Restore = %v; want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out := run(t, e2, progress(0, 2, time.Hour)); len(out) != tt.wantOut {
				t.Errorf("derived %d events; want %d", len(out), tt.wantOut)
			}
		})
	}
}

// TestChainedRules: a rule sees the derived events of the rules above it,
// as the reference file's customer_at_risk does.
func TestChainedRules(t *testing.T) {
	src, err := readReference()
	if err != nil {
		t.Fatal(err)
	}
	e := mustEngine(t, mustRules(t, string(src)), 1)
	var inputs []Input
	lsn := uint64(16)
	for i := range 3 {
		o := "o" + itoa(i)
		lsn += 16
		inputs = append(inputs, in(0, lsn, "OrderRequested", o, time.Duration(i)*time.Minute, `{"order_id":`+itoa(i)+`,"customer_id":42}`))
		lsn += 16
		inputs = append(inputs, in(0, lsn, "OrderDeclined", o, time.Duration(i)*time.Minute+time.Second, `{"order_id":`+itoa(i)+`,"total":"9.50"}`))
	}
	out := run(t, e, inputs...)
	var types []string
	for _, d := range out {
		types = append(types, d.Type+" "+d.AggregateID)
	}
	want := []string{"CustomerOrderDeclined o0", "CustomerOrderDeclined o1", "CustomerOrderDeclined o2", "CustomerAtRisk 42"}
	if !slices.Equal(types, want) {
		t.Fatalf("derived %q; want %q", types, want)
	}
	if got := string(out[3].Data); got != `{"customer_id":42,"declined":3,"first_declined_at":"2026-03-01T08:00:01Z","last_declined_at":"2026-03-01T08:02:01Z"}` {
		t.Errorf("CustomerAtRisk data = %s", got)
	}
	// The derived event and the one it was derived from share the input's
	// position; they belong to different aggregates.
	if out[2].Position != out[3].Position || out[3].Position != pipeline.MakePosition(capture.LSN(lsn), 0, derivedOrdinal) {
		t.Errorf("positions %s, %s; want both the completing input's, at the first derived ordinal", out[2].Position, out[3].Position)
	}
}

func TestHooksAndStats(t *testing.T) {
	var lags []time.Duration
	var evals int
	clock := t0
	hooks := &Hooks{
		Now:        func() time.Time { clock = clock.Add(time.Millisecond); return clock },
		EvalTime:   func(rule string, d time.Duration) { evals++ },
		TimerFired: func(rule string, lag time.Duration) { lags = append(lags, lag) },
	}
	var errs []string
	hooks.EvalError = func(rule string, pos pipeline.Position, err error) { errs = append(errs, rule+": "+err.Error()) }
	e, err := New(mustRules(t, allRules), Config{Source: testSource, Partitions: partitions(1), Hooks: hooks})
	if err != nil {
		t.Fatal(err)
	}
	run(t, e,
		in(0, 1, "OrderPromised", "a", 0, `{"n":1}`),
		in(0, 2, "OrderPromised", "b", 0, `{"n":1}`),
		in(0, 3, "OrderDeclined", "c", 0, `{"total":"1"}`), // no customer: an evaluation error
	)
	st := e.Stats()
	if st[0].OpenMatches != 2 || st[0].Timers != 2 || st[1].Errors != 1 || len(errs) != 1 || evals != 3 {
		t.Fatalf("stats %+v, errors %q, evaluations %d; want 2 open, 2 timers, 1 error, 3 evaluations", st, errs, evals)
	}
	run(t, e, progress(0, 4, 15*time.Minute))
	st = e.Stats()
	if st[0].Matches != 2 || st[0].Derived != 2 || st[0].OpenMatches != 2 || !slices.Equal(lags, []time.Duration{5 * time.Minute, 5 * time.Minute}) {
		t.Errorf("after the deadline: stats %+v, lags %v; want 2 matches, 2 derived, 2 awaiting resolution, lags 5m", st[0], lags)
	}
}

func TestNewErrors(t *testing.T) {
	rs := mustRules(t, absenceRules)
	for _, cfg := range []Config{{}, {Source: "x"}, {Source: "x", Partitions: []PartitionID{part(0), part(0)}}} {
		if _, err := New(rs, cfg); err == nil {
			t.Errorf("New(%+v) = nil error", cfg)
		}
	}
	e := mustEngine(t, rs, 1)
	if err := e.Feed(in(3, 1, "OrderPromised", "a", 0, ""), func(pipeline.Event) {}); err == nil {
		t.Error("Feed from an unknown partition: nil error")
	}
}

// TestLateAndBounded: an event whose commit time steps back before its
// key's window is not counted, and a key keeps at most MaxOpenPerKey open
// matches.
func TestLateAndBounded(t *testing.T) {
	const m = time.Minute
	decl := func(lsn uint64, at time.Duration) Input {
		return in(0, lsn, "OrderDeclined", "o", at, `{"customer":7,"total":"1"}`)
	}
	e := mustEngine(t, mustRules(t, windowRules("count", "    at_least: 3\n    tumbling: true")), 1)
	out := run(t, e, decl(1, 61*m), decl(2, 59*m), decl(3, 62*m))
	if len(out) != 0 || e.Stats()[0].Late != 1 {
		t.Errorf("derived %d, late %d; want 0 derived (the late one is not counted), 1 late", len(out), e.Stats()[0].Late)
	}
	if out := run(t, e, decl(4, 63*m)); len(out) != 1 {
		t.Errorf("third in-window event derived %d; want 1", len(out))
	}

	e, err := New(mustRules(t, absenceRules), Config{Source: testSource, Partitions: partitions(1), MaxOpenPerKey: 2})
	if err != nil {
		t.Fatal(err)
	}
	run(t, e, in(0, 1, "OrderPromised", "a", 0, `{"n":1}`), in(0, 2, "OrderPromised", "a", m, `{"n":2}`),
		in(0, 3, "OrderPromised", "a", 2*m, `{"n":3}`))
	st := e.Stats()[0]
	if st.OpenMatches != 2 || st.Dropped != 1 {
		t.Fatalf("open %d, dropped %d; want 2, 1", st.OpenMatches, st.Dropped)
	}
	out = run(t, e, progress(0, 4, time.Hour))
	if got := brief(out); !strings.Contains(got, `"n":2`) || strings.Contains(got, `"n":1`) {
		t.Errorf("derived:\n%s\nwant the two newest starts", got)
	}
}
