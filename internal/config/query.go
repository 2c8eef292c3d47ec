package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cdcflow/cdcflow/query"
)

// QueryConfig configures the query API (HTTP JSON, SSE and the dashboard)
// that `cdcflow serve` runs, and that `cdcflow run` (with views.enabled) and
// `cdcflow materialize` run beside their work when addr is set. It reads the
// views the views section describes. Off unless addr is set.
type QueryConfig struct {
	// Addr is the listen address, e.g. "127.0.0.1:8080" or ":8080". Empty
	// (default): no query server (serve requires one).
	Addr string `yaml:"addr"`
	// Tokens are bearer tokens, separated by white space or new lines: a
	// secret, never printed or logged. Set it from a file with
	// CDCFLOW_QUERY_TOKENS_FILE. Empty with no token_file: no
	// authentication.
	Tokens string `yaml:"tokens" secret:"true"`
	// TokenFile names a file of bearer tokens, one per line (blank lines and
	// lines starting with # are ignored), read at start.
	TokenFile string `yaml:"token_file"`
	// TLS serves HTTPS.
	TLS QueryTLSConfig `yaml:"tls"`
	// CORSOrigins are the browser origins allowed to read the API
	// ("https://ops.example.com", or "*"). Default none: same origin only.
	CORSOrigins []string `yaml:"cors_origins"`
	// RequestTimeout bounds a request (streams excepted). Default 10s.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// PageSize is the page size when a request gives no limit. Default 50.
	PageSize int `yaml:"page_size"`
	// MaxPageSize is the largest limit a request may ask for. Default 1000.
	MaxPageSize int `yaml:"max_page_size"`
	// Wait is the read-your-writes wait of a request with min_lsn and no
	// wait. Default 2s.
	Wait time.Duration `yaml:"wait"`
	// MaxWait is the longest read-your-writes wait a request may ask for;
	// shorter than request_timeout. Default 5s.
	MaxWait time.Duration `yaml:"max_wait"`
	// MaxSSEClients bounds the open event streams. Default 100.
	MaxSSEClients int `yaml:"max_sse_clients"`
	// ReadBatch is the most entity reads sent to Redis in one pipeline (the
	// reads that arrive while one is in flight go together in the next).
	// 1: every read in its own round trip. Default 64.
	ReadBatch int `yaml:"read_batch"`
}

// QueryTLSConfig configures HTTPS for the query server.
type QueryTLSConfig struct {
	// CertFile is the PEM server certificate (chain); with key_file, turns
	// HTTPS on.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the PEM private key of cert_file.
	KeyFile string `yaml:"key_file"`
}

func (q *QueryConfig) setDefaults() {
	if q.CORSOrigins == nil {
		q.CORSOrigins = []string{}
	}
	orDefault(&q.RequestTimeout, query.DefaultRequestTimeout)
	orDefault(&q.PageSize, query.DefaultPageSize)
	orDefault(&q.MaxPageSize, query.DefaultMaxPageSize)
	orDefault(&q.Wait, query.DefaultWait)
	orDefault(&q.MaxWait, query.DefaultMaxWait)
	orDefault(&q.MaxSSEClients, query.DefaultMaxSSEClients)
	orDefault(&q.ReadBatch, query.DefaultReadBatch)
}

func (q *QueryConfig) validate() error {
	var errs []error
	if q.Addr != "" {
		_, port, err := net.SplitHostPort(q.Addr)
		if err != nil {
			errs = append(errs, invalidKey("addr", "%q is not host:port (\"127.0.0.1:8080\"; \":8080\" listens on every interface)", q.Addr))
		} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			errs = append(errs, invalidKey("addr", "%q has no valid port", q.Addr))
		}
	}
	if (q.TLS.CertFile == "") != (q.TLS.KeyFile == "") {
		errs = append(errs, invalidKey("tls", "cert_file and key_file go together"))
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"request_timeout", q.RequestTimeout}, {"wait", q.Wait}, {"max_wait", q.MaxWait}} {
		if d.v < 0 {
			errs = append(errs, invalidKey(d.key, "negative"))
		}
	}
	for _, n := range []struct {
		key string
		v   int
	}{{"page_size", q.PageSize}, {"max_page_size", q.MaxPageSize}, {"max_sse_clients", q.MaxSSEClients}, {"read_batch", q.ReadBatch}} {
		if n.v < 0 {
			errs = append(errs, invalidKey(n.key, "negative"))
		}
	}
	if q.PageSize > q.MaxPageSize {
		errs = append(errs, invalidKey("page_size", "%d exceeds max_page_size %d", q.PageSize, q.MaxPageSize))
	}
	if q.MaxWait >= q.RequestTimeout {
		errs = append(errs, invalidKey("max_wait", "%s must be shorter than request_timeout %s", q.MaxWait, q.RequestTimeout))
	}
	if q.Wait > q.MaxWait {
		errs = append(errs, invalidKey("wait", "%s exceeds max_wait %s", q.Wait, q.MaxWait))
	}
	for _, o := range q.CORSOrigins {
		if o != "*" && !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
			errs = append(errs, invalidKey("cors_origins", "%q is not an origin (https://host[:port], or *)", o))
		}
	}
	return errors.Join(errs...)
}

// ServerConfig is the query.Config the section describes: the tokens (from
// tokens and token_file) and the TLS certificate are read here, so a
// missing file fails at start with the key that names it.
func (q *QueryConfig) ServerConfig() (query.Config, error) {
	c := query.Config{
		CORSOrigins: q.CORSOrigins, RequestTimeout: q.RequestTimeout, PageSize: q.PageSize,
		MaxPageSize: q.MaxPageSize, Wait: q.Wait, MaxWait: q.MaxWait, MaxSSEClients: q.MaxSSEClients,
		ReadBatch: q.ReadBatch,
	}
	c.Tokens = parseTokens(q.Tokens)
	if q.TokenFile != "" {
		b, err := os.ReadFile(q.TokenFile)
		if err != nil {
			return c, fmt.Errorf("query.token_file: %w", err)
		}
		toks := parseTokens(string(b))
		if len(toks) == 0 {
			return c, fmt.Errorf("query.token_file: %s holds no token", q.TokenFile)
		}
		c.Tokens = append(c.Tokens, toks...)
	}
	if q.TLS.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(q.TLS.CertFile, q.TLS.KeyFile)
		if err != nil {
			return c, fmt.Errorf("query.tls: %w", err)
		}
		c.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	return c, nil
}

// parseTokens splits tokens on white space, skipping # comment lines.
func parseTokens(s string) []string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		out = append(out, strings.Fields(line)...)
	}
	return out
}
