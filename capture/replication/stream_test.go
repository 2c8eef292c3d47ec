package replication

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/capture"
)

// message builds a pgoutput logical message (protocol 1).
func message(lsn uint64, prefix, content string) []byte {
	b := []byte{'M', 0}
	b = binary.BigEndian.AppendUint64(b, lsn)
	b = append(b, prefix...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(len(content)))
	return append(b, content...)
}

func TestParseMessage(t *testing.T) {
	data := message(0x1_0000_0010, "cdcflow.slot", `{"slot":"s"}`)
	lsn, content, ok := parseMessage(data, "cdcflow.slot")
	if !ok || lsn != 0x1_0000_0010 || string(content) != `{"slot":"s"}` {
		t.Fatalf("parseMessage = %s, %q, %v", lsn, content, ok)
	}
	if _, _, ok := parseMessage(data, "cdcflow.heartbeat"); ok {
		t.Error("parseMessage matched another prefix")
	}
	for n := range len(data) - 1 {
		if _, _, ok := parseMessage(data[:n], "cdcflow.slot"); ok {
			t.Errorf("parseMessage(truncated to %d bytes) = ok", n)
		}
	}
}

func FuzzParseMessage(f *testing.F) {
	f.Add(message(1, "cdcflow.slot", "{}"), "cdcflow.slot")
	f.Add(message(1, "p", ""), "p")
	f.Add([]byte{'M'}, "")
	f.Fuzz(func(t *testing.T, data []byte, prefix string) {
		_, content, ok := parseMessage(data, prefix)
		if ok && len(content) > len(data) {
			t.Fatalf("content longer than the message")
		}
	})
}

func TestParsePGDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"60s", time.Minute, true},
		{"1min", time.Minute, true},
		{"500ms", 500 * time.Millisecond, true},
		{"2h", 2 * time.Hour, true},
		{"1d", 24 * time.Hour, true},
		{"0", 0, true},
		{"10", 10 * time.Millisecond, true},
		{"", 0, false},
		{"5 fortnights", 0, false},
	}
	for _, tt := range tests {
		got, err := parsePGDuration(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parsePGDuration(%q) = %v, %v; want %v (ok %v)", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestLastSwitchPoint(t *testing.T) {
	history := "1\t0/3000000\tno recovery target specified\n\n2\t0/5000A28\tat restore point \"x\"\n"
	got, err := lastSwitchPoint([]byte(history))
	if err != nil || got != 0x5000A28 {
		t.Fatalf("lastSwitchPoint = %s, %v; want 0/5000A28", got, err)
	}
	if _, err := lastSwitchPoint([]byte("# comment only\n")); err == nil {
		t.Error("lastSwitchPoint of a file without switch points succeeded")
	}
}

func TestConfirmNeverPassesWhatWasHandedOn(t *testing.T) {
	r, err := New(Config{DSN: "postgres://localhost/db", Tables: []string{"t"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.startSlot(100, true); got != 100 {
		t.Fatalf("startSlot = %d, want 100", got)
	}
	r.Confirm(1 << 40) // nothing handed on yet
	if got := r.Confirmed(); got != 100 {
		t.Fatalf("Confirmed = %d after confirming past everything handed on, want 100", got)
	}
	r.give([]capture.Message{&capture.Begin{}, &capture.Commit{EndLSN: 150}})
	r.Confirm(140)
	r.Confirm(120) // never backwards
	if got := r.Confirmed(); got != 140 {
		t.Fatalf("Confirmed = %d, want 140", got)
	}
	r.Confirm(1 << 40)
	if got := r.Confirmed(); got != 150 {
		t.Fatalf("Confirmed = %d, want 150", got)
	}
	// A reconnect resumes after what the handler finished, not what it was given.
	r.handled([]capture.Message{&capture.Marker{Kind: capture.MarkerHeartbeat, LSN: 130}})
	if got := r.startSlot(120, false); got != 130 {
		t.Fatalf("resume at %d, want 130", got)
	}
	// A slot confirmed further (by another process) wins.
	if got := r.startSlot(500, false); got != 500 || r.Confirmed() != 500 {
		t.Fatalf("resume at %d confirmed %d, want 500", got, r.Confirmed())
	}
}

func TestConfigValidate(t *testing.T) {
	base := Config{DSN: "x", Tables: []string{"t"}}
	tests := []struct {
		name string
		mod  func(*Config)
		ok   bool
	}{
		{"defaults", func(*Config) {}, true},
		{"no dsn", func(c *Config) { c.DSN = "" }, false},
		{"no tables", func(c *Config) { c.Tables = nil }, false},
		{"bad table", func(c *Config) { c.Tables = []string{"a b"} }, false},
		{"bad slot", func(c *Config) { c.Slot = "My-Slot" }, false},
		{"bad mode", func(c *Config) { c.SnapshotMode = "sometimes" }, false},
		{"negative timeout", func(c *Config) { c.SlotCreateTimeout = -1 }, false},
		{"backoff inverted", func(c *Config) { c.ReconnectMin, c.ReconnectMax = time.Minute, time.Second }, false},
	}
	for _, tt := range tests {
		c := base
		tt.mod(&c)
		if err := c.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}
