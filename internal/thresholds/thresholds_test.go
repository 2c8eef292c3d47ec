package thresholds

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefault(t *testing.T) {
	if _, err := Parse(defaultFile, File); err != nil {
		t.Fatalf("the embedded thresholds file does not parse: %v", err)
	}
	d := Default()
	if d.SourceLag.Warn != time.Minute || d.SlotRetainedWAL.Warn != 1<<30 || d.Down.Job == "" || d.PrometheusRule.Labels["release"] == "" {
		t.Errorf("Default() = %+v; want the embedded file's values", d)
	}
}

// TestGeneratedFilesUpToDate fails when thresholds.yaml (or the rules'
// code) changed and `go generate ./internal/thresholds` was not run.
func TestGeneratedFilesUpToDate(t *testing.T) {
	files, err := Default().Files()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join("..", "..", filepath.FromSlash(name)))
		if err != nil {
			t.Fatalf("%v (run go generate ./internal/thresholds)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go generate ./internal/thresholds", name)
		}
	}
}

func TestVerdicts(t *testing.T) {
	d := Durations{Warn: time.Minute, Fail: 5 * time.Minute}
	b := Bytes{Warn: 100, Fail: 1000}
	tests := []struct {
		name string
		got  Verdict
		want Verdict
	}{
		{"duration below warn", d.Verdict(59 * time.Second), OK},
		{"duration at warn", d.Verdict(time.Minute), OK},
		{"duration above warn", d.Verdict(time.Minute + 1), Warn},
		{"duration at fail", d.Verdict(5 * time.Minute), Warn},
		{"duration above fail", d.Verdict(5*time.Minute + 1), Fail},
		{"duration without fail", Durations{Warn: time.Minute}.Verdict(time.Hour), Warn},
		{"bytes at warn", b.Verdict(100), OK},
		{"bytes above warn", b.Verdict(101), Warn},
		{"bytes above fail", b.Verdict(1001), Fail},
		{"records at warn", Records{Warn: 10}.Verdict(10), OK},
		{"records above warn", Records{Warn: 10}.Verdict(11), Warn},
		{"window any, none", Window{}.Verdict(0), OK},
		{"window any, one", Window{}.Verdict(1), Warn},
		{"window at warn", Window{Warn: 3}.Verdict(3), OK},
		{"window above warn", Window{Warn: 3}.Verdict(4), Warn},
		{"wal reserved", Default().SlotWALStatus.Verdict("reserved"), OK},
		{"wal extended", Default().SlotWALStatus.Verdict("extended"), OK},
		{"wal unreserved", Default().SlotWALStatus.Verdict("unreserved"), Fail},
		{"wal lost", Default().SlotWALStatus.Verdict("lost"), Fail},
		{"wal warn list", WALStatus{Warn: []string{"extended"}}.Verdict("extended"), Warn},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: verdict %v; want %v", tt.name, tt.got, tt.want)
		}
	}
	for v, s := range map[Verdict][2]string{OK: {"ok", ""}, Warn: {"warn", "warning"}, Fail: {"fail", "critical"}} {
		if v.String() != s[0] || v.Severity() != s[1] {
			t.Errorf("Verdict %d: String %q, Severity %q; want %q, %q", v, v.String(), v.Severity(), s[0], s[1])
		}
	}
}

func TestParseErrors(t *testing.T) {
	base := string(defaultFile)
	tests := []struct {
		name     string
		old, new string // replaced once in the default file
		want     string
	}{
		{"unknown key", "source_lag:\n  warn: 1m", "source_lag:\n  wran: 1m", "unknown key source_lag.wran (did you mean"},
		{"fail not above warn", "source_lag:\n  warn: 1m\n  fail: 5m", "source_lag:\n  warn: 1m\n  fail: 1m", "source_lag: fail (1m0s) must be above warn (1m0s)"},
		{"bad duration", "views_staleness:\n  warn: 2m", "views_staleness:\n  warn: 2 minutes", `views_staleness.warn: "2 minutes" is not a duration`},
		{"sub-second duration", "views_staleness:\n  warn: 2m", "views_staleness:\n  warn: 1500ms", "views_staleness.warn: must be whole seconds"},
		{"zero warn", "kafka_ack:\n  warn: 1m", "kafka_ack:\n  warn: 0s", "kafka_ack.warn: must be above zero"},
		{"bad size", "warn: 1GiB", "warn: 1GB", `slot_retained_wal.warn: "1GB" is not a size`},
		{"size order", "fail: 16GiB", "fail: 1GiB", "slot_retained_wal: fail (1073741824) must be above warn (1073741824)"},
		{"unknown wal status", "fail: [unreserved, lost]", "fail: [unreserved, gone]", `slot_wal_status.fail[1]: unknown wal_status "gone"`},
		{"wal status twice", "warn: []\n  fail: [unreserved, lost]", "warn: [lost]\n  fail: [unreserved, lost]", `slot_wal_status.fail[1]: "lost" is already listed under warn`},
		{"bad job regexp", "job: .*cdcflow.*", "job: (cdcflow", "down.job: not a regular expression"},
		{"missing key", "restarts:\n  warn: 3\n  window: 1h", "restarts:\n  window: 1h", `restarts: missing key "warn"`},
		{"runbook with anchor", "operations.md\n", "operations.md#x\n", "runbook: must not hold an anchor"},
		{"bad label", "release: kube-prometheus-stack", "rel ease: kube-prometheus-stack", "prometheus_rule.labels.rel ease: not a label name"},
		{"consumer lag not integer", "warn: 10000", "warn: lots", `consumer_lag.warn: want an integer, got "lots"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(base, tt.old) {
				t.Fatalf("the default file no longer holds %q", tt.old)
			}
			_, err := Parse([]byte(strings.Replace(base, tt.old, tt.new, 1)), "x.yaml")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse = %v; want an error containing %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), "x.yaml:") {
				t.Errorf("error %q does not name the file and line", err)
			}
		})
	}
}

func TestParseNamesLine(t *testing.T) {
	_, err := Parse([]byte(strings.Replace(string(defaultFile), "source_lag:\n  warn: 1m", "source_lag:\n  warn: 1x", 1)), "t.yaml")
	line := 1 + strings.Count(string(defaultFile)[:strings.Index(string(defaultFile), "source_lag:\n  warn")], "\n") + 1
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("t.yaml:%d: source_lag.warn", line)) {
		t.Fatalf("Parse = %v; want it at t.yaml:%d", err, line)
	}
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "thresholds.yaml")
	if err := os.WriteFile(path, defaultFile, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.SourceLag != Default().SourceLag {
		t.Errorf("Load = %+v; want the default", got.SourceLag)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.Contains(err.Error(), "read thresholds") {
		t.Errorf("Load(missing) = %v; want a read error", err)
	}
}

func TestPromDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", time.Second: "1s", 90 * time.Second: "1m30s", 5 * time.Minute: "5m",
		time.Hour: "1h", 90 * time.Minute: "1h30m", 25 * time.Hour: "25h",
	} {
		if got := promDuration(d); got != want {
			t.Errorf("promDuration(%v) = %q; want %q", d, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(defaultFile)
	f.Add([]byte("source_lag: {warn: 1m, fail: 30s}"))
	f.Add([]byte("a: &a [*a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		th, err := Parse(data, "fuzz.yaml")
		if err != nil {
			return
		}
		// Whatever parses renders as rule files.
		if _, err := th.Files(); err != nil {
			t.Fatalf("Files() after Parse: %v", err)
		}
	})
}
