package flowdisplay

import (
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/flow"
)

func TestStatusLine(t *testing.T) {
	tests := []struct {
		name    string
		stats   flow.Stats
		elapsed time.Duration
		extra   string
		want    string
	}{
		{name: "before the session", elapsed: time.Second,
			want: "changes 0  events 0 (0/s)  acked 0  dead letters 0  queued 0 (0 KiB)  confirmed -"},
		{name: "streaming", elapsed: 2 * time.Second, extra: "load 7 tx | ",
			stats: flow.Stats{Changes: 12, Events: 10, DeadLetters: 1, Acked: 8, QueuedBatches: 2, QueuedBytes: 3 << 10, Streaming: true, Confirmed: 0x16B3748},
			want:  "load 7 tx | changes 12  events 10 (5/s)  acked 8  dead letters 1  queued 2 (3 KiB)  confirmed 0/16B3748"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := StatusLine(tt.stats, tt.elapsed, tt.extra); got != tt.want {
				t.Errorf("StatusLine(%+v, %v, %q) = %q; want %q", tt.stats, tt.elapsed, tt.extra, got, tt.want)
			}
		})
	}
}
