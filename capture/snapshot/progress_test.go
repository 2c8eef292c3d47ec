package snapshot

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestStatus(t *testing.T) {
	tests := []struct {
		name string
		s    status
		bar  string
		line string
	}{
		{
			name: "half way",
			s:    status{table: `public.orders`, done: 500, est: 1000, rate: 100},
			bar:  `public.orders [############............] 500/1000 rows (50.0%) 100 rows/s ETA 5s`,
			line: `snapshot public.orders: 500/1000 rows (50.0%), 100 rows/s, ETA 5s`,
		},
		{
			name: "unknown estimate",
			s:    status{table: `public.t`, done: 7, rate: 3.5},
			bar:  `public.t [????????????????????????] 7 rows 4 rows/s ETA ?`,
			line: `snapshot public.t: 7 rows, 4 rows/s, ETA ?`,
		},
		{
			name: "past a stale estimate",
			s:    status{table: `public.t`, done: 30, est: 20, rate: 10},
			bar:  `public.t [########################] 30/20 rows (100.0%) 10 rows/s ETA 0s`,
			line: `snapshot public.t: 30/20 rows (100.0%), 10 rows/s, ETA 0s`,
		},
		{
			name: "no rate yet",
			s:    status{table: `public.t`, done: 0, est: 20},
			bar:  `public.t [........................] 0/20 rows (0.0%) 0 rows/s ETA ?`,
			line: `snapshot public.t: 0/20 rows (0.0%), 0 rows/s, ETA ?`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.bar(); got != tt.bar {
				t.Errorf("bar() =\n%s\nwant\n%s", got, tt.bar)
			}
			if got := tt.s.line(); got != tt.line {
				t.Errorf("line() =\n%s\nwant\n%s", got, tt.line)
			}
		})
	}
}

// clock is a manual clock for progress tests.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestProgressWriterReportsOncePerInterval(t *testing.T) {
	c := &clock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	var out bytes.Buffer
	p := newProgress(&out, 10*time.Second, slog.New(slog.DiscardHandler), c.now)
	p.begin(`public.orders`, 1000)

	c.t = c.t.Add(5 * time.Second)
	p.add(100) // before the interval: nothing
	c.t = c.t.Add(5 * time.Second)
	p.add(100) // 10s: 200 rows at 20 rows/s
	c.t = c.t.Add(1 * time.Second)
	p.add(100) // 1s after the last report: nothing
	c.t = c.t.Add(9 * time.Second)
	p.finish()

	want := `snapshot public.orders: 200/1000 rows (20.0%), 20 rows/s, ETA 40s
snapshot public.orders: 300/1000 rows (30.0%), 15 rows/s, ETA 46s
`
	if got := out.String(); got != want {
		t.Errorf("progress output =\n%s\nwant\n%s", got, want)
	}
}

func TestProgressLogsWithoutWriter(t *testing.T) {
	c := &clock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	var logs bytes.Buffer
	p := newProgress(nil, time.Second, slog.New(slog.NewTextHandler(&logs, nil)), c.now)
	p.begin(`public.orders`, 0)
	c.t = c.t.Add(2 * time.Second)
	p.add(10)
	p.finish() // the caller logs the table's end; progress adds nothing

	got := logs.String()
	if strings.Count(got, "\n") != 1 ||
		!strings.Contains(got, `msg="snapshot progress" table=public.orders rows=10 rows_estimated=0 rows_per_second=5 eta=?`) {
		t.Errorf("progress log =\n%s\nwant one snapshot progress record with rows=10", got)
	}
}
