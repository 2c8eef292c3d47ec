package testenv

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cdcflow/cdcflow/internal/services"
)

// RedisCluster is a Redis Cluster of dedicated redis-server masters on
// loopback, without replicas, for one test.
type RedisCluster struct {
	// Masters are the cluster's servers, in the order they were started.
	Masters []*RedisServer
}

// NewRedisCluster starts masters (at least 3, as redis-cli requires)
// redis-server instances in cluster mode, joins them with
// `redis-cli --cluster create` and waits until every node reports
// cluster_state:ok. The servers are stopped in t.Cleanup. Without redis-cli
// the test is skipped (failed under CI=true), naming the package to install.
func NewRedisCluster(t testing.TB, masters int) *RedisCluster {
	t.Helper()
	if masters < 3 {
		t.Fatalf("NewRedisCluster(%d): a Redis Cluster needs at least 3 masters", masters)
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		skipOrFail(t, fmt.Errorf("redis-cli not found (install the Debian package redis-tools): %w", services.ErrNotInstalled))
	}
	c := &RedisCluster{}
	for range masters {
		c.Masters = append(c.Masters, NewRedis(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000"))
	}
	args := append(append([]string{"--cluster", "create"}, c.Addrs()...), "--cluster-replicas", "0", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	client := c.Client(t)
	Await(t, 30*time.Second, "cluster state ok on every node", func() (bool, error) {
		for _, m := range c.Masters {
			n := redis.NewClient(&redis.Options{Addr: m.Addr()})
			info, err := n.ClusterInfo(ctx).Result()
			n.Close()
			if err != nil || !strings.Contains(info, "cluster_state:ok") {
				return false, err
			}
		}
		return client.Ping(ctx).Err() == nil, nil
	})
	return c
}

// Addrs returns the masters' addresses, host:port.
func (c *RedisCluster) Addrs() []string {
	out := make([]string, len(c.Masters))
	for i, m := range c.Masters {
		out[i] = m.Addr()
	}
	return out
}

// Client returns a new cluster client of the cluster, closed in t.Cleanup.
func (c *RedisCluster) Client(t testing.TB) *redis.ClusterClient {
	t.Helper()
	cl := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	t.Cleanup(func() { cl.Close() })
	return cl
}

// Env returns the CDCFLOW_VIEWS_REDIS_* variables that point cdcflow's
// views at the cluster.
func (c *RedisCluster) Env() []string {
	return []string{"CDCFLOW_VIEWS_REDIS_CLUSTER=true", "CDCFLOW_VIEWS_REDIS_ADDRS=" + strings.Join(c.Addrs(), ",")}
}
