package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/internal/loadgen"
)

func TestProgressLine(t *testing.T) {
	s := loadgen.Stats{Transactions: 50, Tables: map[string]loadgen.TableStats{
		"orders": {Inserted: 10, Updated: 5}, "audit_log": {Inserted: 60, Deleted: 5},
	}}
	tests := []struct {
		count int64
		want  string
	}{
		{0, "50 tx, 80 rows changed, 10 tx/s, 5s"},
		{100, "50/100 tx (50%), 80 rows changed, 10 tx/s, ETA 5s"},
		{50, "50/50 tx (100%), 80 rows changed, 10 tx/s"},
	}
	for _, tt := range tests {
		if got := progressLine(s, tt.count, 5*time.Second); got != tt.want {
			t.Errorf("progressLine(count %d) = %q; want %q", tt.count, got, tt.want)
		}
	}
}

func TestPrintStats(t *testing.T) {
	var b bytes.Buffer
	err := printStats(&b, loadgen.Stats{Transactions: 3, Tables: map[string]loadgen.TableStats{
		"orders": {Inserted: 1, Updated: 2}, "ShipmentTracking": {Inserted: 4}, "audit_log": {Deleted: 7},
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"table                inserted    updated    deleted",
		"audit_log                   0          0          7",
		"orders                      1          2          0",
		"ShipmentTracking            4          0          0",
		"3 transactions committed",
		"",
	}, "\n")
	if b.String() != want {
		t.Errorf("printStats:\n%s\nwant:\n%s", b.String(), want)
	}
}
