package opscheck

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/cdcflow/cdcflow/internal/thresholds"
)

// dashboardFile is the Grafana dashboard, from the repository root.
const dashboardFile = "deploy/grafana/cdcflow.json"

// dashboardUID is the dashboard's fixed uid: importing it again updates it
// instead of adding a copy.
const dashboardUID = "cdcflow-overview"

type dashboard struct {
	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID          int            `json:"id"`
	Type        string         `json:"type"`
	Title       string         `json:"title"`
	Description string         `json:"description"`
	Datasource  map[string]any `json:"datasource"`
	GridPos     struct{ H, W, X, Y int }
	Targets     []struct {
		Datasource map[string]any `json:"datasource"`
		RefID      string         `json:"refId"`
		Expr       string         `json:"expr"`
	} `json:"targets"`
}

// query is one panel query with the Grafana variables substituted.
type query struct {
	panel   string
	expr    string // as written
	promQL  string
	metrics []string // metric names its selectors name
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile(repoFile(dashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// substitute replaces the Grafana variables the way Grafana would for one
// job and instance: ${job} and ${instance} are regular expressions in the
// queries (multi-value variables), $__rate_interval a range.
func substitute(expr, job, instance, rateInterval string) string {
	return strings.NewReplacer("${job}", job, "${instance}", instance, "$__rate_interval", rateInterval).Replace(expr)
}

// queries parses every panel query (variables substituted with job and
// instance) and returns them with the metrics they name.
func queries(t *testing.T, d dashboard, job, instance string) []query {
	t.Helper()
	var qs []query
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			q := query{panel: p.Title, expr: tg.Expr, promQL: substitute(tg.Expr, job, instance, "1m")}
			expr, err := promqlParser.ParseExpr(q.promQL)
			if err != nil {
				t.Errorf("panel %q, query %s: %v\n%s", p.Title, tg.RefID, err, tg.Expr)
				continue
			}
			q.metrics = metricNames(expr)
			qs = append(qs, q)
		}
	}
	return qs
}

// metricNames returns the metric names an expression's selectors name.
func metricNames(expr parser.Expr) []string {
	var names []string
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok && !slices.Contains(names, vs.Name) {
			names = append(names, vs.Name)
		}
		return nil
	})
	slices.Sort(names)
	return names
}

// TestDashboard checks what Grafana needs to import the dashboard cleanly
// and what an operator needs from it, without a running instance.
func TestDashboard(t *testing.T) {
	d := loadDashboard(t)
	if d.UID != dashboardUID {
		t.Errorf("uid = %q; want the fixed %q", d.UID, dashboardUID)
	}
	if d.SchemaVersion < 39 {
		t.Errorf("schemaVersion = %d; want a current one (39 or later)", d.SchemaVersion)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type + " " + string(v.Query)
	}
	for name, want := range map[string]string{"datasource": `datasource "prometheus"`, "job": "query ", "instance": "query "} {
		if !strings.HasPrefix(vars[name], want) {
			t.Errorf("template variable %q = %q; want %s…", name, vars[name], want)
		}
	}

	// Rows in order: overview first, then one per stage.
	var rows []string
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.X+p.GridPos.W > 24 || p.GridPos.W <= 0 || p.GridPos.H <= 0 {
			t.Errorf("panel %q: gridPos %+v outside the 24 columns", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			rows = append(rows, strings.Fields(p.Title)[0])
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		if p.Description == "" {
			t.Errorf("panel %q has no description", p.Title)
		}
		if p.Datasource["uid"] != "${datasource}" {
			t.Errorf("panel %q: datasource %v; want uid ${datasource}", p.Title, p.Datasource)
		}
		for _, tg := range p.Targets {
			if tg.Datasource["uid"] != "${datasource}" {
				t.Errorf("panel %q, query %s: datasource %v; want uid ${datasource}", p.Title, tg.RefID, tg.Datasource)
			}
		}
	}
	if want := []string{"Overview:", "Capture:", "Delivery:", "Views:", "Query:", "CEP:", "Process"}; !slices.Equal(rows, want) {
		t.Errorf("rows %v; want %v", rows, want)
	}
	// No hard-coded data source anywhere: every "uid" but the dashboard's
	// own is the variable (or Grafana's built-in annotations).
	data, _ := os.ReadFile(repoFile(dashboardFile))
	var anyDoc any
	if err := json.Unmarshal(data, &anyDoc); err != nil {
		t.Fatal(err)
	}
	walkUIDs(anyDoc, func(uid string) {
		if uid != dashboardUID && uid != "${datasource}" && uid != "-- Grafana --" {
			t.Errorf("hard-coded uid %q in the dashboard", uid)
		}
	})

	qs := queries(t, d, "cdcflow", "127.0.0.1:9090")
	inPanels := map[string]bool{}
	for _, q := range qs {
		for _, m := range q.metrics {
			inPanels[m] = true
		}
		if !strings.Contains(q.expr, `job=~"${job}", instance=~"${instance}"`) {
			t.Errorf("panel %q: query %s does not filter on the job and instance variables", q.panel, q.expr)
		}
	}

	// Every alert has a panel: one that names it, and every metric of its
	// rule is drawn somewhere.
	for _, r := range thresholds.Default().Rules() {
		named := false
		for _, p := range d.Panels {
			named = named || strings.Contains(p.Description, r.Alert)
		}
		if !named {
			t.Errorf("alert %s: no panel's description names it", r.Alert)
		}
		expr, err := promqlParser.ParseExpr(r.Expr)
		if err != nil {
			t.Errorf("alert %s: %v", r.Alert, err)
			continue
		}
		for _, m := range metricNames(expr) {
			if !inPanels[m] {
				t.Errorf("alert %s uses %s, which no panel shows", r.Alert, m)
			}
		}
	}
}

func walkUIDs(v any, fn func(string)) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if s, ok := e.(string); ok && k == "uid" {
				fn(s)
			}
			walkUIDs(e, fn)
		}
	case []any:
		for _, e := range v {
			walkUIDs(e, fn)
		}
	}
}

// familyOf returns the metric family a series name belongs to in fams: the
// name itself, or a histogram's or summary's name for its _bucket, _sum and
// _count series.
func familyOf(fams map[string]bool, name string) (string, bool) {
	if fams[name] {
		return name, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && fams[base] {
			return base, true
		}
	}
	return "", false
}

// promqlParser parses PromQL as Prometheus does by default (no
// experimental functions).
var promqlParser = parser.NewParser(parser.Options{})
