package snapshot

import (
	"testing"
	"time"
)

// clock is a manual clock for progress tests.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestProgressReports(t *testing.T) {
	c := &clock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	var got []Progress
	g := &progress{report: func(p Progress) { got = append(got, p) }, now: c.now, p: Progress{Tables: 2}}

	g.begin(`public.orders`, 1000)
	c.t = c.t.Add(5 * time.Second)
	g.add(100)
	c.t = c.t.Add(5 * time.Second)
	g.add(150)
	g.finish()
	g.begin(`public.lines`, 0)
	c.t = c.t.Add(2 * time.Second)
	g.finish()

	want := []Progress{
		{Table: `public.orders`, RowsEstimated: 1000, Tables: 2},
		{Table: `public.orders`, Rows: 100, RowsEstimated: 1000, Tables: 2, Elapsed: 5 * time.Second},
		{Table: `public.orders`, Rows: 250, RowsEstimated: 1000, Tables: 2, Elapsed: 10 * time.Second},
		{Table: `public.orders`, Rows: 250, RowsEstimated: 1000, Tables: 2, Elapsed: 10 * time.Second, Done: true},
		{Table: `public.lines`, TablesDone: 1, Tables: 2},
		{Table: `public.lines`, TablesDone: 1, Tables: 2, Elapsed: 2 * time.Second, Done: true},
	}
	if len(got) != len(want) {
		t.Fatalf("reports = %+v; want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("report %d = %+v; want %+v", i, got[i], want[i])
		}
	}
	if r := got[2].Rate(); r != 25 {
		t.Errorf("Rate() = %v; want 25 rows/s", r)
	}
	if r := got[0].Rate(); r != 0 {
		t.Errorf("Rate() with no time elapsed = %v; want 0", r)
	}
}

func TestProgressWithoutCallback(t *testing.T) {
	g := &progress{now: time.Now}
	g.begin(`public.t`, 0) // nothing to report to: no panic, nothing done
	g.add(1)
	g.finish()
	if g.p.Rows != 1 || g.p.TablesDone != 1 {
		t.Errorf("state = %+v; want 1 row and 1 table done", g.p)
	}
}
