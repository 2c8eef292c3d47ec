package services

import (
	"errors"
	"strings"
	"testing"
)

func TestStartNotInstalled(t *testing.T) {
	tests := []struct {
		name  string
		start func() error
		hint  string
	}{
		{"postgres", func() error {
			_, err := StartPostgres(t.Context(), PostgresOptions{Dir: t.TempDir(), BinDir: "/nonexistent/bin"})
			return err
		}, "apt-get install postgresql-15"},
		{"redis", func() error {
			_, err := StartRedis(t.Context(), RedisOptions{Dir: t.TempDir(), Bin: "/nonexistent/redis-server"})
			return err
		}, "apt-get install redis-server"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.start()
			if !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), tt.hint) {
				t.Errorf("start with a missing program = %v; want ErrNotInstalled saying %q", err, tt.hint)
			}
		})
	}
}
