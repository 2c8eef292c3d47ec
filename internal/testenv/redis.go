package testenv

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cdcflow/cdcflow/internal/services"
)

// RedisServer is a redis-server for tests, either the shared one (Redis) or
// a dedicated one (NewRedis). The embedded *services.Redis gives Addr, Dir
// and LogPath and, on a dedicated server only, Stop, Kill and Restart.
type RedisServer struct {
	*services.Redis
}

var sharedRedis struct {
	mu  sync.Mutex
	r   *RedisServer
	err error // the first start's failure, repeated to every later caller
}

// Redis returns the redis-server shared by the package's tests, starting it
// on first use; it persists nothing. Give each test its own keys with
// Prefix, and never stop, kill or reconfigure this server: take NewRedis for
// that. TestMain must call Main, which stops the server.
func Redis(t testing.TB) *RedisServer {
	t.Helper()
	requireMain(t, "Redis")
	sharedRedis.mu.Lock()
	defer sharedRedis.mu.Unlock()
	if sharedRedis.r == nil && sharedRedis.err == nil {
		sharedRedis.r, sharedRedis.err = startRedis(nil)
		if sharedRedis.err == nil {
			r := sharedRedis.r
			addStopper(func() error { return stopRedis(r) })
		}
	}
	if sharedRedis.err != nil {
		skipOrFail(t, sharedRedis.err)
	}
	return sharedRedis.r
}

// NewRedis starts a redis-server for this test alone, with args added to
// its command line (e.g. "--appendonly", "yes" to survive Kill). The test
// may Stop, Kill and Restart it; it is stopped and its files removed in
// t.Cleanup, after the tail of its log is printed if the test failed.
func NewRedis(t testing.TB, args ...string) *RedisServer {
	t.Helper()
	r, err := startRedis(args)
	if err != nil {
		skipOrFail(t, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			if b, err := os.ReadFile(r.LogPath()); err == nil {
				t.Logf("redis log %s (tail):\n%s", r.LogPath(), tail(b, 40))
			}
		}
		if err := stopRedis(r); err != nil {
			t.Errorf("stop redis: %v", err)
		}
	})
	return r
}

func startRedis(args []string) (*RedisServer, error) {
	dir, err := os.MkdirTemp("", "cdcflow-redis-")
	if err != nil {
		return nil, fmt.Errorf("create redis dir: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := services.StartRedis(ctx, services.RedisOptions{Dir: dir, Args: args})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &RedisServer{Redis: r}, nil
}

func stopRedis(r *RedisServer) error {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	err := r.Stop(ctx)
	if rerr := os.RemoveAll(r.Dir()); rerr != nil && err == nil {
		err = fmt.Errorf("remove redis dir: %w", rerr)
	}
	return err
}

// Client returns a new go-redis client of the server, closed in t.Cleanup.
func (r *RedisServer) Client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: r.Addr()})
	t.Cleanup(func() { c.Close() })
	return c
}

// prefixSeq makes key prefixes unique within the test binary.
var prefixSeq atomic.Int64

// Prefix returns a key prefix of this test's own, "cdcflowtest:<test
// name>:<n>:", made of characters that are not special in a SCAN MATCH
// pattern. Every key under it is deleted in t.Cleanup.
func (r *RedisServer) Prefix(t testing.TB) string {
	t.Helper()
	prefix := fmt.Sprintf("cdcflowtest:%s:%d:", identifier(t.Name(), 40), prefixSeq.Add(1))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		if err := r.deletePrefix(ctx, prefix); err != nil {
			t.Errorf("delete keys under %q: %v", prefix, err)
		}
	})
	return prefix
}

// deletePrefix deletes every key that starts with prefix.
func (r *RedisServer) deletePrefix(ctx context.Context, prefix string) error {
	c := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer c.Close()
	iter := c.Scan(ctx, 0, prefix+"*", 500).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 500 {
			if err := c.Unlink(ctx, batch...).Err(); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return err
	}
	if len(batch) > 0 {
		return c.Unlink(ctx, batch...).Err()
	}
	return nil
}
