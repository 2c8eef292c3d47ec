package snapshot

import (
	"time"
)

// Progress is one report of how far a snapshot has got, made to
// Config.Progress when a table's read begins (Rows 0), after every chunk
// handed on, and once when the table is read in full (Done). It is plain
// data: drawing it is the caller's business.
type Progress struct {
	// Table is the table being read, schema.name as in the metrics.
	Table string
	// Rows is how many of Table's rows were handed on so far.
	Rows int64
	// RowsEstimated is the rows Table is expected to hold (pg_class.reltuples,
	// an estimate: Rows may pass it); 0 when unknown.
	RowsEstimated int64
	// TablesDone is how many tables were read in full before Table; Tables is
	// how many the snapshot reads.
	TablesDone, Tables int
	// Elapsed is the time since Table's read began.
	Elapsed time.Duration
	// Done marks Table's last report: it is read in full.
	Done bool
}

// Rate returns the rows per second read from Table so far; 0 before any
// time has passed.
func (p Progress) Rate() float64 {
	if s := p.Elapsed.Seconds(); s > 0 {
		return float64(p.Rows) / s
	}
	return 0
}

// progress makes the reports of one Run, from the reading goroutine (no
// ticker: while the handler blocks, nothing moves and nothing is reported).
type progress struct {
	report func(Progress) // nil: no reports
	now    func() time.Time
	p      Progress
	start  time.Time
}

// begin starts reporting on a table expected to hold est rows (0: unknown).
func (g *progress) begin(table string, est int64) {
	g.p.Table, g.p.Rows, g.p.RowsEstimated, g.p.Done = table, 0, est, false
	g.start = g.now()
	g.send()
}

// add counts n more rows handed on and reports.
func (g *progress) add(n int) {
	g.p.Rows += int64(n)
	g.send()
}

// finish reports the table's final count.
func (g *progress) finish() {
	g.p.Done = true
	g.send()
	g.p.TablesDone++
}

func (g *progress) send() {
	if g.report != nil {
		g.p.Elapsed = g.now().Sub(g.start)
		g.report(g.p)
	}
}
