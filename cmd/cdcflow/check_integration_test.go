package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/cdcflow/cdcflow/internal/loadgen"
	"github.com/cdcflow/cdcflow/internal/testenv"
)

// TestIntegrationCheck runs cdcflow check against the reference order
// database: ready, then with a column a rule uses renamed, then without the
// REPLICA IDENTITY FULL the transition rules need; offline it checks files
// only.
func TestIntegrationCheck(t *testing.T) {
	const dir = "../../deploy/examples/orders"
	db := testenv.Postgres(t).NewDatabase(t)
	db.Exec(t, loadgen.Schema)
	t.Setenv("CDCFLOW_SOURCE_DSN", db.DSN)
	t.Setenv("CDCFLOW_MAPPING_FILE", dir+"/mapping.yaml")
	t.Setenv("CDCFLOW_SOURCE_TIMEZONE", "Europe/Berlin")

	check := func(args ...string) (int, string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), append([]string{"check"}, args...), &stdout, &stderr)
		return code, stdout.String() + stderr.String()
	}
	expect := func(out string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("output lacks %q:\n%s", w, out)
			}
		}
	}

	code, out := check("--forward")
	if code != 0 {
		t.Fatalf("check of a ready database: exit %d\n%s", code, out)
	}
	expect(out, "ok    configuration", "ok    mapping", "ok    live schema", "ok    source readiness",
		"ok    schema versions", "forward compatibility")
	if strings.Contains(out, db.DSN) {
		t.Errorf("output shows the DSN:\n%s", out)
	}

	db.Exec(t, `ALTER TABLE orders RENAME COLUMN status TO state`)
	code, out = check()
	if code != 1 {
		t.Fatalf("check with a renamed column: exit %d; want 1\n%s", code, out)
	}
	expect(out, "FAIL  live schema", "mapping.yaml:", `"status"`, "cdcflow check: check failed: live schema")
	db.Exec(t, `ALTER TABLE orders RENAME COLUMN state TO status`)

	db.Exec(t, `ALTER TABLE orders REPLICA IDENTITY DEFAULT`)
	code, out = check()
	if code != 1 {
		t.Fatalf("check without REPLICA IDENTITY FULL: exit %d; want 1\n%s", code, out)
	}
	expect(out, "FAIL  live schema", "REPLICA IDENTITY FULL")

	code, out = check("--offline")
	if code != 0 {
		t.Fatalf("offline check: exit %d\n%s", code, out)
	}
	expect(out, "skip  live schema", "--offline")

	t.Setenv("CDCFLOW_MAPPING_FILE", "missing.yaml")
	code, out = check()
	if code != 1 {
		t.Fatalf("check with a missing mapping: exit %d; want 1\n%s", code, out)
	}
	expect(out, "FAIL  mapping", "missing.yaml", "skip  live schema")
}
