package main

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/internal/loadgen"
	"github.com/cdcflow/cdcflow/internal/testenv"
)

// TestIntegrationRunSourceErrors: a source.dsn that can never work (a
// database that does not exist, TLS the server does not offer, a role that
// does not exist) stops `cdcflow run` at once with exit status 1 and a message
// that names source.dsn and the fix, instead of retrying forever.
func TestIntegrationRunSourceErrors(t *testing.T) {
	db := testenv.Postgres(t).NewDatabase(t)
	broker := testenv.Kafka(t)
	tests := []struct {
		name string
		dsn  string
		want []string
	}{
		{"database does not exist", editDSN(t, db.DSN, func(u *url.URL) { u.Path = "/nosuchdb" }),
			[]string{"source.dsn", `"nosuchdb" does not exist`}},
		{"tls the server does not offer", editDSN(t, db.DSN, func(u *url.URL) {
			q := u.Query()
			q.Set("sslmode", "require")
			u.RawQuery = q.Encode()
		}), []string{"source.dsn", "TLS"}},
		{"role does not exist", editDSN(t, db.DSN, func(u *url.URL) { u.User = url.User("nosuchrole") }),
			[]string{"source.dsn", `"nosuchrole" does not exist`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, env := ordersRunEnv(t, db, broker.Addrs(), "srcerr", "CDCFLOW_SOURCE_DSN="+tt.dsn)
			p := startRun(t, env...)
			var err error
			select {
			case err = <-p.exited:
			case <-time.After(30 * time.Second):
				t.Fatal("cdcflow run still running 30s after start; want it to stop")
			}
			p.cmd = nil
			out, _ := os.ReadFile(p.logPath)
			if err == nil || !strings.Contains(err.Error(), "exit status 1") {
				t.Errorf("cdcflow run exited with %v; want exit status 1", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output does not name %q:\n%s", w, tailLines(out, 20))
				}
			}
			if strings.Contains(string(out), "reconnecting") {
				t.Errorf("cdcflow run retried a source that can never work:\n%s", tailLines(out, 20))
			}
		})
	}
}

// editDSN returns the URL-style dsn changed by edit.
func editDSN(t *testing.T, dsn string, edit func(*url.URL)) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	edit(u)
	return u.String()
}

// TestIntegrationRunSourceDownIsRetried: a source that is down is retried,
// and while it is, /readyz answers 503 saying since when and the
// retrying-since gauge is set; once the source is back, run streams and is
// ready.
func TestIntegrationRunSourceDownIsRetried(t *testing.T) {
	ctx := t.Context()
	pg := testenv.NewPostgres(t, nil)
	db := pg.NewDatabase(t)
	if err := loadgen.Init(ctx, db.Conn(t)); err != nil {
		t.Fatal(err)
	}
	if err := pg.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	broker := testenv.Kafka(t)
	addr := freeAddr(t)
	_, env := ordersRunEnv(t, db, broker.Addrs(), "srcdown", "CDCFLOW_METRICS_ADDR="+addr)
	p := startRun(t, env...)
	get := func(path string) (int, string, error) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	testenv.Await(t, 30*time.Second, "/readyz to say the source is being retried", func() (bool, error) {
		if err := p.running(); err != nil {
			return false, err
		}
		code, body, err := get("/readyz")
		if err != nil {
			return false, nil // the server is starting
		}
		return code == http.StatusServiceUnavailable && strings.Contains(body, "reconnecting to the source since"), nil
	})
	_, metrics, err := get("/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(metrics, "cdcflow_capture_retrying_since_timestamp_seconds 1") {
		t.Errorf("retrying-since gauge not set while the source is down:\n%s", grepLines(metrics, "retrying"))
	}
	if err := pg.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	testenv.Await(t, 60*time.Second, "run to stream and be ready once the source is back", func() (bool, error) {
		if err := p.running(); err != nil {
			return false, err
		}
		code, _, err := get("/readyz")
		return err == nil && code == http.StatusOK, nil
	})
	if _, metrics, err = get("/metrics"); err != nil || !strings.Contains(metrics, "cdcflow_capture_retrying_since_timestamp_seconds 0") {
		t.Errorf("retrying-since gauge not 0 once streaming (%v):\n%s", err, grepLines(metrics, "retrying"))
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
