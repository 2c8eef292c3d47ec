package query

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/redis/go-redis/v9"

	"github.com/cdcflow/cdcflow/sinks/redisview"
)

// RunConfig is what Run needs beyond the views and the Redis client: plain
// values, so that the caller (cmd) turns its configuration into them.
type RunConfig struct {
	// Server configures the server (its Logger, Metrics, Dashboard and
	// Health included).
	Server Config
	// Addr is the TCP address to listen on, e.g. 127.0.0.1:8080; port 0
	// picks a free one (Announce tells which).
	Addr string
	// Prefix is the prefix of every Redis key of the views.
	Prefix string
	// Partitions is the event topics' partition count.
	Partitions int
	// Log receives the "query API listening" record (the process's logger,
	// not the server's own Server.Logger); nil discards.
	Log *slog.Logger
	// Announce, when not nil, is called with the address listened on,
	// before the first request is served.
	Announce func(addr string)
}

// Run builds a Server of the views defs describes, kept in rdb, listens on
// rc.Addr and serves until ctx is done (see Serve): the whole life of the
// query server of `cdcflow serve`, and of the one beside `run` and
// `materialize`. It returns nil after a shutdown caused by ctx. A listen
// failure is reported as "query.addr: ...", after the configuration key
// that gives the address. rdb stays the caller's.
func Run(ctx context.Context, rc RunConfig, defs *redisview.Definitions, rdb redis.UniversalClient) error {
	srv, err := New(rc.Server, defs, rdb, rc.Prefix, rc.Partitions)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", rc.Addr)
	if err != nil {
		return fmt.Errorf("query.addr: %w", err)
	}
	log := rc.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log.Info("query API listening", "addr", l.Addr().String(), "tls", rc.Server.TLS != nil, "auth", len(rc.Server.Tokens) > 0)
	if rc.Announce != nil {
		rc.Announce(l.Addr().String())
	}
	return srv.Serve(ctx, l)
}
