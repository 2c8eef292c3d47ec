package opscheck

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cdcflow/cdcflow/internal/thresholds"
)

// TestPromtoolCheckRules checks the shipped rule file and the rules inside
// the PrometheusRule resource with promtool, and that both hold the same
// rules.
func TestPromtoolCheckRules(t *testing.T) {
	promtool := tool(t, "promtool")
	if out, err := run(root, promtool, "check", "rules", thresholds.RuleFileName); err != nil {
		t.Fatalf("promtool check rules %s: %v\n%s", thresholds.RuleFileName, err, out)
	}

	var file, resource struct {
		Kind     string
		Metadata struct {
			Name   string
			Labels map[string]string
		}
		Groups []any
		Spec   struct{ Groups []any }
	}
	readYAML(t, thresholds.RuleFileName, &file)
	readYAML(t, thresholds.PrometheusRuleFileName, &resource)
	if resource.Kind != "PrometheusRule" || resource.Metadata.Name == "" || resource.Metadata.Labels["release"] == "" {
		t.Errorf("%s: kind %q, name %q, labels %v; want a PrometheusRule with a name and a release label",
			thresholds.PrometheusRuleFileName, resource.Kind, resource.Metadata.Name, resource.Metadata.Labels)
	}
	if !reflect.DeepEqual(file.Groups, resource.Spec.Groups) {
		t.Errorf("%s's spec.groups differ from %s", thresholds.PrometheusRuleFileName, thresholds.RuleFileName)
	}
	spec, err := yaml.Marshal(map[string]any{"groups": resource.Spec.Groups})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "spec.yaml")
	writeFile(t, path, spec)
	if out, err := run(root, promtool, "check", "rules", path); err != nil {
		t.Fatalf("promtool check rules (the PrometheusRule's spec): %v\n%s", err, out)
	}
}

// TestPromtoolTestRules runs the promtool unit tests: the logic cases of
// alerts.test.yaml against the shipped rules without annotations, and the
// annotation cases of annotations.test.yaml against the shipped file.
func TestPromtoolTestRules(t *testing.T) {
	promtool := tool(t, "promtool")
	rules, err := os.ReadFile(repoFile(thresholds.RuleFileName))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := promtoolTest(t, promtool, rules); err != nil {
		t.Fatalf("promtool test rules alerts.test.yaml: %v\n%s", err, out)
	}
	if out, err := run(repoFile("deploy/prometheus/tests"), promtool, "test", "rules", "annotations.test.yaml"); err != nil {
		t.Fatalf("promtool test rules annotations.test.yaml: %v\n%s", err, out)
	}
}

// promtoolTest runs alerts.test.yaml against rules (a rule file) with the
// annotations removed.
func promtoolTest(t *testing.T, promtool string, rules []byte) (string, error) {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal(rules, &doc); err != nil {
		t.Fatalf("parse rules: %v", err)
	}
	for _, g := range doc["groups"].([]any) {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			delete(r.(map[string]any), "annotations")
		}
	}
	stripped, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "cdcflow.rules.yaml"), stripped)
	tests, err := os.ReadFile(repoFile("deploy/prometheus/tests/alerts.test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "alerts.test.yaml"), tests)
	return run(dir, promtool, "test", "rules", "alerts.test.yaml")
}

// TestPromtoolTestsCatchChangedThresholds proves the unit tests guard the
// thresholds: each threshold moved a little makes them fail, so a threshold
// change cannot slip through without its boundary cases.
func TestPromtoolTestsCatchChangedThresholds(t *testing.T) {
	promtool := tool(t, "promtool")
	mutations := map[string]func(*thresholds.Thresholds){
		"slot_retained_wal.warn":    func(t *thresholds.Thresholds) { t.SlotRetainedWAL.Warn++ },
		"slot_retained_wal.fail":    func(t *thresholds.Thresholds) { t.SlotRetainedWAL.Fail++ },
		"slot_retained_wal.growing": func(t *thresholds.Thresholds) { t.SlotRetainedWAL.Growing = 0 },
		"slot_retained_wal.for":     func(t *thresholds.Thresholds) { t.SlotRetainedWAL.For += time.Minute },
		"slot_wal_status.fail":      func(t *thresholds.Thresholds) { t.SlotWALStatus.Fail = []string{"lost"} },
		"source_lag.warn":           func(t *thresholds.Thresholds) { t.SourceLag.Warn += time.Second },
		"source_lag.fail":           func(t *thresholds.Thresholds) { t.SourceLag.Fail -= time.Second },
		"source_lag.for":            func(t *thresholds.Thresholds) { t.SourceLag.For -= time.Minute },
		"heartbeat_age.warn":        func(t *thresholds.Thresholds) { t.HeartbeatAge.Warn -= time.Second },
		"heartbeat_age.fail":        func(t *thresholds.Thresholds) { t.HeartbeatAge.Fail += time.Second },
		"heartbeat_age.for":         func(t *thresholds.Thresholds) { t.HeartbeatAge.For = 0 },
		"source_retrying.warn":      func(t *thresholds.Thresholds) { t.SourceRetrying.Warn -= time.Second },
		"source_retrying.fail":      func(t *thresholds.Thresholds) { t.SourceRetrying.Fail += time.Second },
		"down.job":                  func(t *thresholds.Thresholds) { t.Down.Job = "cdcflow" },
		"down.for":                  func(t *thresholds.Thresholds) { t.Down.For += time.Minute },
		"kafka_ack.warn":            func(t *thresholds.Thresholds) { t.KafkaAck.Warn -= time.Second },
		"kafka_ack.fail":            func(t *thresholds.Thresholds) { t.KafkaAck.Fail -= time.Second },
		"dead_letters.window":       func(t *thresholds.Thresholds) { t.DeadLetters.Window -= time.Minute },
		"transaction_aborts.window": func(t *thresholds.Thresholds) { t.TransactionAborts.Window = time.Minute },
		"views_staleness.warn":      func(t *thresholds.Thresholds) { t.ViewsStaleness.Warn += time.Second },
		"views_staleness.fail":      func(t *thresholds.Thresholds) { t.ViewsStaleness.Fail -= time.Second },
		"views_staleness.for":       func(t *thresholds.Thresholds) { t.ViewsStaleness.For += time.Minute },
		"consumer_lag.warn":         func(t *thresholds.Thresholds) { t.ConsumerLag.Warn-- },
		"consumer_lag.growing":      func(t *thresholds.Thresholds) { t.ConsumerLag.Growing = 0 },
		"consumer_lag.for":          func(t *thresholds.Thresholds) { t.ConsumerLag.For -= time.Minute },
		"snapshot_stall.warn":       func(t *thresholds.Thresholds) { t.SnapshotStall.Warn -= time.Second },
		"snapshot_stall.fail":       func(t *thresholds.Thresholds) { t.SnapshotStall.Fail += time.Second },
		"replay_stall.warn":         func(t *thresholds.Thresholds) { t.ReplayStall.Warn += time.Second },
		"replay_stall.fail":         func(t *thresholds.Thresholds) { t.ReplayStall.Fail -= time.Second },
		"restarts.warn":             func(t *thresholds.Thresholds) { t.Restarts.Warn-- },
		"restarts.window":           func(t *thresholds.Thresholds) { t.Restarts.Window = 20 * time.Minute },
		"takeovers.warn":            func(t *thresholds.Thresholds) { t.Takeovers.Warn-- },
		"takeovers.window":          func(t *thresholds.Thresholds) { t.Takeovers.Window = 20 * time.Minute },
	}
	names := make([]string, 0, len(mutations))
	for name := range mutations {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel() // each runs its own promtool
			th := thresholds.Default()
			mutations[name](&th)
			rules, err := th.RuleFile()
			if err != nil {
				t.Fatal(err)
			}
			if out, err := promtoolTest(t, promtool, rules); err == nil {
				t.Errorf("with %s changed, the promtool tests still pass:\n%s", name, out)
			}
		})
	}
}

// TestEveryAlertHasCases checks that alerts.test.yaml has, for every alert
// and severity the rules define, a case where it fires, and for every alert
// a case where it must not.
func TestEveryAlertHasCases(t *testing.T) {
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []struct {
					ExpLabels map[string]string `yaml:"exp_labels"`
				} `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		}
	}
	readYAML(t, "deploy/prometheus/tests/alerts.test.yaml", &tests)
	fires := map[string]bool{} // alert + "/" + severity
	silent := map[string]bool{}
	for _, tc := range tests.Tests {
		for _, at := range tc.AlertRuleTest {
			if len(at.ExpAlerts) == 0 {
				silent[at.Alertname] = true
			}
			for _, a := range at.ExpAlerts {
				fires[at.Alertname+"/"+a.ExpLabels["severity"]] = true
			}
		}
	}
	for _, r := range thresholds.Default().Rules() {
		if key := r.Alert + "/" + r.Labels["severity"]; !fires[key] {
			t.Errorf("alerts.test.yaml has no case where %s fires", key)
		}
		if !silent[r.Alert] {
			t.Errorf("alerts.test.yaml has no case where %s must not fire", r.Alert)
		}
	}
}

func readYAML(t *testing.T, name string, v any) {
	t.Helper()
	data, err := os.ReadFile(repoFile(name))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
