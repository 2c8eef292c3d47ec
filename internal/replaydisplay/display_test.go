package replaydisplay

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/internal/progress"
	"github.com/cdcflow/cdcflow/sinks/redisview"
)

func TestReport(t *testing.T) {
	tests := []struct {
		name      string
		p         redisview.Progress
		wantText  string
		wantAttrs string
	}{
		{"start", redisview.Progress{Done: 0, Total: 200}, "replay [..........]   0%  0/200 records  0/s  ETA -",
			"round=0 done=0 total=200 percent=0 rate_per_s=0 eta=-"},
		{"a quarter", redisview.Progress{Done: 50, Total: 200, Rate: 25, ETA: 6 * time.Second},
			"replay [##........]  25%  50/200 records  25/s  ETA 6s", "round=0 done=50 total=200 percent=25 rate_per_s=25 eta=6s"},
		{"done", redisview.Progress{Done: 200, Total: 200, Rate: 30}, "replay [##########] 100%  200/200 records  30/s  ETA -",
			"round=0 done=200 total=200 percent=100 rate_per_s=30 eta=-"},
		{"nothing to apply", redisview.Progress{Done: 0, Total: 0}, "replay [##########] 100%  0/0 records  0/s  ETA -",
			"round=0 done=0 total=0 percent=100 rate_per_s=0 eta=-"},
		{"catch-up", redisview.Progress{Done: 5, Total: 10, Rate: 5, ETA: 1400 * time.Millisecond, Round: 2},
			"catch-up 1 [#####.....]  50%  5/10 records  5/s  ETA 1s", "round=2 done=5 total=10 percent=50 rate_per_s=5 eta=1s"},
		{"done capped at total", redisview.Progress{Done: 18108, Total: 17978, Rate: 900},
			"replay [##########] 100%  17978/17978 records  900/s  ETA -", "round=0 done=17978 total=17978 percent=100 rate_per_s=900 eta=-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Report(tt.p, 10)
			if r.Text != tt.wantText || r.Msg != "replay progress" {
				t.Errorf("Report(%+v) = %q, %q; want %q, replay progress", tt.p, r.Text, r.Msg, tt.wantText)
			}
			var attrs []string
			for _, a := range r.Attrs {
				attrs = append(attrs, a.String())
			}
			if got := strings.Join(attrs, " "); got != tt.wantAttrs {
				t.Errorf("Report(%+v) attrs %q; want %q", tt.p, got, tt.wantAttrs)
			}
		})
	}
}

func TestNewRedrawn(t *testing.T) {
	var buf bytes.Buffer
	l := progress.New(progress.Config{Out: &buf, Redraw: true})
	show := New(l, 10)
	show(redisview.Progress{Done: 1, Total: 4})
	show(redisview.Progress{Done: 2, Total: 4})
	l.End()
	want := "\r\033[Kreplay [##........]  25%  1/4 records  0/s  ETA -" +
		"\r\033[Kreplay [#####.....]  50%  2/4 records  0/s  ETA -\n"
	if buf.String() != want {
		t.Errorf("redrawn display wrote %q; want %q", buf.String(), want)
	}
}

func TestNewLogged(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	show := New(progress.New(progress.Config{Log: log, Interval: 10 * time.Second, Now: func() time.Time { return now }}), 10)
	steps := []struct {
		after time.Duration
		p     redisview.Progress
		logs  bool
	}{
		{0, redisview.Progress{Done: 10, Total: 100}, true},                  // the first report
		{time.Second, redisview.Progress{Done: 20, Total: 100}, false},       // too soon
		{10 * time.Second, redisview.Progress{Done: 60, Total: 100}, true},   // an interval later
		{time.Second, redisview.Progress{Done: 100, Total: 100}, true},       // done: always
		{time.Second, redisview.Progress{Done: 1, Total: 9, Round: 2}, true}, // a new round
		{time.Second, redisview.Progress{Done: 2, Total: 9, Round: 2}, false},
	}
	for i, s := range steps {
		now = now.Add(s.after)
		before := buf.Len()
		show(s.p)
		if logged := buf.Len() > before; logged != s.logs {
			t.Errorf("step %d (%+v): logged = %v; want %v", i, s.p, logged, s.logs)
		}
	}
	if first, _, _ := strings.Cut(buf.String(), "\n"); first != `level=INFO msg="replay progress" round=0 done=10 total=100 percent=10 rate_per_s=0 eta=-` {
		t.Errorf("first record %q", first)
	}
}

func TestLogSwap(t *testing.T) {
	tests := []struct {
		name      string
		live, old int64
		grace     time.Duration
		want      string
	}{
		{"first generation", 1, 0, 30 * time.Second, `level=INFO msg="swapped: the new generation is live" generation=1 old_generation=0`},
		{"old kept for the grace period", 3, 2, 30 * time.Second,
			`level=INFO msg="swapped: the new generation is live; the old one is deleted after the grace period" generation=3 old_generation=2 grace=30s`},
		{"old kept for good", 3, 2, 0, `level=INFO msg="swapped: the new generation is live" generation=3 old_generation=2`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			}}))
			LogSwap(log, tt.live, tt.old, tt.grace)
			if got := strings.TrimSuffix(buf.String(), "\n"); got != tt.want {
				t.Errorf("LogSwap(%d, %d, %v) logged %q; want %q", tt.live, tt.old, tt.grace, got, tt.want)
			}
		})
	}
}
