package flowdisplay

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/capture/snapshot"
	"github.com/cdcflow/cdcflow/internal/progress"
)

func TestSnapshotReport(t *testing.T) {
	tests := []struct {
		name string
		p    snapshot.Progress
		bar  string
		line string
	}{
		{
			name: "half way",
			p:    snapshot.Progress{Table: `public.orders`, Rows: 500, RowsEstimated: 1000, Elapsed: 5 * time.Second},
			bar:  `public.orders [############............] 500/1000 rows (50.0%) 100 rows/s ETA 5s`,
			line: `snapshot public.orders: 500/1000 rows (50.0%), 100 rows/s, ETA 5s`,
		},
		{
			name: "unknown estimate",
			p:    snapshot.Progress{Table: `public.t`, Rows: 7, Elapsed: 2 * time.Second},
			bar:  `public.t [????????????????????????] 7 rows 4 rows/s ETA ?`,
			line: `snapshot public.t: 7 rows, 4 rows/s, ETA ?`,
		},
		{
			name: "past a stale estimate",
			p:    snapshot.Progress{Table: `public.t`, Rows: 30, RowsEstimated: 20, Elapsed: 3 * time.Second},
			bar:  `public.t [########################] 30/20 rows (100.0%) 10 rows/s ETA 0s`,
			line: `snapshot public.t: 30/20 rows (100.0%), 10 rows/s, ETA 0s`,
		},
		{
			name: "no rate yet",
			p:    snapshot.Progress{Table: `public.t`, Rows: 0, RowsEstimated: 20},
			bar:  `public.t [........................] 0/20 rows (0.0%) 0 rows/s ETA ?`,
			line: `snapshot public.t: 0/20 rows (0.0%), 0 rows/s, ETA ?`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := snapshotReport(tt.p, true).Text; got != tt.bar {
				t.Errorf("bar =\n%s\nwant\n%s", got, tt.bar)
			}
			if got := snapshotReport(tt.p, false).Text; got != tt.line {
				t.Errorf("line =\n%s\nwant\n%s", got, tt.line)
			}
		})
	}
}

// testClock is a manual clock for the displays' tests.
type testClock struct{ t time.Time }

func (c *testClock) now() time.Time { return c.t }

func TestSnapshotDisplayWriterReportsOncePerInterval(t *testing.T) {
	c := &testClock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	var out bytes.Buffer
	show := snapshotDisplay(progress.New(progress.Config{Out: &out, Interval: 10 * time.Second, Now: c.now}))
	p := snapshot.Progress{Table: `public.orders`, RowsEstimated: 1000, Tables: 1}
	step := func(after time.Duration, rows int64, done bool) {
		c.t = c.t.Add(after)
		p.Elapsed += after
		p.Rows, p.Done = rows, done
		show(p)
	}
	c.t = c.t.Add(time.Minute) // the interval counts from the table's begin
	step(0, 0, false)
	step(5*time.Second, 100, false) // before the interval: nothing
	step(5*time.Second, 200, false) // 10s: 200 rows at 20 rows/s
	step(1*time.Second, 300, false) // 1s after the last report: nothing
	step(9*time.Second, 300, true)

	want := `snapshot public.orders: 200/1000 rows (20.0%), 20 rows/s, ETA 40s
snapshot public.orders: 300/1000 rows (30.0%), 15 rows/s, ETA 46s
`
	if got := out.String(); got != want {
		t.Errorf("progress output =\n%s\nwant\n%s", got, want)
	}
}

func TestSnapshotDisplayRedrawsABarPerTable(t *testing.T) {
	var out bytes.Buffer
	show := snapshotDisplay(progress.New(progress.Config{Out: &out, Redraw: true}))
	show(snapshot.Progress{Table: `public.t`, RowsEstimated: 2})
	show(snapshot.Progress{Table: `public.t`, Rows: 2, RowsEstimated: 2, Elapsed: time.Second, Done: true})
	want := "\r\x1b[Kpublic.t [########################] 2/2 rows (100.0%) 2 rows/s ETA 0s\n"
	if got := out.String(); got != want {
		t.Errorf("bar output = %q; want %q", got, want)
	}
}

func TestSnapshotDisplayLogsWithoutWriter(t *testing.T) {
	c := &testClock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	var logs bytes.Buffer
	show := snapshotDisplay(progress.New(progress.Config{Log: slog.New(slog.NewTextHandler(&logs, nil)), Interval: time.Second, Now: c.now}))
	show(snapshot.Progress{Table: `public.orders`})
	c.t = c.t.Add(2 * time.Second)
	show(snapshot.Progress{Table: `public.orders`, Rows: 10, Elapsed: 2 * time.Second})
	show(snapshot.Progress{Table: `public.orders`, Rows: 10, Elapsed: 2 * time.Second, Done: true}) // the snapshot logs the table's end; the display adds nothing

	got := logs.String()
	if strings.Count(got, "\n") != 1 ||
		!strings.Contains(got, `msg="snapshot progress" table=public.orders rows=10 rows_estimated=0 rows_per_second=5 eta=?`) {
		t.Errorf("progress log =\n%s\nwant one snapshot progress record with rows=10", got)
	}
}
