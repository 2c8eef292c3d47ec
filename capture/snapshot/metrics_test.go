package snapshot

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Remaining rows start at the tables' estimates, fall with the rows read
// (never below 0 for a table whose estimate was short) and drop what is left
// of a table when it is finished.
func TestRowsRemaining(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	a := &table{label: "public.a", estimate: 100}
	b := &table{label: "public.b", estimate: 50}
	c := &table{label: "public.c", estimate: -1} // never analyzed
	steps := []struct {
		name string
		do   func()
		want float64
	}{
		{"start", func() { m.start([]*table{a, b, c}) }, 150},
		{"read 40 of a", func() { m.addRows("public.a", 40) }, 110},
		{"read 80 more of a (estimate short)", func() { m.addRows("public.a", 80) }, 50},
		{"finish a", func() { m.finish(a) }, 50},
		{"read 10 of b", func() { m.addRows("public.b", 10) }, 40},
		{"stop with b and c unread", func() { m.finish(b, c) }, 0},
	}
	for _, s := range steps {
		s.do()
		if got := testutil.ToFloat64(m.rowsRemaining); got != s.want {
			t.Errorf("after %s: rows remaining = %v; want %v", s.name, got, s.want)
		}
	}
	if testutil.ToFloat64(m.lastProgress) == 0 {
		t.Error("no progress stamp after rows were read")
	}
	var nilM *Metrics
	nilM.start([]*table{a})
	nilM.finish(a)
	nilM.addRows("public.a", 1)
}
