package metricsserver

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestServe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "cdcflow_test_total", Help: "test"}))
	var ready atomic.Bool
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, ln, reg, Ready(&ready)) }()

	get := func(path string) (int, string) {
		t.Helper()
		// The listener is open before serve starts: no wait is needed.
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d; want 200", code)
	}
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "not started yet") {
		t.Errorf("/readyz before ready = %d %q; want 503 saying why", code, body)
	}
	ready.Store(true)
	if code, _ := get("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz when ready = %d; want 200", code)
	}
	if code, body := get("/metrics"); code != http.StatusOK || !strings.Contains(body, "cdcflow_test_total 0") {
		t.Errorf("/metrics = %d %q; want the registry's series", code, body)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Serve after cancel = %v; want context.Canceled", err)
	}
	if err := Serve(t.Context(), "256.0.0.1:1", reg, Ready(&ready)); err == nil {
		t.Error("Serve on an address it cannot listen on = nil; want an error")
	}
}

func TestRegisterProcess(t *testing.T) {
	reg := prometheus.NewRegistry()
	var ready atomic.Bool
	RegisterProcess(reg, "run", "v1.2.3", Ready(&ready))
	const up = `
# HELP cdcflow_up 1 while the process runs, with its command and version.
# TYPE cdcflow_up gauge
cdcflow_up{command="run",version="v1.2.3"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(up), "cdcflow_up"); err != nil {
		t.Error(err)
	}
	for _, want := range []bool{false, true} {
		ready.Store(want)
		exp := "0"
		if want {
			exp = "1"
		}
		body := "# HELP cdcflow_ready 1 when the process is ready (/readyz answers 200), 0 when not.\n# TYPE cdcflow_ready gauge\ncdcflow_ready " + exp + "\n"
		if err := testutil.GatherAndCompare(reg, strings.NewReader(body), "cdcflow_ready"); err != nil {
			t.Errorf("ready %v: %v", want, err)
		}
	}
}
