package main

import (
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

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
