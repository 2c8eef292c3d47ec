package benchkit

import (
	"bytes"
	"testing"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		xs   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 3}, // the upper one of an even count
	}
	for _, tt := range tests {
		in := append([]float64(nil), tt.xs...)
		if got := Median(tt.xs); got != tt.want {
			t.Errorf("Median(%v) = %v; want %v", in, got, tt.want)
		}
		for i := range in {
			if tt.xs[i] != in[i] {
				t.Fatalf("Median reordered its input: %v; was %v", tt.xs, in)
			}
		}
	}
}

func TestSlotName(t *testing.T) {
	tests := []struct {
		reader string
		run    int
		want   string
	}{
		{"pg_recvlogical", 0, "bench_pgrecvlogical_0"},
		{"cdcflow-decode-only", 2, "bench_cdcflowdecodeonly_2"},
		{"at-least-once, SyncWrites on", 1, "bench_atleastonceyncriteson_1"},
	}
	for _, tt := range tests {
		if got := slotName(tt.reader, tt.run); got != tt.want {
			t.Errorf("slotName(%q, %d) = %q; want %q", tt.reader, tt.run, got, tt.want)
		}
	}
}

func TestTable(t *testing.T) {
	var out bytes.Buffer
	w := Workload{Changes: 100, Transactions: 7, Start: 0, End: 3 << 19}
	tw := Table(&out, w, 3, "reader", "wall s per run")
	tw.Write([]byte("pg_recvlogical\t" + FormatSeconds([]float64{1, 1.2345}) + "\t\n"))
	tw.Flush()
	want := "100 captured row changes, 7 transactions, 1.5 MiB WAL; median of 3 runs, alternating order\n\n" +
		"          reader  wall s per run\n" +
		"  pg_recvlogical     1.000 1.234\n"
	if got := out.String(); got != want {
		t.Errorf("table =\n%q\nwant\n%q", got, want)
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		o       Options
		wantErr bool
	}{
		{Options{Changes: 1, Runs: 1}, false},
		{Options{Changes: 0, Runs: 1}, true},
		{Options{Changes: 1, Runs: 0}, true},
	}
	for _, tt := range tests {
		if err := tt.o.Validate(); (err != nil) != tt.wantErr {
			t.Errorf("%+v.Validate() = %v; want error %v", tt.o, err, tt.wantErr)
		}
	}
}

func TestPeakRSS(t *testing.T) {
	if got := PeakRSS("self"); got <= 0 {
		t.Errorf("PeakRSS(self) = %d KiB; want the test process's peak", got)
	}
	if got := PeakRSS("0"); got != 0 {
		t.Errorf("PeakRSS of no process = %d; want 0", got)
	}
}
