package quickstart

import (
	"net"
	"testing"
)

func TestHints(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"postgres", PostgresHint(5433, "postgres://u@127.0.0.1:5433/orders"),
			"PostgreSQL 15 (wal_level=logical) listens on 127.0.0.1:5433; while this runs, look with:\n  psql 'postgres://u@127.0.0.1:5433/orders'\n"},
		{"capture", CaptureHint("data/kafka", []string{"shop.order", "shop.customer"}),
			"capturing into the embedded Kafka broker in data/kafka (topics shop.order, shop.customer); Ctrl-C stops\n"},
		{"status", StatusHint("postgres://x/orders", "Europe/Berlin", "./cdcflow-data"),
			"every stage's position, from the repository in another terminal:\n  CDCFLOW_SOURCE_DSN='postgres://x/orders' CDCFLOW_SOURCE_TIMEZONE=Europe/Berlin CDCFLOW_MAPPING_FILE=deploy/examples/orders/mapping.yaml CDCFLOW_DATA_DIR=./cdcflow-data cdcflow status\n"},
		{"redis", RedisHint("127.0.0.1:6400", 6400, "cdcflow:"),
			"Redis listens on 127.0.0.1:6400; the reference views go there under \"cdcflow:\":\n  redis-cli -p 6400 --scan --pattern 'cdcflow:*'\n"},
		{"dashboard", DashboardHint("127.0.0.1:8080"), "dashboard and query API on http://127.0.0.1:8080/ (curl http://127.0.0.1:8080/v1/views)\n"},
		{"load", LoadStatus(42), "load 42 tx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q; want %q", tt.got, tt.want)
			}
		})
	}
}

func TestFreeOr(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freeAddr := free.Addr().String()
	free.Close()
	tests := []struct {
		name, addr, want string
	}{
		{"off", "", ""},
		{"taken", busy.Addr().String(), "127.0.0.1:0"},
		{"free", freeAddr, freeAddr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FreeOr(tt.addr); got != tt.want {
				t.Errorf("FreeOr(%q) = %q; want %q", tt.addr, got, tt.want)
			}
		})
	}
}
