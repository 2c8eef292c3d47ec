package quickstart

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cdcflow/cdcflow/sinks/redisview"
)

func groups(counts map[string]int64) map[string]redisview.Group {
	g := map[string]redisview.Group{}
	for k, n := range counts {
		g[k] = redisview.Group{Count: n}
	}
	return g
}

func TestSummary(t *testing.T) {
	tests := []struct {
		name   string
		groups map[string]redisview.Group
		n      int64
		want   string
	}{
		{"statuses in order", groups(map[string]int64{"placed": 2, "cancelled": 1, "paid": 4}), 7, "views: 7 orders (cancelled 1, paid 4, placed 2)"},
		{"none", nil, 0, "views: 0 orders ()"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Summary(tt.groups, tt.n); got != tt.want {
				t.Errorf("Summary = %q; want %q", got, tt.want)
			}
		})
	}
}

func TestOrdersStatusAndSummary(t *testing.T) {
	down := errors.New("read views: no generation has been swapped in yet")
	tests := []struct {
		name        string
		read        func(context.Context) (map[string]redisview.Group, error)
		wantStatus  string
		wantSummary string
	}{
		{"readable", func(ctx context.Context) (map[string]redisview.Group, error) {
			if d, ok := ctx.Deadline(); !ok || time.Until(d) > time.Second {
				t.Errorf("read without a deadline within a second (%v, %v)", d, ok)
			}
			return groups(map[string]int64{"paid": 2, "placed": 3}), nil
		}, "views 5 orders", "views: 5 orders (paid 2, placed 3)\n"},
		{"unreadable", func(context.Context) (map[string]redisview.Group, error) { return nil, down },
			"views -", "views: read views: no generation has been swapped in yet\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &Orders{read: tt.read}
			if got := o.Status(t.Context()); got != tt.wantStatus {
				t.Errorf("Status = %q; want %q", got, tt.wantStatus)
			}
			var b bytes.Buffer
			o.WriteSummary(t.Context(), &b)
			if b.String() != tt.wantSummary {
				t.Errorf("WriteSummary wrote %q; want %q", b.String(), tt.wantSummary)
			}
		})
	}
}

func TestOrdersAwaitCount(t *testing.T) {
	t.Run("reached", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			calls := 0
			o := &Orders{read: func(context.Context) (map[string]redisview.Group, error) {
				calls++
				switch {
				case calls < 3:
					return nil, errors.New("not yet")
				case calls < 5:
					return groups(map[string]int64{"placed": int64(calls)}), nil
				}
				return groups(map[string]int64{"placed": 4, "paid": 3}), nil
			}}
			start := time.Now()
			if err := o.awaitCount(t.Context(), 7); err != nil {
				t.Fatalf("awaitCount = %v", err)
			}
			if calls != 5 || time.Since(start) != 800*time.Millisecond {
				t.Errorf("awaitCount took %d reads in %v; want 5 reads, 200ms apart", calls, time.Since(start))
			}
		})
	})
	t.Run("gives up after a minute", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			o := &Orders{read: func(context.Context) (map[string]redisview.Group, error) {
				return groups(map[string]int64{"placed": 1}), nil
			}}
			start := time.Now()
			err := o.awaitCount(t.Context(), 2)
			if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "wait for the views to hold the 2 orders: ") {
				t.Errorf("awaitCount = %v; want the wait for the 2 orders to exceed its deadline", err)
			}
			if time.Since(start) != time.Minute {
				t.Errorf("gave up after %v; want a minute", time.Since(start))
			}
		})
	})
}
