package thresholds

import (
	_ "embed"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cdcflow/cdcflow/internal/strictyaml"
)

//go:embed thresholds.yaml
var defaultFile []byte

// File is the embedded thresholds file's name, as errors about it say.
const File = "internal/thresholds/thresholds.yaml"

// Verdict is the judgement of one value against its thresholds.
type Verdict int

// The verdicts, from best to worst; a worse verdict compares greater.
const (
	OK   Verdict = iota // within the thresholds
	Warn                // above warn: alert severity "warning"
	Fail                // above fail: alert severity "critical"
)

// String returns "ok", "warn" or "fail".
func (v Verdict) String() string {
	switch v {
	case OK:
		return "ok"
	case Warn:
		return "warn"
	case Fail:
		return "fail"
	}
	return fmt.Sprintf("Verdict(%d)", int(v))
}

// Severity returns the alert severity label of the verdict: "warning" for
// Warn, "critical" for Fail, "" for OK.
func (v Verdict) Severity() string {
	switch v {
	case Warn:
		return "warning"
	case Fail:
		return "critical"
	}
	return ""
}

// Durations are thresholds on an age or a lag. A zero Fail means the value
// is never a failure.
type Durations struct {
	Warn time.Duration // above it: Warn
	Fail time.Duration // above it: Fail (0: none)
	For  time.Duration // how long the condition holds before its alert fires (0: at once)
}

// Verdict judges d: Fail above Fail, Warn above Warn, else OK.
func (t Durations) Verdict(d time.Duration) Verdict {
	return judge(float64(d), float64(t.Warn), float64(t.Fail))
}

// Bytes are thresholds on a size, such as the WAL a slot retains.
type Bytes struct {
	Warn int64 // above it: Warn (the alert also needs the size to grow over Growing)
	Fail int64 // above it: Fail (0: none)
	// Growing is the window over which the warning alert also needs the
	// size to have grown (0: not needed). Status, which sees one value,
	// judges the size alone.
	Growing time.Duration
	For     time.Duration // how long the condition holds before its alert fires
}

// Verdict judges the size b: Fail above Fail, Warn above Warn, else OK.
func (t Bytes) Verdict(b int64) Verdict {
	return judge(float64(b), float64(t.Warn), float64(t.Fail))
}

// Records are thresholds on a count of records waiting, such as a
// partition's consumer lag.
type Records struct {
	Warn int64 // above it: Warn (the alert also needs the count to grow over Growing)
	// Growing is the window over which the alert also needs the count to
	// have grown (0: not needed). Status judges the count alone.
	Growing time.Duration
	For     time.Duration // how long the condition holds before its alert fires
}

// Verdict judges the count n: Warn above Warn, else OK.
func (t Records) Verdict(n int64) Verdict {
	return judge(float64(n), float64(t.Warn), 0)
}

// Window is a threshold on how many times something happened within a
// window of time.
type Window struct {
	Window time.Duration // how far back to count
	Warn   int           // above it: Warn (0 for "any occurrence")
}

// Verdict judges n occurrences within the window: Warn above Warn, else OK.
func (t Window) Verdict(n int) Verdict {
	if n > t.Warn {
		return Warn
	}
	return OK
}

// WALStatus lists the slot wal_status values that are a warning or a
// failure; the others ("reserved", "extended") are OK.
type WALStatus struct {
	Warn []string
	Fail []string
}

// Verdict judges the slot's wal_status s.
func (t WALStatus) Verdict(s string) Verdict {
	switch {
	case slices.Contains(t.Fail, s):
		return Fail
	case slices.Contains(t.Warn, s):
		return Warn
	}
	return OK
}

// Down says which Prometheus jobs are cdcflow processes and how long one
// may be unreachable or not ready before its alert fires.
type Down struct {
	Job string        // regular expression (RE2, anchored by Prometheus) matching the job label
	For time.Duration // how long up == 0 or cdcflow_ready == 0 holds before the alert fires
}

// PrometheusRuleMeta is the metadata of the generated PrometheusRule.
type PrometheusRuleMeta struct {
	Name   string            // metadata.name
	Labels map[string]string // metadata.labels, for the operator's ruleSelector
}

// Thresholds are the contents of the thresholds file; each field is
// documented in thresholds.yaml under its snake_case name.
type Thresholds struct {
	SlotRetainedWAL   Bytes
	SlotWALStatus     WALStatus
	SourceLag         Durations
	HeartbeatAge      Durations
	SourceRetrying    Durations
	Down              Down
	KafkaAck          Durations
	DeadLetters       Window
	TransactionAborts Window
	ViewsStaleness    Durations
	ConsumerLag       Records
	SnapshotStall     Durations
	ReplayStall       Durations
	Restarts          Window
	Takeovers         Window
	Runbook           string // URL of the runbook page; alerts link to Runbook#<alert name, lower case>
	PrometheusRule    PrometheusRuleMeta
}

// Default returns the thresholds of the embedded file. The file is checked
// by the package's tests, so it never fails at run time.
func Default() Thresholds {
	t, err := Parse(defaultFile, File)
	if err != nil {
		panic(err) // impossible: TestDefault parses the same bytes
	}
	return t
}

// Load reads and parses the thresholds file at path.
func Load(path string) (Thresholds, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Thresholds{}, fmt.Errorf("read thresholds: %w", err)
	}
	return Parse(data, path)
}

// Parse parses a thresholds file; name is how errors name it. Every key is
// required, unknown keys are refused, and all problems are reported at once,
// each as "name:line: key: problem".
func Parse(data []byte, name string) (Thresholds, error) {
	root, err := strictyaml.Parse(data)
	if err != nil {
		return Thresholds{}, fmt.Errorf("%s: %s", name, strictyaml.ErrorText(err))
	}
	p := parser{}
	t := p.top(root)
	if len(p.w.Problems) > 0 {
		msgs := make([]string, len(p.w.Problems))
		for i, pr := range p.w.Problems {
			msgs[i] = fmt.Sprintf("%s:%d: %s", name, pr.Line, pr.Text())
		}
		return Thresholds{}, fmt.Errorf("thresholds: %s", strings.Join(msgs, "\n"))
	}
	return t, nil
}

type parser struct{ w strictyaml.Walker }

func (p *parser) top(n *yaml.Node) Thresholds {
	var t Thresholds
	fields := map[string]func(v *yaml.Node, path string){
		"slot_retained_wal":  func(v *yaml.Node, path string) { t.SlotRetainedWAL = p.bytes(v, path) },
		"slot_wal_status":    func(v *yaml.Node, path string) { t.SlotWALStatus = p.walStatus(v, path) },
		"source_lag":         func(v *yaml.Node, path string) { t.SourceLag = p.durations(v, path, true) },
		"heartbeat_age":      func(v *yaml.Node, path string) { t.HeartbeatAge = p.durations(v, path, true) },
		"source_retrying":    func(v *yaml.Node, path string) { t.SourceRetrying = p.durations(v, path, false) },
		"down":               func(v *yaml.Node, path string) { t.Down = p.down(v, path) },
		"kafka_ack":          func(v *yaml.Node, path string) { t.KafkaAck = p.durations(v, path, false) },
		"dead_letters":       func(v *yaml.Node, path string) { t.DeadLetters = p.window(v, path, false) },
		"transaction_aborts": func(v *yaml.Node, path string) { t.TransactionAborts = p.window(v, path, false) },
		"views_staleness":    func(v *yaml.Node, path string) { t.ViewsStaleness = p.durations(v, path, true) },
		"consumer_lag":       func(v *yaml.Node, path string) { t.ConsumerLag = p.records(v, path) },
		"snapshot_stall":     func(v *yaml.Node, path string) { t.SnapshotStall = p.durations(v, path, false) },
		"replay_stall":       func(v *yaml.Node, path string) { t.ReplayStall = p.durations(v, path, false) },
		"restarts":           func(v *yaml.Node, path string) { t.Restarts = p.window(v, path, true) },
		"takeovers":          func(v *yaml.Node, path string) { t.Takeovers = p.window(v, path, true) },
		"runbook":            func(v *yaml.Node, path string) { t.Runbook = p.url(v, path) },
		"prometheus_rule":    func(v *yaml.Node, path string) { t.PrometheusRule = p.ruleMeta(v, path) },
	}
	known := sortedKeys(fields)
	p.w.Mapping(n, "", known, func(name, path string, v *yaml.Node) { fields[name](v, path) }, known...)
	return t
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// positive reads a duration that must be above zero.
func (p *parser) positive(v *yaml.Node, path string) time.Duration {
	d, ok := p.w.Duration(v, path)
	if ok && d <= 0 {
		p.w.Fail(v, path, "must be above zero, got %s", d)
	}
	if ok && d%time.Second != 0 {
		p.w.Fail(v, path, "must be whole seconds, got %s", d)
	}
	return d
}

// nonNegative reads a duration that may be zero ("at once").
func (p *parser) nonNegative(v *yaml.Node, path string) time.Duration {
	d, ok := p.w.Duration(v, path)
	if ok && d < 0 {
		p.w.Fail(v, path, "must not be negative, got %s", d)
	}
	if ok && d%time.Second != 0 {
		p.w.Fail(v, path, "must be whole seconds, got %s", d)
	}
	return d
}

func (p *parser) durations(n *yaml.Node, path string, withFor bool) Durations {
	var t Durations
	known := []string{"warn", "fail"}
	if withFor {
		known = append(known, "for")
	}
	p.w.Mapping(n, path, known, func(name, path string, v *yaml.Node) {
		switch name {
		case "warn":
			t.Warn = p.positive(v, path)
		case "fail":
			t.Fail = p.positive(v, path)
		case "for":
			t.For = p.nonNegative(v, path)
		}
	}, known...)
	if t.Warn > 0 && t.Fail > 0 && t.Fail <= t.Warn {
		p.w.Fail(n, path, "fail (%s) must be above warn (%s)", t.Fail, t.Warn)
	}
	return t
}

func (p *parser) bytes(n *yaml.Node, path string) Bytes {
	var t Bytes
	known := []string{"warn", "fail", "growing", "for"}
	p.w.Mapping(n, path, known, func(name, path string, v *yaml.Node) {
		switch name {
		case "warn", "fail":
			s, ok := p.w.Size(v, path)
			if ok && s <= 0 {
				p.w.Fail(v, path, "must be above zero")
			}
			if name == "warn" {
				t.Warn = int64(s)
			} else {
				t.Fail = int64(s)
			}
		case "growing":
			t.Growing = p.positive(v, path)
		case "for":
			t.For = p.nonNegative(v, path)
		}
	}, known...)
	if t.Warn > 0 && t.Fail > 0 && t.Fail <= t.Warn {
		p.w.Fail(n, path, "fail (%d) must be above warn (%d)", t.Fail, t.Warn)
	}
	return t
}

func (p *parser) records(n *yaml.Node, path string) Records {
	var t Records
	known := []string{"warn", "growing", "for"}
	p.w.Mapping(n, path, known, func(name, path string, v *yaml.Node) {
		switch name {
		case "warn":
			i, ok := p.w.Int(v, path)
			if ok && i <= 0 {
				p.w.Fail(v, path, "must be above zero, got %d", i)
			}
			t.Warn = int64(i)
		case "growing":
			t.Growing = p.positive(v, path)
		case "for":
			t.For = p.nonNegative(v, path)
		}
	}, known...)
	return t
}

func (p *parser) window(n *yaml.Node, path string, withWarn bool) Window {
	var t Window
	known := []string{"window"}
	if withWarn {
		known = append(known, "warn")
	}
	p.w.Mapping(n, path, known, func(name, path string, v *yaml.Node) {
		switch name {
		case "window":
			t.Window = p.positive(v, path)
		case "warn":
			i, ok := p.w.Int(v, path)
			if ok && i < 0 {
				p.w.Fail(v, path, "must not be negative, got %d", i)
			}
			t.Warn = i
		}
	}, known...)
	return t
}

// walStatuses are the values of pg_replication_slots.wal_status.
var walStatuses = []string{"reserved", "extended", "unreserved", "lost"}

func (p *parser) walStatus(n *yaml.Node, path string) WALStatus {
	var t WALStatus
	known := []string{"warn", "fail"}
	seen := map[string]string{}
	p.w.Mapping(n, path, known, func(name, path string, v *yaml.Node) {
		var list []string
		p.w.List(v, path, func(_ int, ipath string, item *yaml.Node) {
			s, ok := p.w.String(item, ipath)
			if !ok {
				return
			}
			if !slices.Contains(walStatuses, s) {
				p.w.Fail(item, ipath, "unknown wal_status %q (want one of %s)", s, strings.Join(walStatuses, ", "))
				return
			}
			if other, dup := seen[s]; dup {
				p.w.Fail(item, ipath, "%q is already listed under %s", s, other)
				return
			}
			seen[s] = name
			list = append(list, s)
		})
		if name == "warn" {
			t.Warn = list
		} else {
			t.Fail = list
		}
	}, known...)
	return t
}

func (p *parser) down(n *yaml.Node, path string) Down {
	var t Down
	known := []string{"job", "for"}
	p.w.Mapping(n, path, known, func(name, path string, v *yaml.Node) {
		switch name {
		case "job":
			s, ok := p.w.String(v, path)
			if !ok {
				return
			}
			if _, err := regexp.Compile("^(?:" + s + ")$"); err != nil {
				p.w.Fail(v, path, "not a regular expression: %v", err)
				return
			}
			t.Job = s
		case "for":
			t.For = p.nonNegative(v, path)
		}
	}, known...)
	return t
}

func (p *parser) url(v *yaml.Node, path string) string {
	s, ok := p.w.String(v, path)
	if ok && !strings.HasPrefix(s, "https://") && !strings.HasPrefix(s, "http://") {
		p.w.Fail(v, path, "want an http(s) URL, got %q", s)
	}
	if strings.Contains(s, "#") {
		p.w.Fail(v, path, "must not hold an anchor (#): each alert adds its own")
	}
	return s
}

// labelName is Prometheus's and Kubernetes' common ground for a label key.
var labelName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_./-]*$`)

func (p *parser) ruleMeta(n *yaml.Node, path string) PrometheusRuleMeta {
	var t PrometheusRuleMeta
	known := []string{"name", "labels"}
	p.w.Mapping(n, path, known, func(name, path string, v *yaml.Node) {
		switch name {
		case "name":
			t.Name, _ = p.w.String(v, path)
		case "labels":
			t.Labels = map[string]string{}
			p.w.Entries(v, path, func(k, kpath string, kn, vn *yaml.Node) {
				if !labelName.MatchString(k) {
					p.w.Fail(kn, kpath, "not a label name")
				}
				t.Labels[k], _ = p.w.String(vn, kpath)
			})
		}
	}, "name")
	return t
}

func judge(v, warn, fail float64) Verdict {
	switch {
	case fail > 0 && v > fail:
		return Fail
	case warn > 0 && v > warn:
		return Warn
	}
	return OK
}
