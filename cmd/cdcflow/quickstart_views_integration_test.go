package main

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/cdcflow/cdcflow/internal/testenv"
)

// TestIntegrationQuickstartViews runs the quickstart with --views: a
// private PostgreSQL and redis-server, the whole flow, and the reference
// views materialized inside it; a bounded load ends once the views hold
// every order, and the summary counts them.
func TestIntegrationQuickstartViews(t *testing.T) {
	testenv.Postgres(t) // skips (or fails under CI) when PostgreSQL is not installed
	testenv.Redis(t)    // the same for redis-server
	var out, errb bytes.Buffer
	code := run(t.Context(), []string{"quickstart", "--views", "--data-dir", t.TempDir(), "--count", "80", "--rate", "0", "--seed", "11"}, &out, &errb)
	if code != 0 {
		t.Fatalf("quickstart --views: exit %d; stderr:\n%s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "the reference views go there") {
		t.Errorf("stderr does not say where the views are:\n%s", errb.String())
	}
	if !regexp.MustCompile(`dashboard and query API on http://127\.0\.0\.1:\d+/`).MatchString(errb.String()) {
		t.Errorf("stderr does not say where the dashboard is:\n%s", errb.String())
	}
	m := regexp.MustCompile(`views: (\d+) orders \((.*)\)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("stdout has no views summary:\n%s", out.String())
	}
	total, _ := strconv.Atoi(m[1])
	var sum int
	for _, part := range strings.Split(m[2], ", ") {
		_, n, _ := strings.Cut(part, " ")
		k, err := strconv.Atoi(n)
		if err != nil {
			t.Fatalf("views summary %q: %v", m[0], err)
		}
		sum += k
	}
	if total == 0 || sum != total {
		t.Errorf("views summary %q: %d orders, statuses add up to %d", m[0], total, sum)
	}
}
