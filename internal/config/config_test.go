package config

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

// testSection exercises every kind of field the machinery handles, beyond
// what Config holds today.
type testSection struct {
	Name       string            `yaml:"name"`
	Password   string            `yaml:"password" secret:"true"`
	Enabled    bool              `yaml:"enabled"`
	Count      int               `yaml:"count"`
	Ratio      float64           `yaml:"ratio"`
	Timeout    time.Duration     `yaml:"timeout"`
	Hosts      []string          `yaml:"hosts"`
	Labels     map[string]string `yaml:"labels"`
	Ports      []uint16          `yaml:"ports"`
	Rules      []testRule        `yaml:"rules"`
	testInline `yaml:",inline"`
	Skipped    string `yaml:"-"`
}

type testInline struct {
	Extra string `yaml:"extra"`
}

type testRule struct {
	Table string `yaml:"table"`
	Event string `yaml:"event"`
}

func (r *testRule) validate() error {
	if r.Event == "" {
		return invalidKey("event", "required")
	}
	return nil
}

type testConfig struct {
	Version int         `yaml:"version"`
	Sec     testSection `yaml:"sec"`
}

func (s *testSection) setDefaults() {
	if s.Timeout == 0 {
		s.Timeout = 30 * time.Second
	}
}

func (s *testSection) validate() error {
	var errs []error
	if s.Count < 0 {
		errs = append(errs, invalidKey("count", "must not be negative"))
	}
	if s.Name == "bad" {
		errs = append(errs, errors.New("the whole section is wrong"))
	}
	return errors.Join(errs...)
}

func loadTest(t *testing.T, yaml string, env ...string) (*testConfig, error) {
	t.Helper()
	cfg := &testConfig{}
	name := "test.yaml"
	if yaml == "" {
		name = "" // no file
	}
	src, err := decodeConfig(name, []byte(yaml), env, cfg)
	if err != nil {
		return nil, err
	}
	return cfg, finishConfig(cfg, src)
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  []string
		want []string // substrings of the error, all required
	}{
		{"unknown top-level key", "version: 1\nsecc:\n  name: x\n",
			nil, []string{"test.yaml:2: unknown key secc (did you mean sec?)"}},
		{"unknown nested key with path and line", "version: 1\nsec:\n  name: x\n  hostz: [a]\n",
			nil, []string{"test.yaml:4: unknown key sec.hostz (did you mean hosts?)"}},
		{"unknown key without suggestion", "version: 1\nsec:\n  wholly_different: 1\n",
			nil, []string{"test.yaml:3: unknown key sec.wholly_different"}},
		{"unknown key inside a list item", "sec:\n  rules:\n    - table: a\n      evnt: X\n",
			nil, []string{"test.yaml:4: unknown key sec.rules[0].evnt (did you mean event?)"}},
		{"every unknown key reported", "sec:\n  a: 1\n  b: 2\n",
			nil, []string{"test.yaml:2: unknown key sec.a", "test.yaml:3: unknown key sec.b"}},
		{"ignored field is unknown", "sec:\n  skipped: x\n", nil, []string{"unknown key sec.skipped"}},
		{"duplicate key", "sec:\n  name: a\n  name: b\n", nil, []string{"test.yaml:3: sec.name: set twice"}},
		{"wrong type", "sec:\n  count: many\n", nil, []string{"test.yaml:2: sec.count: cannot unmarshal !!str `many` into int"}},
		{"section not a mapping", "sec: [1, 2]\n", nil, []string{"test.yaml:1: sec: want a mapping of keys, got a list"}},
		{"list of sections not a list", "sec:\n  rules: x\n", nil, []string{"test.yaml:2: sec.rules: want a list"}},
		{"bad duration", "sec:\n  timeout: 5 minutes\n", nil, []string{"test.yaml:2: sec.timeout:"}},
		{"two documents", "sec: {}\n---\nsec: {}\n", nil, []string{"test.yaml:2: a configuration file holds one YAML document"}},
		{"syntax error", "sec:\n  name: [\n", nil, []string{"test.yaml: yaml: line"}},
		{"validation names key and line", "sec:\n  count: -1\n", nil, []string{"test.yaml:2: sec.count: must not be negative"}},
		{"validation of a list item", "sec:\n  rules:\n    - table: a\n", nil, []string{"sec.rules[0].event: required"}},
		{"validation without key names the section", "sec:\n  name: bad\n", nil, []string{"test.yaml:2: sec: the whole section is wrong"}},
		{"validation names the variable", "sec: {}\n", []string{"CDCFLOW_SEC_COUNT=-2"}, []string{"CDCFLOW_SEC_COUNT: sec.count: must not be negative"}},
		{"unknown variable", "", []string{"CDCFLOW_SEC_NAM=x"}, []string{"unknown environment variable CDCFLOW_SEC_NAM", "did you mean CDCFLOW_SEC_NAME?"}},
		{"variable and its _FILE both set", "", []string{"CDCFLOW_SEC_NAME=x", "CDCFLOW_SEC_NAME_FILE=/nonexistent"}, []string{"CDCFLOW_SEC_NAME and CDCFLOW_SEC_NAME_FILE are both set"}},
		{"_FILE of a missing file", "", []string{"CDCFLOW_SEC_NAME_FILE=/nonexistent/x"}, []string{"CDCFLOW_SEC_NAME_FILE (sec.name): read:"}},
		{"_FILE of a section is unknown", "", []string{"CDCFLOW_SEC_FILE=/x"}, []string{"unknown environment variable CDCFLOW_SEC_FILE"}},
		{"bad bool", "", []string{"CDCFLOW_SEC_ENABLED=maybe"}, []string{`CDCFLOW_SEC_ENABLED: sec.enabled: "maybe" is not a boolean`}},
		{"bad int", "", []string{"CDCFLOW_SEC_COUNT=1.5"}, []string{`CDCFLOW_SEC_COUNT: sec.count: "1.5" is not an integer`}},
		{"bad duration variable", "", []string{"CDCFLOW_SEC_TIMEOUT=5"}, []string{`CDCFLOW_SEC_TIMEOUT: sec.timeout: "5" is not a duration`}},
		{"bad list item", "", []string{"CDCFLOW_SEC_PORTS=80,http"}, []string{`CDCFLOW_SEC_PORTS: sec.ports: item 2: "http" is not a non-negative integer`}},
		{"bad map item", "", []string{"CDCFLOW_SEC_LABELS=a=1,b"}, []string{`CDCFLOW_SEC_LABELS: sec.labels: "b" is not key=value`}},
		{"bad yaml list of sections", "", []string{"CDCFLOW_SEC_RULES=[{table: a, evnt: b}]"}, []string{"CDCFLOW_SEC_RULES: sec.rules: CDCFLOW_SEC_RULES:1: unknown key [0].evnt"}},
		{"secret value never echoed", "", []string{"CDCFLOW_SEC_PASSWORD=[unclosed"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadTest(t, tt.yaml, tt.env...)
			if tt.want == nil {
				return // only must not panic
			}
			if err == nil {
				t.Fatalf("load(%q, %q) = nil error; want %q", tt.yaml, tt.env, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("load(%q, %q) = %q; want it to contain %q", tt.yaml, tt.env, err, w)
				}
			}
		})
	}
}

func TestConfigEnvOverrides(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(secretFile, []byte("hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := "sec:\n  name: from-file\n  hosts: [f1, f2]\n  labels: {a: b}\n  count: 3\n"
	tests := []struct {
		name string
		env  []string
		get  func(*testConfig) any
		want any
	}{
		{"file value kept", nil, func(c *testConfig) any { return c.Sec.Name }, "from-file"},
		{"string", []string{"CDCFLOW_SEC_NAME=from-env"}, func(c *testConfig) any { return c.Sec.Name }, "from-env"},
		{"string may hold = and ,", []string{"CDCFLOW_SEC_NAME=a=b,c"}, func(c *testConfig) any { return c.Sec.Name }, "a=b,c"},
		{"int", []string{"CDCFLOW_SEC_COUNT=42"}, func(c *testConfig) any { return c.Sec.Count }, 42},
		{"top-level int", []string{"CDCFLOW_VERSION=7"}, func(c *testConfig) any { return c.Version }, 7},
		{"bool", []string{"CDCFLOW_SEC_ENABLED=true"}, func(c *testConfig) any { return c.Sec.Enabled }, true},
		{"float", []string{"CDCFLOW_SEC_RATIO=0.25"}, func(c *testConfig) any { return c.Sec.Ratio }, 0.25},
		{"duration", []string{"CDCFLOW_SEC_TIMEOUT=1m30s"}, func(c *testConfig) any { return c.Sec.Timeout }, 90 * time.Second},
		{"duration default", nil, func(c *testConfig) any { return c.Sec.Timeout }, 30 * time.Second},
		{"list replaces the file's", []string{"CDCFLOW_SEC_HOSTS=a:9092, b:9092"}, func(c *testConfig) any { return c.Sec.Hosts }, []string{"a:9092", "b:9092"}},
		{"empty list", []string{"CDCFLOW_SEC_HOSTS="}, func(c *testConfig) any { return c.Sec.Hosts }, []string{}},
		{"list of ints", []string{"CDCFLOW_SEC_PORTS=80,443"}, func(c *testConfig) any { return c.Sec.Ports }, []uint16{80, 443}},
		{"map", []string{"CDCFLOW_SEC_LABELS=team=orders, tier = 1"}, func(c *testConfig) any { return c.Sec.Labels }, map[string]string{"team": "orders", "tier": "1"}},
		{"list of sections as YAML", []string{"CDCFLOW_SEC_RULES=[{table: orders, event: OrderRequested}]"}, func(c *testConfig) any { return c.Sec.Rules }, []testRule{{"orders", "OrderRequested"}}},
		{"inline field", []string{"CDCFLOW_SEC_EXTRA=x"}, func(c *testConfig) any { return c.Sec.Extra }, "x"},
		{"_FILE secret trims the newline", []string{"CDCFLOW_SEC_PASSWORD_FILE=" + secretFile}, func(c *testConfig) any { return c.Sec.Password }, "hunter2"},
		{"_FILE works for any key", []string{"CDCFLOW_SEC_NAME_FILE=" + secretFile}, func(c *testConfig) any { return c.Sec.Name }, "hunter2"},
		{"config and test variables are not keys", []string{"CDCFLOW_CONFIG=/x.yaml", "CDCFLOW_TEST_POSTGRES_URL=x"}, func(c *testConfig) any { return c.Sec.Name }, "from-file"},
		{"other variables ignored", []string{"HOME=/root", "CDCFLOW=1"}, func(c *testConfig) any { return c.Sec.Count }, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadTest(t, file, tt.env...)
			if err != nil {
				t.Fatalf("load with %q: %v", tt.env, err)
			}
			if got := tt.get(cfg); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("load with %q: got %#v; want %#v", tt.env, got, tt.want)
			}
		})
	}
}

func TestConfigMergeKeys(t *testing.T) {
	cfg, err := loadTest(t, "base: &b\nsec:\n  <<: {name: merged, count: 2}\n  count: 5\n")
	if err == nil {
		t.Fatalf("load accepted unknown key base: %+v", cfg)
	}
	cfg, err = loadTest(t, "sec:\n  <<: {name: merged, count: 2}\n  count: 5\n")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Sec.Name != "merged" || cfg.Sec.Count != 5 {
		t.Errorf("merge: got name %q count %d; want merged 5", cfg.Sec.Name, cfg.Sec.Count)
	}
}

// TestConfigEnvNames checks the real Config: every key has a variable, no
// two keys share one, and no key's variable is another's _FILE form.
func TestConfigEnvNames(t *testing.T) {
	keys := envKeys(reflect.TypeFor[Config]())
	seen := map[string]string{}
	for _, k := range keys {
		if other, dup := seen[k.env]; dup {
			t.Errorf("keys %s and %s both map to %s", other, k.path, k.env)
		}
		seen[k.env] = k.path
	}
	for _, k := range keys {
		if base, ok := strings.CutSuffix(k.env, envFileSuffix); ok {
			if other, clash := seen[base]; clash {
				t.Errorf("%s (key %s) is also the _FILE form of key %s", k.env, k.path, other)
			}
		}
	}
	want := map[string]string{
		"source.dsn":     "CDCFLOW_SOURCE_DSN",
		"capture.slot":   "CDCFLOW_CAPTURE_SLOT",
		"data_dir":       "CDCFLOW_DATA_DIR",
		"kafka.brokers":  "CDCFLOW_KAFKA_BROKERS",
		"metrics.addr":   "CDCFLOW_METRICS_ADDR",
		"log.level":      "CDCFLOW_LOG_LEVEL",
		"version":        "CDCFLOW_VERSION",
		"capture.tables": "CDCFLOW_CAPTURE_TABLES",
	}
	for path, env := range want {
		var found bool
		for _, k := range keys {
			if k.path == path {
				found = true
				if k.env != env {
					t.Errorf("key %s: variable %s; want %s", path, k.env, env)
				}
			}
		}
		if !found {
			t.Errorf("key %s missing from envKeys", path)
		}
	}
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name string
		file string // contents; "" means no file
		env  []string
		want string // error substring; "" means success
	}{
		{"golden example", "@testdata/config/example.yaml", nil, ""},
		{"env only needs no version", "", []string{"CDCFLOW_SOURCE_DSN=host=x"}, ""},
		{"version missing", "data_dir: x\n", nil, `cfg.yaml: version: missing; the first line of a configuration file is "version: 1"`},
		{"version 2", "version: 2\n", nil, "cfg.yaml:1: version: 2 is not supported"},
		{"empty file", " ", nil, "cfg.yaml: empty file"},
		{"unknown key", "version: 1\nkafka:\n  brokrs: [a]\n", nil, "cfg.yaml:3: unknown key kafka.brokrs (did you mean brokers?)"},
		{"bad log level", "version: 1\nlog:\n  level: loud\n", nil, `cfg.yaml:3: log.level: "loud" is not one of`},
		{"bad log format from env", "version: 1\n", []string{"CDCFLOW_LOG_FORMAT=xml"}, `CDCFLOW_LOG_FORMAT: log.format: "xml" is not one of text, json`},
		{"bad metrics addr", "version: 1\nmetrics:\n  addr: localhost\n", nil, `cfg.yaml:3: metrics.addr: "localhost" is not host:port`},
		{"unknown variable", "version: 1\n", []string{"CDCFLOW_KAFKA_BROKER=a:1"}, "did you mean CDCFLOW_KAFKA_BROKERS?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if strings.HasPrefix(tt.file, "@") {
				path = tt.file[1:]
			} else if tt.file != "" {
				path = filepath.Join(t.TempDir(), "cfg.yaml")
				if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			cfg, err := Load(path, tt.env)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("loadConfig: %v", err)
				}
				if cfg.Version != 1 || cfg.DataDir == "" || cfg.Log.Level != "info" {
					t.Errorf("loadConfig: version %d, data_dir %q, log.level %q; want 1, set, info", cfg.Version, cfg.DataDir, cfg.Log.Level)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("loadConfig = %v; want error containing %q", err, tt.want)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "./cdcflow-data" || cfg.Log.Level != "info" || cfg.Version != 1 {
		t.Errorf("defaults: data_dir %q, log.level %q, version %d", cfg.DataDir, cfg.Log.Level, cfg.Version)
	}
}

// TestConfigPrintGolden prints testdata/config/sections.yaml, loaded into
// the test sections with overrides from the environment, and compares the
// output with the golden file; -update rewrites it. (The test sections are
// used because the real ones grow with every issue.)
func TestConfigPrintGolden(t *testing.T) {
	data, err := os.ReadFile("testdata/config/sections.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := loadTest(t, string(data), "CDCFLOW_SEC_COUNT=9", "CDCFLOW_SEC_LABELS=team=orders")
	if err != nil {
		t.Fatal(err)
	}
	got, err := marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "testdata/config/sections.print.golden", got)
}

// checkGolden compares got with the golden file; -update rewrites it.
func checkGolden(t *testing.T, golden string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("config print:\n%s\nwant:\n%s", got, want)
	}
}

// TestConfigPrintDefaults prints the configuration with nothing set: every
// default as docs/configuration.md states it, taken from the components
// (testdata/config/defaults.print.golden; -update rewrites it). What is
// printed loads back to the same configuration.
func TestConfigPrintDefaults(t *testing.T) {
	cfg, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "testdata/config/defaults.print.golden", got)
	back, err := parse("printed.yaml", got, nil)
	if err != nil {
		t.Fatalf("printed defaults do not load: %v", err)
	}
	again, err := Marshal(back)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, got) {
		t.Errorf("printed defaults load back as:\n%s\nwant:\n%s", again, got)
	}
}

func TestRetention(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  []string
		want Retention
	}{
		{"forever", "version: 1\nkafka:\n  topics:\n    retention: -1\n", nil, -1},
		{"default", "version: 1\n", nil, -1},
		{"a week", "version: 1\nkafka:\n  topics:\n    retention: 168h\n", nil, Retention(168 * time.Hour)},
		{"as printed before", "version: 1\nkafka:\n  topics:\n    retention: -1ns\n", nil, Retention(-1)},
		{"from the environment", "version: 1\n", []string{"CDCFLOW_KAFKA_TOPICS_RETENTION=-1"}, -1},
		{"a day from the environment", "version: 1\n", []string{"CDCFLOW_KAFKA_TOPICS_RETENTION=24h"}, Retention(24 * time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parse("cfg.yaml", []byte(tt.yaml), tt.env)
			if err != nil {
				t.Fatalf("parse(%q) = %v", tt.yaml, err)
			}
			if got := cfg.Kafka.Topics.Retention; got != tt.want {
				t.Errorf("retention = %v; want %v", time.Duration(got), time.Duration(tt.want))
			}
		})
	}
	if _, err := parse("cfg.yaml", []byte("version: 1\nkafka:\n  topics:\n    retention: forever\n"), nil); err == nil ||
		!strings.Contains(err.Error(), `cfg.yaml:4: kafka.topics.retention: "forever" is not a duration such as 168h, or -1 for forever`) {
		t.Errorf("parse(retention: forever) = %v; want an error naming line and key", err)
	}
}

// TestConfigPrintExample prints the example configuration: no secret
// shows, and what is printed loads back to the same configuration.
func TestConfigPrintExample(t *testing.T) {
	cfg, err := Load("testdata/config/example.yaml", []string{"CDCFLOW_LOG_LEVEL=debug"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(got, []byte("s3cret")) {
		t.Fatalf("printed configuration holds the password:\n%s", got)
	}
	if !bytes.Contains(got, []byte("level: debug")) {
		t.Errorf("printed configuration lacks the override level: debug:\n%s", got)
	}
	back, err := parse("printed.yaml", got, nil)
	if err != nil {
		t.Fatalf("load printed config: %v\n%s", err, got)
	}
	cfg.Source.DSN = redacted
	if !reflect.DeepEqual(back, cfg) {
		t.Errorf("printed config loads as %+v; want %+v", back, cfg)
	}
}

func TestConfigRedaction(t *testing.T) {
	cfg := &testConfig{Sec: testSection{
		Name:       "postgres://app:pa55@db:5432/orders?sslmode=disable",
		Password:   "hunter2",
		Hosts:      []string{"host=db user=app password='p w' dbname=x", "host=db password=plain port=5"},
		testInline: testInline{Extra: "postgres://db/orders?user=app&password=qs&sslmode=require"},
	}}
	out, err := marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{"pa55", "hunter2", "p w", "plain", "qs&"} {
		if bytes.Contains(out, []byte(leak)) {
			t.Errorf("printed config holds %q:\n%s", leak, out)
		}
	}
	for _, keep := range []string{
		"postgres://app:<redacted>@db:5432/orders?sslmode=disable",
		"password: <redacted>",
		"host=db user=app password=<redacted> dbname=x",
		"host=db password=<redacted> port=5",
		"?user=app&password=<redacted>&sslmode=require",
	} {
		if !bytes.Contains(out, []byte(keep)) {
			t.Errorf("printed config lacks %q:\n%s", keep, out)
		}
	}
	empty, err := marshal(&testConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(empty, []byte(`password: ""`)) {
		t.Errorf("an unset secret should print as unset:\n%s", empty)
	}
}

func TestMaskPasswords(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://u:p@h/db", "postgres://u:<redacted>@h/db"},
		{"postgres://u@h/db", "postgres://u@h/db"},
		{"postgres://h/db", "postgres://h/db"},
		{"host=h password=x", "host=h password=<redacted>"},
		{"password = 'a \\' b' host=h", "password = <redacted> host=h"},
		{"host=h sslpassword=k", "host=h sslpassword=<redacted>"},
		{"postgres://h/db?password=x&a=b", "postgres://h/db?password=<redacted>&a=b"},
		{"plain text", "plain text"},
	}
	for _, tt := range tests {
		if got := maskPasswords(tt.in); got != tt.want {
			t.Errorf("maskPasswords(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestConfigAliasLoops(t *testing.T) {
	tests := []string{
		"sec: &a\n  rules: [*a]\n",
		"sec: &a\n  <<: *a\n",
		"sec: &a\n  rules:\n    - <<: *a\n",
	}
	for _, y := range tests {
		if _, err := loadTest(t, y); err == nil {
			t.Errorf("load(%q) = nil error; want one", y)
		}
	}
}
