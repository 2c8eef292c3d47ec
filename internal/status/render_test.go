package status

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/internal/thresholds"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fixedStatus is a status with every kind of position and line.
func fixedStatus() *Status {
	i64 := func(n int64) *int64 { return &n }
	f64 := func(f float64) *float64 { return &f }
	p0, p1 := int32(0), int32(1)
	return &Status{
		Time:    time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC),
		Verdict: Warn,
		Positions: []Position{
			{Stage: "postgresql", LSN: "0/3000148", WAL: 0x3000148},
			{Stage: "slot", LSN: "0/3000000", WAL: 0x3000000, BehindBytes: i64(0x148), BehindSeconds: f64(1.25)},
			{Stage: "kafka", Topic: "shop.order", LSN: "0/2FFFF00", WAL: 0x2FFFF00, Offset: i64(1234)},
			{Stage: "view", Topic: "shop.order", Partition: &p0, Generation: 2, LSN: "0/2FFFF00", WAL: 0x2FFFF00, Offset: i64(600), BehindRecords: i64(0)},
			{Stage: "view", Topic: "shop.order", Partition: &p1, Generation: 2, Offset: i64(0), BehindRecords: i64(634)},
		},
		Lines: []Line{
			{Stage: "source", Name: "postgresql", Value: "current WAL 0/3000148", Verdict: OK},
			{Stage: "source", Name: "slot lag", Value: "confirmed 0/3000000, 328 B behind, 1.2s behind", Threshold: "warn > 1m0s, fail > 5m0s", Verdict: OK},
			{Stage: "source", Name: "slot wal_status", Value: "reserved", Threshold: "fail: unreserved, lost", Verdict: OK},
			{Stage: "kafka", Name: "dead letters shop.deadletter", Value: "2 records, the last 3m0s ago", Threshold: "none within 15m0s", Verdict: Warn},
			{Stage: "views", Name: "view shop.order[1] lag", Value: "634 records (applied to offset 0 of 634)", Threshold: "warn > 10000", Verdict: OK},
		},
	}
}

func TestRenderGolden(t *testing.T) {
	tests := []struct {
		file   string
		render func(*bytes.Buffer, *Status) error
	}{
		{"status.golden", func(b *bytes.Buffer, s *Status) error { return Render(b, s) }},
		{"status.json.golden", func(b *bytes.Buffer, s *Status) error { return RenderJSON(b, s) }},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var b bytes.Buffer
			if err := tt.render(&b, fixedStatus()); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tt.file)
			if *update {
				if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := b.String(); got != string(want) {
				t.Errorf("rendering differs from %s (go test -update to accept):\ngot:\n%s\nwant:\n%s", path, got, want)
			}
		})
	}
}

// Watch renders again every interval until its context ends; with nothing
// configured but the source's absence, every rendering says so and fails.
func TestWatch(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	var out bytes.Buffer
	renders := 0
	render := func(w io.Writer, s *Status) error {
		renders++
		if renders == 3 {
			cancel()
		}
		if s.Verdict != Fail || len(s.Lines) == 0 || s.Lines[0].Value != "source.dsn is not set" {
			t.Errorf("status = %+v; want a failed source line", s)
		}
		return Render(w, s)
	}
	err := Watch(ctx, Config{Thresholds: thresholds.Default()}, time.Millisecond, &out, true, render)
	if !errors.Is(err, context.Canceled) || renders != 3 {
		t.Errorf("Watch = %v after %d renderings; want context.Canceled after 3", err, renders)
	}
	if n := strings.Count(out.String(), "\x1b[H\x1b[2J"); n != 3 {
		t.Errorf("%d screen clears; want one per rendering (3)", n)
	}
}
