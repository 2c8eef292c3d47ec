package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cdcflow/cdcflow/internal/testenv"
)

func TestIntegrationLoadgenCommand(t *testing.T) {
	db := testenv.Postgres(t).NewDatabase(t)
	var out, errb bytes.Buffer
	code := run(t.Context(), []string{"loadgen", "--dsn", db.DSN, "--init", "--seed", "3", "--count", "120"}, &out, &errb)
	if code != 0 {
		t.Fatalf("loadgen exit %d; stderr:\n%s", code, errb.String())
	}
	if !strings.Contains(out.String(), "120 transactions committed") {
		t.Errorf("loadgen output lacks the transaction count:\n%s", out.String())
	}
	if !strings.Contains(errb.String(), "120/120 tx (100%)") {
		t.Errorf("loadgen progress lacks the final line:\n%s", errb.String())
	}
	orders := testenv.QueryValue[int64](t, db, "SELECT count(*) FROM orders")
	if !strings.Contains(out.String(), "\norders ") || orders == 0 {
		t.Errorf("no orders placed (%d rows):\n%s", orders, out.String())
	}

	out.Reset()
	errb.Reset()
	code = run(t.Context(), []string{"loadgen", "--dsn", db.DSN, "--seed", "4", "--big-tx", "1000"}, &out, &errb)
	if code != 0 {
		t.Fatalf("loadgen --big-tx exit %d; stderr:\n%s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "big transaction of 1000 rows committed") {
		t.Errorf("loadgen --big-tx says:\n%s", errb.String())
	}
	if got := testenv.QueryValue[int64](t, db, "SELECT count(*) FROM orders") - orders; got != 100 {
		t.Errorf("--big-tx 1000 added %d orders; want 100 (with 900 lines)", got)
	}
}

func TestIntegrationLoadgenNeedsDSN(t *testing.T) {
	var out, errb bytes.Buffer
	t.Setenv("CDCFLOW_CONFIG", "")
	t.Setenv("CDCFLOW_SOURCE_DSN", "")
	if code := run(t.Context(), []string{"loadgen", "--count", "1"}, &out, &errb); code != 2 {
		t.Errorf("loadgen without a database: exit %d; want 2; stderr:\n%s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "no database") {
		t.Errorf("stderr does not say what is missing:\n%s", errb.String())
	}
}

// TestIntegrationQuickstart runs the main job as a user would, twice on the
// same data directory, and checks that it leaves no server behind.
func TestIntegrationQuickstart(t *testing.T) {
	testenv.Postgres(t) // skips (or fails under CI) when PostgreSQL is not installed
	dir := t.TempDir()
	for i, want := range []string{`created database "orders"`, `database "orders" exists; continuing`} {
		var out, errb bytes.Buffer
		code := run(t.Context(), []string{"quickstart", "--data-dir", dir, "--count", "60", "--rate", "0", "--seed", "9"}, &out, &errb)
		if code != 0 {
			t.Fatalf("quickstart run %d: exit %d; stderr:\n%s", i+1, code, errb.String())
		}
		for _, w := range []string{want, "psql 'postgres://postgres@127.0.0.1:", "PostgreSQL stopped"} {
			if !strings.Contains(errb.String(), w) {
				t.Errorf("quickstart run %d: stderr lacks %q:\n%s", i+1, w, errb.String())
			}
		}
		if !strings.Contains(out.String(), "60 transactions committed") {
			t.Errorf("quickstart run %d: stdout:\n%s", i+1, out.String())
		}
		if _, err := os.Stat(filepath.Join(dir, "postgres", "data", "postmaster.pid")); !os.IsNotExist(err) {
			t.Errorf("quickstart run %d left postmaster.pid behind (err %v): the server still runs", i+1, err)
		}
	}
}
