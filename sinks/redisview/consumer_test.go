package redisview

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cdcflow/cdcflow/backpressure"
)

// TestConsumerPause checks the pause before a partition is applied again:
// RetryBackoff each time (no jitter), the attempt counted per partition,
// and the count started again once the partition is revoked or applied.
func TestConsumerPause(t *testing.T) {
	errRedis := errors.New("redis down")
	p0, p1 := tp{"orders", 0}, tp{"orders", 1}
	tests := []struct {
		name   string
		steps  []tp // a failed apply of each, in order; forgotten: revoked before the step
		forget map[int]tp
		want   []string // "topic partition attempt" of each log record
	}{
		{name: "attempts count per partition", steps: []tp{p0, p0, p1, p0},
			want: []string{"orders 0 1", "orders 0 2", "orders 1 1", "orders 0 3"}},
		{name: "a revoked partition starts again", steps: []tp{p0, p0, p0}, forget: map[int]tp{2: p0},
			want: []string{"orders 0 1", "orders 0 2", "orders 0 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var buf bytes.Buffer
				log := slog.New(slog.NewJSONHandler(&buf, nil))
				c := &Consumer{cfg: ConsumerConfig{RetryBackoff: 500 * time.Millisecond}, log: log,
					next: map[tp]int64{}, retry: map[tp]*backpressure.Backoff{}}
				start := time.Now()
				for i, key := range tt.steps {
					if k, ok := tt.forget[i]; ok {
						c.forget(t.Context(), nil, map[string][]int32{k.topic: {k.partition}})
					}
					if err := c.pause(t.Context(), key, errRedis); err != nil {
						t.Fatalf("pause #%d = %v; want nil", i, err)
					}
				}
				if got, want := time.Since(start), time.Duration(len(tt.steps))*500*time.Millisecond; got != want {
					t.Errorf("paused %v in all; want %v (RetryBackoff each time)", got, want)
				}
				var got []string
				for line := range strings.Lines(buf.String()) {
					var r struct {
						Topic     string `json:"topic"`
						Partition int32  `json:"partition"`
						Attempt   int    `json:"attempt"`
						RetryIn   int64  `json:"retry_in"`
						Err       string `json:"err"`
					}
					if err := json.Unmarshal([]byte(line), &r); err != nil {
						t.Fatal(err)
					}
					if r.RetryIn != int64(500*time.Millisecond) || r.Err != errRedis.Error() {
						t.Errorf("log record %s: want retry_in 500ms and err %q", line, errRedis)
					}
					got = append(got, fmt.Sprint(r.Topic, " ", r.Partition, " ", r.Attempt))
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("logged attempts %q; want %q", got, tt.want)
				}
			})
		})
	}
}
