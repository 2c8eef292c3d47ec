package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/internal/progress"
	"github.com/cdcflow/cdcflow/sinks/redisview"
)

func TestProgressBar(t *testing.T) {
	tests := []struct {
		p    redisview.Progress
		want string
	}{
		{redisview.Progress{Done: 0, Total: 200}, "replay [..........]   0%  0/200 records  0/s  ETA -"},
		{redisview.Progress{Done: 50, Total: 200, Rate: 25, ETA: 6 * time.Second}, "replay [##........]  25%  50/200 records  25/s  ETA 6s"},
		{redisview.Progress{Done: 200, Total: 200, Rate: 30}, "replay [##########] 100%  200/200 records  30/s  ETA -"},
		{redisview.Progress{Done: 0, Total: 0}, "replay [##########] 100%  0/0 records  0/s  ETA -"},
		{redisview.Progress{Done: 5, Total: 10, Rate: 5, ETA: time.Second, Round: 2}, "catch-up 1 [#####.....]  50%  5/10 records  5/s  ETA 1s"},
		// Records that arrived during the round: done never shows above total.
		{redisview.Progress{Done: 18108, Total: 17978, Rate: 900}, "replay [##########] 100%  17978/17978 records  900/s  ETA -"},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		replayDisplay(progress.New(progress.Config{Out: &buf, Redraw: true}), 10)(tt.p)
		if got := strings.TrimPrefix(buf.String(), "\r\033[K"); got != tt.want {
			t.Errorf("show(%+v) = %q; want %q", tt.p, got, tt.want)
		}
	}
	var buf bytes.Buffer
	b := progress.New(progress.Config{Out: &buf, Redraw: true})
	b.End()
	if buf.Len() != 0 {
		t.Errorf("end() of a bar never drawn wrote %q", buf.String())
	}
	replayDisplay(b, 10)(redisview.Progress{Total: 1})
	b.End()
	if !strings.HasSuffix(buf.String(), "\n") {
		t.Errorf("end() did not finish the line: %q", buf.String())
	}
}

func TestProgressLogger(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	f := replayDisplay(progress.New(progress.Config{Log: log, Interval: 10 * time.Second, Now: func() time.Time { return now }}), 10)
	steps := []struct {
		after time.Duration
		p     redisview.Progress
		logs  bool
	}{
		{0, redisview.Progress{Done: 10, Total: 100}, true},            // the first report
		{time.Second, redisview.Progress{Done: 20, Total: 100}, false}, // too soon
		{10 * time.Second, redisview.Progress{Done: 60, Total: 100, Rate: 5, ETA: 8 * time.Second}, true},
		{time.Second, redisview.Progress{Done: 100, Total: 100}, true},       // done: always
		{time.Second, redisview.Progress{Done: 1, Total: 9, Round: 2}, true}, // a new round
		{time.Second, redisview.Progress{Done: 2, Total: 9, Round: 2}, false},
	}
	for i, s := range steps {
		now = now.Add(s.after)
		before := buf.Len()
		f(s.p)
		if logged := buf.Len() > before; logged != s.logs {
			t.Errorf("step %d (%+v): logged = %v; want %v", i, s.p, logged, s.logs)
		}
	}
	f(redisview.Progress{Done: 18108, Total: 17978, Round: 3})
	if !strings.Contains(buf.String(), "round=3 done=17978 total=17978 percent=100") {
		t.Errorf("log lines:\n%s\nwant done capped at total, 100 percent", buf.String())
	}
	f(redisview.Progress{Done: 0, Total: 50, Round: 4}) // stalled: no rate, no ETA
	if !strings.Contains(buf.String(), "round=4 done=0 total=50 percent=0 rate_per_s=0 eta=-") {
		t.Errorf("log lines:\n%s\nwant eta=- while stalled, not 0s", buf.String())
	}
	if !strings.Contains(buf.String(), "round=0 done=60 total=100 percent=60 rate_per_s=5 eta=8s") {
		t.Errorf("log lines:\n%s\nwant one with round=0 done=60 total=100 percent=60 rate_per_s=5 eta=8s", buf.String())
	}
}
