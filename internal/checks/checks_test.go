package checks

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReport checks the lines a Report prints and its result: a failure's
// problems one per line, indented, their list markers dropped.
func TestReport(t *testing.T) {
	var b strings.Builder
	r := NewReport(&b)
	r.OK("configuration", "environment only")
	if err := r.Result(); err != nil {
		t.Fatalf("Result after an ok = %v; want nil", err)
	}
	r.Skip("live schema", "--offline")
	r.Fail("views", errors.New("views.yaml:3: unknown event type\n - views.yaml:9: no such field\n"))
	want := "ok    configuration          environment only\n" +
		"skip  live schema            --offline\n" +
		"FAIL  views\n" +
		"      views.yaml:3: unknown event type\n" +
		"      views.yaml:9: no such field\n"
	if got := b.String(); got != want {
		t.Errorf("report:\n%s\nwant:\n%s", got, want)
	}
	err := r.Result()
	if !errors.Is(err, ErrFailed) || !strings.HasSuffix(err.Error(), ": views") {
		t.Errorf("Result = %v; want ErrFailed naming views", err)
	}
}

// TestRulesAndViewsWithoutFiles: no file is a skip, an unreadable views
// file or a rules file that failed to parse a failure naming the check.
func TestRulesAndViewsWithoutFiles(t *testing.T) {
	var b strings.Builder
	r := NewReport(&b)
	if d := Rules(r, "", nil, nil, nil); d != nil {
		t.Errorf("Rules without a file derived %v", d)
	}
	Views(r, "", nil)
	if err := r.Result(); err != nil {
		t.Fatalf("skips failed: %v", err)
	}
	if d := Rules(r, "cep.yaml", nil, errors.New("cep.yaml:4: rule \"x\": no kind"), nil); d != nil {
		t.Errorf("Rules of a file that did not parse derived %v", d)
	}
	missing := filepath.Join(t.TempDir(), "views.yaml")
	Views(r, missing, nil)
	err := r.Result()
	if err == nil || !strings.HasSuffix(err.Error(), ": cep rules, views") {
		t.Fatalf("Result = %v; want the cep rules and views checks failed", err)
	}
	out := b.String()
	for _, want := range []string{"skip  cep rules", "skip  views", "FAIL  cep rules\n      cep.yaml:4: rule \"x\": no kind", "FAIL  views\n      views.file: open " + missing} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("the views file exists")
	}
}
