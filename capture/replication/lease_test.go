package replication

import (
	"testing"
	"time"
)

func TestParseLeaseApp(t *testing.T) {
	tests := []struct {
		name string
		app  string
		want leaseApp
		ok   bool
	}{
		{"holder", "cdcflow-lease 1765000000 12 pod-a:1", leaseApp{Since: time.Unix(1765000000, 0), Takeovers: 12, Instance: "pod-a:1"}, true},
		{"instance with spaces", "cdcflow-lease 5 0 my host:7", leaseApp{Since: time.Unix(5, 0), Instance: "my host:7"}, true},
		{"truncated instance", "cdcflow-lease 5 3", leaseApp{Since: time.Unix(5, 0), Takeovers: 3}, true},
		{"standby", "cdcflow-standby 0badf00d pod-b:1", leaseApp{}, false},
		{"not a number", "cdcflow-lease soon 3 x", leaseApp{}, false},
		{"other application", "psql", leaseApp{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseLeaseApp(tt.app)
			if ok != tt.ok || !got.Since.Equal(tt.want.Since) || got.Takeovers != tt.want.Takeovers || got.Instance != tt.want.Instance {
				t.Errorf("parseLeaseApp(%q) = %+v, %v; want %+v, %v", tt.app, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestLeaseConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  LeaseConfig
		ok   bool
	}{
		{"defaults", LeaseConfig{DSN: "postgres://x"}, true},
		{"no dsn", LeaseConfig{}, false},
		{"timeout below 1s", LeaseConfig{DSN: "postgres://x", Timeout: 500 * time.Millisecond, PollInterval: 100 * time.Millisecond}, false},
		{"poll not below timeout", LeaseConfig{DSN: "postgres://x", Timeout: 2 * time.Second, PollInterval: 2 * time.Second}, false},
		{"negative poll", LeaseConfig{DSN: "postgres://x", PollInterval: -time.Second}, false},
		{"short", LeaseConfig{DSN: "postgres://x", Timeout: time.Second, PollInterval: 100 * time.Millisecond, TCPUserTimeout: -1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate(%+v) = %v; want ok %v", tt.cfg, err, tt.ok)
			}
		})
	}
}

// TestLeaseKey checks that the key is stable (instances of one release and
// of the next must compete for the same lock) and differs between slots.
func TestLeaseKey(t *testing.T) {
	if a, b := leaseKey("cdcflow"), leaseKey("cdcflow"); a != b {
		t.Errorf("leaseKey(cdcflow) = %d, then %d; want the same", a, b)
	}
	// Pinned: a release that changed it would let an old and a new
	// instance both be active during an upgrade.
	if got, want := uint64(leaseKey("cdcflow")), uint64(0x1e433eb3d2f76b47); got != want {
		t.Errorf("leaseKey(cdcflow) = %#x; want %#x", got, want)
	}
	if leaseKey("orders") == leaseKey("orders2") {
		t.Error("leaseKey gives slots orders and orders2 the same key")
	}
}
