package main

import (
	"errors"
	"log/slog"
	"net"
	"slices"
	"testing"

	"github.com/cdcflow/cdcflow/internal/config"
)

// TestEmbeddedBrokerKeepsItsPort: the embedded broker takes the port it had
// last time in the same data directory (a new one only when that is taken),
// and materialize and replay find its address there.
func TestEmbeddedBrokerKeepsItsPort(t *testing.T) {
	cfg, err := config.Load("", []string{"CDCFLOW_DATA_DIR=" + t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := embeddedBrokers(cfg); !errors.Is(err, errUsage) {
		t.Fatalf("embeddedBrokers before any run = %v; want a usage error", err)
	}
	log := slog.New(slog.DiscardHandler)
	start := func() []string {
		t.Helper()
		b, err := startEmbeddedBroker(t.Context(), cfg, log)
		if err != nil {
			t.Fatal(err)
		}
		addrs := b.Addrs()
		b.Close()
		return addrs
	}
	first := start()
	if again := start(); !slices.Equal(again, first) {
		t.Errorf("restarted broker at %v; want the same address %v", again, first)
	}
	if got, err := embeddedBrokers(cfg); err != nil || !slices.Equal(got, first) {
		t.Errorf("embeddedBrokers = %v, %v; want %v", got, err, first)
	}
	// The port is taken by someone else: a new one, recorded.
	ln, err := net.Listen("tcp", first[0])
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	moved := start()
	if slices.Equal(moved, first) {
		t.Fatalf("broker started on the taken address %v", first)
	}
	if got, err := embeddedBrokers(cfg); err != nil || !slices.Equal(got, moved) {
		t.Errorf("embeddedBrokers after the move = %v, %v; want %v", got, err, moved)
	}
}
