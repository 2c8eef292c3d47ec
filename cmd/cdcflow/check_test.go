package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckAgreesWithRun: a mapping without schemas while validation is on
// is refused by check as run refuses it, with the way out; with validation
// off both accept it.
func TestCheckAgreesWithRun(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "mapping.yaml")
	src := `version: 1
topics: {prefix: shop.}
tables:
  - table: orders
    aggregate: {type: order, id: string(row.id)}
    events:
      - {type: OrderPlaced, version: 1, when: op == "insert", data: {id: row.id}}
`
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CDCFLOW_MAPPING_FILE", file)
	t.Setenv("CDCFLOW_SOURCE_DSN", "")
	check := func() (int, string) {
		var out bytes.Buffer
		code := run(t.Context(), []string{"check", "--offline"}, &out, &out)
		return code, out.String()
	}
	code, out := check()
	if code != 1 || !strings.Contains(out, "FAIL  mapping") || !strings.Contains(out, "names no schemas") || !strings.Contains(out, "mapping.no_validation") {
		t.Errorf("check of a mapping without schemas: exit %d; want 1, naming the missing schemas and the way out:\n%s", code, out)
	}
	t.Setenv("CDCFLOW_MAPPING_NO_VALIDATION", "true")
	if code, out := check(); code != 0 {
		t.Errorf("check with validation off: exit %d; want 0:\n%s", code, out)
	}
}
