package replication

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"
)

// recordHandler is a slog.Handler that sends every record on a channel.
type recordHandler struct{ records chan slog.Record }

func (h recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.records <- r.Clone()
	return nil
}
func (h recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h recordHandler) WithGroup(string) slog.Handler      { return h }

func TestRunLogsReconnectAttempts(t *testing.T) {
	records := make(chan slog.Record)
	cfg := Config{
		DSN:          "postgres://cdcflow@127.0.0.1:1/db?connect_timeout=5", // nothing listens on port 1
		Tables:       []string{"t"},
		ReconnectMin: time.Millisecond,
		ReconnectMax: 4 * time.Millisecond,
	}
	r, err := New(cfg, slog.New(recordHandler{records}), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, nil) }()
	for want := int64(1); want <= 5; want++ {
		rec := <-records
		attrs := map[string]slog.Value{}
		rec.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value; return true })
		if rec.Message != "replication session ended, reconnecting" || attrs["attempt"].Int64() != want {
			t.Fatalf("record %q %v; want the reconnect warning with attempt=%d", rec.Message, attrs, want)
		}
		if d := attrs["retry_in"].Duration(); d < 0 || d >= cfg.ReconnectMax {
			t.Errorf("attempt %d: retry_in %v; want in [0, %v)", want, d, cfg.ReconnectMax)
		}
	}
	cancel()
	go func() {
		for range records { // a last warning may race the cancel
		}
	}()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v; want context.Canceled", err)
	}
	close(records)
}
