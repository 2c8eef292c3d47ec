package query

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

// syncBuffer is a bytes.Buffer safe for the logger and the test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// unreachableRedis is a client that is never answered: Run must not need
// Redis to start, listen, serve the dashboard and stop.
func unreachableRedis(t *testing.T) redis.UniversalClient {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func TestRunServesAnnouncesAndStops(t *testing.T) {
	tests := []struct {
		name     string
		tokens   []string
		wantAuth string
	}{
		{"no tokens", nil, "auth=false"},
		{"tokens", []string{"secret"}, "auth=true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs syncBuffer
			announced := make(chan string, 1)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			rc := RunConfig{
				Server: Config{Tokens: tt.tokens, Dashboard: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					io.WriteString(w, "the dashboard")
				})},
				Addr:       "127.0.0.1:0",
				Prefix:     "cdcflow:test:",
				Partitions: 2,
				Log:        slog.New(slog.NewTextHandler(&logs, nil)),
				Announce:   func(addr string) { announced <- addr },
			}
			done := make(chan error, 1)
			go func() { done <- Run(ctx, rc, testDefinitions(t), unreachableRedis(t)) }()
			var addr string
			select {
			case addr = <-announced:
			case err := <-done:
				t.Fatalf("Run returned %v before announcing", err)
			}
			res, err := http.Get("http://" + addr + "/")
			if err != nil {
				t.Fatalf("GET /: %v", err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if string(body) != "the dashboard" {
				t.Errorf("GET / = %q; want the dashboard", body)
			}
			log := logs.String()
			want := `msg="query API listening" addr=` + addr + " tls=false " + tt.wantAuth
			if !strings.Contains(log, want) {
				t.Errorf("log %q; want a record %q", log, want)
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run after cancel = %v; want nil", err)
			}
		})
	}
}

func TestRunFailures(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name string
		rc   RunConfig
		want string
	}{
		{"address taken", RunConfig{Addr: busy.Addr().String(), Partitions: 1}, "query.addr: listen tcp " + busy.Addr().String()},
		{"invalid config", RunConfig{Server: Config{Tokens: []string{""}}, Addr: "127.0.0.1:0", Partitions: 1}, "query server: token 1 is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			announced := false
			tt.rc.Announce = func(string) { announced = true }
			err := Run(t.Context(), tt.rc, testDefinitions(t), unreachableRedis(t))
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("Run = %v; want an error starting %q", err, tt.want)
			}
			if errors.Is(err, context.Canceled) || announced {
				t.Errorf("Run announced %v or was canceled: %v", announced, err)
			}
		})
	}
}
