package loadgen

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestStatsProgressLine(t *testing.T) {
	s := Stats{Transactions: 50, Tables: map[string]TableStats{
		"orders": {Inserted: 10, Updated: 5}, "audit_log": {Inserted: 60, Deleted: 5},
	}}
	tests := []struct {
		name    string
		stats   Stats
		count   int64
		elapsed time.Duration
		want    string
	}{
		{"no limit", s, 0, 5 * time.Second, "50 tx, 80 rows changed, 10 tx/s, 5s"},
		{"half done", s, 100, 5 * time.Second, "50/100 tx (50%), 80 rows changed, 10 tx/s, ETA 5s"},
		{"done", s, 50, 5 * time.Second, "50/50 tx (100%), 80 rows changed, 10 tx/s"},
		{"nothing yet", Stats{}, 10, 0, "0/10 tx (0%), 0 rows changed, 0 tx/s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.stats.ProgressLine(tt.count, tt.elapsed); got != tt.want {
				t.Errorf("ProgressLine(%d, %v) = %q; want %q", tt.count, tt.elapsed, got, tt.want)
			}
		})
	}
}

func TestStatsWriteTable(t *testing.T) {
	tests := []struct {
		name  string
		stats Stats
		want  []string
	}{
		{"tables in case-insensitive order", Stats{Transactions: 3, Tables: map[string]TableStats{
			"orders": {Inserted: 1, Updated: 2}, "ShipmentTracking": {Inserted: 4}, "audit_log": {Deleted: 7},
		}}, []string{
			"table                inserted    updated    deleted",
			"audit_log                   0          0          7",
			"orders                      1          2          0",
			"ShipmentTracking            4          0          0",
			"3 transactions committed",
		}},
		{"nothing", Stats{}, []string{
			"table                inserted    updated    deleted",
			"0 transactions committed",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tt.stats.WriteTable(&b); err != nil {
				t.Fatal(err)
			}
			if want := strings.Join(tt.want, "\n") + "\n"; b.String() != want {
				t.Errorf("WriteTable:\n%s\nwant:\n%s", b.String(), want)
			}
		})
	}
}
