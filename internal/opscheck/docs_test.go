package opscheck

import (
	"bufio"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/cdcflow/cdcflow/internal/thresholds"
)

// operationsFile is the operations guide: the metrics table and the
// runbook.
const operationsFile = "docs/operations.md"

// documented is one row of the metrics table.
type documented struct {
	line   int
	labels string // label names, sorted, joined with ", "
}

// metricsTable reads the table under "## Metrics": the exact names with
// their label sets, and the wildcard rows ("go_*") as name prefixes.
func metricsTable(t *testing.T) (map[string]documented, []string) {
	t.Helper()
	f, err := os.Open(repoFile(operationsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	code := regexp.MustCompile("`([^`]+)`")
	rows := map[string]documented{}
	var prefixes []string
	in := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			in = line == "## Metrics"
			continue
		}
		if !in || !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(line, "|")
		if len(cells) < 5 {
			t.Errorf("%s:%d: a metrics row has the columns metric, type, labels, meaning", operationsFile, n)
			continue
		}
		var labels []string
		for _, m := range code.FindAllStringSubmatch(cells[3], -1) {
			labels = append(labels, m[1])
		}
		slices.Sort(labels)
		for _, m := range code.FindAllStringSubmatch(cells[1], -1) {
			name := m[1]
			if p, ok := strings.CutSuffix(name, "*"); ok {
				prefixes = append(prefixes, p)
				continue
			}
			if _, dup := rows[name]; dup {
				t.Errorf("%s:%d: %s is in the table twice", operationsFile, n, name)
			}
			rows[name] = documented{line: n, labels: strings.Join(labels, ", ")}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		t.Fatalf("%s: no metrics table under \"## Metrics\"", operationsFile)
	}
	return rows, prefixes
}

// checkMetricsTable compares the table with the families a running
// instance exports: the same names, each with the same label names.
func checkMetricsTable(t *testing.T, fams map[string]*dto.MetricFamily) {
	rows, prefixes := metricsTable(t)
	got := labelSets(fams)
	for name, labels := range got {
		if slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(name, p) }) {
			continue
		}
		d, ok := rows[name]
		switch {
		case !ok:
			t.Errorf("%s is exported (labels {%s}) but not in the metrics table of %s", name, labels, operationsFile)
		case d.labels != labels:
			t.Errorf("%s:%d: %s has labels {%s} in the table, {%s} in /metrics", operationsFile, d.line, name, d.labels, labels)
		}
	}
	for name, d := range rows {
		if _, ok := got[name]; !ok {
			t.Errorf("%s:%d: %s is in the metrics table but not exported", operationsFile, d.line, name)
		}
	}
}

// TestMetricsTableCovered checks that every metric of the table appears in
// a dashboard panel or an alert rule.
func TestMetricsTableCovered(t *testing.T) {
	rows, _ := metricsTable(t)
	used := map[string]bool{}
	for _, q := range queries(t, loadDashboard(t), "cdcflow", ".*") {
		for _, m := range q.metrics {
			used[m] = true
		}
	}
	for _, r := range thresholds.Default().Rules() {
		expr, err := promqlParser.ParseExpr(r.Expr)
		if err != nil {
			t.Fatalf("alert %s: %v", r.Alert, err)
		}
		for _, m := range metricNames(expr) {
			used[m] = true
		}
	}
	for name, d := range rows {
		found := used[name]
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			found = found || used[name+suffix]
		}
		if !found {
			t.Errorf("%s:%d: %s is in no dashboard panel and no alert rule", operationsFile, d.line, name)
		}
	}
}

// TestRunbook checks that every alert's runbook_url points into
// docs/operations.md at a section that exists, and that each section says
// what the alert means, how to confirm it with cdcflow status and what to
// do.
func TestRunbook(t *testing.T) {
	data, err := os.ReadFile(repoFile(operationsFile))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	th := thresholds.Default()
	for _, r := range th.Rules() {
		url := r.Annotations["runbook_url"]
		page, anchor, _ := strings.Cut(url, "#")
		if page != th.Runbook || !strings.HasSuffix(page, "/"+operationsFile) {
			t.Errorf("alert %s: runbook_url %q is not on %s", r.Alert, url, operationsFile)
		}
		heading := "\n### " + r.Alert + "\n"
		i := strings.Index(doc, heading)
		if i < 0 {
			t.Errorf("alert %s: %s has no section %q", r.Alert, operationsFile, strings.TrimSpace(heading))
			continue
		}
		if anchor != githubAnchor(r.Alert) {
			t.Errorf("alert %s: runbook anchor %q; the heading's anchor is %q", r.Alert, anchor, githubAnchor(r.Alert))
		}
		section := doc[i+len(heading):]
		if j := strings.Index(section, "\n#"); j >= 0 {
			section = section[:j]
		}
		for _, want := range []string{"**Means.**", "**Confirm.**", "`cdcflow status`", "**Do.**"} {
			if !strings.Contains(section, want) {
				t.Errorf("%s, section %s: no %s", operationsFile, r.Alert, want)
			}
		}
	}
	for _, proc := range []string{"Adding a table", "Rebuilding a view", "Recovering a lost slot", "Rotating credentials"} {
		if !strings.Contains(doc, "\n### "+proc+"\n") {
			t.Errorf("%s has no procedure %q", operationsFile, proc)
		}
	}
}

// githubAnchor is the anchor GitHub gives a heading: lower case, spaces as
// dashes, punctuation dropped.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || ('a' <= r && r <= 'z') || ('0' <= r && r <= '9'):
			b.WriteRune(r)
		}
	}
	return b.String()
}
