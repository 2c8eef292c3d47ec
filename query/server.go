package query

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/cdcflow/cdcflow/sinks/redisview"
)

// Defaults of Config (the configuration's query section refers to them).
const (
	DefaultRequestTimeout = 10 * time.Second
	DefaultPageSize       = 50
	DefaultMaxPageSize    = 1000
	DefaultWait           = 2 * time.Second
	DefaultMaxWait        = 5 * time.Second
	DefaultMaxSSEClients  = 100
	DefaultSSEHeartbeat   = 15 * time.Second
	DefaultReadBatch      = 64
	// retryAfter is what a 503 tells a client to wait, in seconds.
	retryAfter = "1"
	// requestMargin is kept, at the end of a request's time, to answer
	// after a read-your-writes wait.
	requestMargin = 100 * time.Millisecond
	// maxIDBytes bounds an id, index key or group key in a request.
	maxIDBytes = 512
)

// Config configures a Server. A zero field means its default.
type Config struct {
	// Tokens are the bearer tokens a request must present (Authorization:
	// Bearer <token>, or access_token=<token> in the query string for
	// EventSource, which cannot set headers). Empty: no authentication.
	// Tokens are compared in constant time and never logged.
	Tokens []string
	// TLS, when not nil, serves HTTPS with it (its certificates set).
	TLS *tls.Config
	// CORSOrigins are the origins allowed to read the API from a browser
	// ("*" allows any). Empty (default): no CORS headers, same origin only.
	CORSOrigins []string
	// RequestTimeout bounds a request that is not a stream, read-your-writes
	// wait included. Default 10s.
	RequestTimeout time.Duration
	// PageSize is the page size when a request gives no limit. Default 50.
	PageSize int
	// MaxPageSize is the largest limit a request may ask for. Default 1000.
	MaxPageSize int
	// Wait is the read-your-writes wait when min_lsn comes without wait.
	// Default 2s.
	Wait time.Duration
	// MaxWait is the longest read-your-writes wait a request may ask for;
	// shorter than RequestTimeout. Default 5s.
	MaxWait time.Duration
	// MaxSSEClients bounds the open SSE connections; more get 503.
	// Default 100.
	MaxSSEClients int
	// SSEHeartbeat is how often an idle SSE connection gets a comment line.
	// Default 15s.
	SSEHeartbeat time.Duration
	// ReadBatch is the most entity reads sent to Redis in one pipeline:
	// while Serve runs, the reads that arrive while one pipeline is in
	// flight go together in the next (batch.go); a lone read goes at once.
	// 1 sends every read in its own round trip. Default 64.
	ReadBatch int
	// Dashboard, when not nil, is served at / (without authentication: it
	// holds no data; the API it calls checks the token).
	Dashboard http.Handler
	// Health, when not nil, adds the pipeline's own stages (capture,
	// Kafka) to /v1/health, before the views' stage; it is called per
	// request and must be quick.
	Health func(ctx context.Context) []Stage
	// Logger receives request errors; nil discards.
	Logger *slog.Logger
	// Metrics records requests; nil records nothing.
	Metrics *Metrics
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.PageSize == 0 {
		c.PageSize = DefaultPageSize
	}
	if c.MaxPageSize == 0 {
		c.MaxPageSize = DefaultMaxPageSize
	}
	if c.Wait == 0 {
		c.Wait = DefaultWait
	}
	if c.MaxWait == 0 {
		c.MaxWait = DefaultMaxWait
	}
	if c.MaxSSEClients == 0 {
		c.MaxSSEClients = DefaultMaxSSEClients
	}
	if c.SSEHeartbeat == 0 {
		c.SSEHeartbeat = DefaultSSEHeartbeat
	}
	if c.ReadBatch == 0 {
		c.ReadBatch = DefaultReadBatch
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate checks c after defaults are applied.
func (c Config) Validate() error {
	var errs []error
	for i, t := range c.Tokens {
		if t == "" {
			errs = append(errs, fmt.Errorf("token %d is empty", i+1))
		}
	}
	if c.RequestTimeout < 0 || c.Wait < 0 || c.MaxWait < 0 || c.SSEHeartbeat < 0 {
		errs = append(errs, errors.New("durations must not be negative"))
	}
	if c.PageSize < 0 || c.MaxPageSize < 0 || c.MaxSSEClients < 0 || c.ReadBatch < 0 {
		errs = append(errs, errors.New("page sizes, the SSE client cap and the read batch must not be negative"))
	}
	if c.PageSize > c.MaxPageSize && c.MaxPageSize > 0 {
		errs = append(errs, fmt.Errorf("page size %d exceeds the maximum page size %d", c.PageSize, c.MaxPageSize))
	}
	if c.MaxWait >= c.RequestTimeout && c.RequestTimeout > 0 {
		errs = append(errs, fmt.Errorf("the maximum wait %s must be shorter than the request timeout %s", c.MaxWait, c.RequestTimeout))
	}
	if c.Wait > c.MaxWait && c.MaxWait > 0 {
		errs = append(errs, fmt.Errorf("wait %s exceeds the maximum wait %s", c.Wait, c.MaxWait))
	}
	return errors.Join(errs...)
}

// Server is the query API over the views one Reader reads. It is safe for
// concurrent use; it starts no goroutine until Serve.
type Server struct {
	cfg     Config
	reader  *redisview.Reader
	defs    *redisview.Definitions
	rdb     redis.UniversalClient
	prefix  string
	parts   int32
	handler http.Handler
	tokens  [][32]byte // SHA-256 of each token
	watch   *watcher
	sse     atomic.Int64
	gens    genCache                      // the generation pointer read last (generation.go)
	batch   batcher                       // batches concurrent entity reads while Serve runs (batch.go)
	views   map[string]redisview.ViewInfo // by name, described once
}

// New returns a Server of the views defs describes, kept in rdb under prefix
// over partitions Kafka partitions (the event topics' partition count).
func New(cfg Config, defs *redisview.Definitions, rdb redis.UniversalClient, prefix string, partitions int) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("query server: %w", err)
	}
	reader, err := redisview.NewReader(defs, rdb, prefix, partitions)
	if err != nil {
		return nil, fmt.Errorf("query server: %w", err)
	}
	s := &Server{cfg: cfg, reader: reader, defs: defs, rdb: rdb, prefix: prefix, parts: int32(partitions),
		views: map[string]redisview.ViewInfo{}}
	for _, v := range defs.Views() {
		s.views[v.Name] = v
	}
	s.tokens = hashTokens(cfg.Tokens)
	s.batch.max, s.batch.m = cfg.ReadBatch, cfg.Metrics
	s.watch = newWatcher(s)
	s.handler = s.routes()
	return s, nil
}

// Handler returns the HTTP handler of the API (and of the dashboard at /).
// Read-your-writes waits work without Serve but wake only by polling.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve answers on l until ctx is done, then shuts down (open streams are
// closed; other requests get up to RequestTimeout to finish). It returns
// nil after a shutdown caused by ctx.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	if s.cfg.TLS != nil {
		srv.TLSConfig = s.cfg.TLS.Clone()
		l = tls.NewListener(l, srv.TLSConfig)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.watch.run(gctx) })
	g.Go(func() error { return s.batch.run(gctx) })
	g.Go(func() error {
		err := srv.Serve(l)
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("query server on %s: %w", l.Addr(), err)
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(gctx), s.cfg.RequestTimeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			srv.Close()
		}
		return nil
	})
	err := g.Wait()
	if err == nil || (errors.Is(err, context.Canceled) && ctx.Err() != nil) {
		return nil
	}
	return err
}

// Run listens on addr and serves until ctx is done (see Serve).
func (s *Server) Run(ctx context.Context, addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("query server: listen on %s: %w", addr, err)
	}
	return s.Serve(ctx, l)
}
