package services

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

func startRedis(t *testing.T, args ...string) *Redis {
	t.Helper()
	r, err := StartRedis(t.Context(), RedisOptions{Dir: t.TempDir(), Args: args})
	skipIfMissing(t, err)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return r
}

func redisClient(t *testing.T, r *Redis) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: r.Addr(), MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	return c
}

func TestIntegrationRedisKillRestart(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		survives bool
	}{
		{"appendonly", []string{"--appendonly", "yes"}, true},
		{"no persistence", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := startRedis(t, tt.args...)
			c := redisClient(t, r)
			ctx := t.Context()
			for i := range 100 {
				if err := c.Set(ctx, fmt.Sprintf("k%d", i), i, 0).Err(); err != nil {
					t.Fatal(err)
				}
			}
			addr := r.Addr()
			if err := r.Kill(); err != nil {
				t.Fatal(err)
			}
			if err := c.Ping(ctx).Err(); err == nil {
				t.Fatal("PING after Kill succeeded; want the server gone")
			}
			if err := r.Restart(ctx); err != nil {
				t.Fatal(err)
			}
			if r.Addr() != addr {
				t.Errorf("address after restart = %s; want %s", r.Addr(), addr)
			}
			got, err := c.Get(ctx, "k99").Result()
			switch {
			case tt.survives && (err != nil || got != "99"):
				t.Errorf("GET k99 after kill -9 and restart = %q, %v; want 99", got, err)
			case !tt.survives && !errors.Is(err, redis.Nil):
				t.Errorf("GET k99 without persistence after kill -9 = %q, %v; want redis.Nil", got, err)
			}
			if n := c.DBSize(ctx).Val(); tt.survives && n != 100 {
				t.Errorf("DBSIZE after restart = %d; want 100", n)
			}
		})
	}
}

func TestIntegrationRedisStartFailureShowsLog(t *testing.T) {
	_, err := StartRedis(t.Context(), RedisOptions{Dir: t.TempDir(), Args: []string{"--maxmemory-policy", "bogus"}})
	skipIfMissing(t, err)
	if err == nil {
		t.Fatal("StartRedis with a bad argument succeeded; want an error")
	}
	if !strings.Contains(err.Error(), "maxmemory-policy") {
		t.Errorf("StartRedis error does not show the server's log:\n%v", err)
	}
}
