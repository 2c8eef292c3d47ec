package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestQueryConfig(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("# the ops team\ntok-file-1\n\n  tok-file-2  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	envTokens := filepath.Join(dir, "env-tokens")
	if err := os.WriteFile(envTokens, []byte("tok-env-1 tok-env-2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("# nothing\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		yaml       string
		env        []string
		wantErr    string // from Load
		wantServer string // from ServerConfig
		check      func(t *testing.T, q QueryConfig)
	}{
		{name: "defaults: off", yaml: "version: 1\n", check: func(t *testing.T, q QueryConfig) {
			if q.Addr != "" || q.RequestTimeout != 10*time.Second || q.PageSize != 50 || q.MaxPageSize != 1000 ||
				q.Wait != 2*time.Second || q.MaxWait != 5*time.Second || q.MaxSSEClients != 100 || len(q.CORSOrigins) != 0 {
				t.Errorf("defaults not applied: %+v", q)
			}
		}},
		{name: "tokens from a file and from _FILE", yaml: "version: 1\nquery:\n  addr: 127.0.0.1:8080\n  token_file: " + tokens + "\n",
			env: []string{"CDCFLOW_QUERY_TOKENS_FILE=" + envTokens},
			check: func(t *testing.T, q QueryConfig) {
				sc, err := q.ServerConfig()
				if err != nil {
					t.Fatal(err)
				}
				if want := []string{"tok-env-1", "tok-env-2", "tok-file-1", "tok-file-2"}; !slices.Equal(sc.Tokens, want) {
					t.Errorf("tokens = %q; want %q", sc.Tokens, want)
				}
			}},
		{name: "missing token file", yaml: "version: 1\nquery:\n  token_file: " + filepath.Join(dir, "nope") + "\n", wantServer: "query.token_file"},
		{name: "empty token file", yaml: "version: 1\nquery:\n  token_file: " + empty + "\n", wantServer: "holds no token"},
		{name: "bad certificate", yaml: "version: 1\nquery:\n  tls: {cert_file: " + empty + ", key_file: " + empty + "}\n", wantServer: "query.tls"},
		{name: "bad addr", yaml: "version: 1\nquery:\n  addr: localhost\n", wantErr: "query.addr"},
		{name: "bad port", yaml: "version: 1\nquery:\n  addr: ':http-alt'\n", wantErr: "query.addr"},
		{name: "cert without key", yaml: "version: 1\nquery:\n  tls: {cert_file: c.pem}\n", wantErr: "query.tls: cert_file and key_file"},
		{name: "page size over max", yaml: "version: 1\nquery:\n  page_size: 2000\n", wantErr: "query.page_size"},
		{name: "wait over max", yaml: "version: 1\nquery:\n  wait: 6s\n", wantErr: "query.wait"},
		{name: "max wait not under the timeout", yaml: "version: 1\nquery:\n  max_wait: 10s\n", wantErr: "query.max_wait"},
		{name: "negative", yaml: "version: 1\nquery:\n  max_sse_clients: -1\n", wantErr: "query.max_sse_clients"},
		{name: "negative read batch", yaml: "version: 1\nquery:\n  read_batch: -1\n", wantErr: "query.read_batch"},
		{name: "bad origin", yaml: "version: 1\nquery:\n  cors_origins: [ops.example.com]\n", wantErr: "query.cors_origins"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parse("cdcflow.yaml", []byte(tt.yaml), tt.env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parse = %v; want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if tt.wantServer != "" {
				if _, err := cfg.Query.ServerConfig(); err == nil || !strings.Contains(err.Error(), tt.wantServer) {
					t.Fatalf("ServerConfig = %v; want an error containing %q", err, tt.wantServer)
				}
				return
			}
			tt.check(t, cfg.Query)
		})
	}
}

func TestQueryTokensNotPrinted(t *testing.T) {
	cfg, err := parse("cdcflow.yaml", []byte("version: 1\nquery:\n  tokens: very-s3cret-token\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "very-s3cret-token") {
		t.Errorf("printed configuration holds the token:\n%s", out)
	}
}
