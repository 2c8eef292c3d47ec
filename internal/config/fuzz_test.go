package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseConfig feeds arbitrary YAML and one arbitrary variable to the
// loader: it must return a configuration or an error, never panic, and a
// configuration it accepts must print and load back.
func FuzzParseConfig(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/config/*.yaml")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "CDCFLOW_LOG_LEVEL=debug")
	}
	f.Add([]byte("version: 1\nkafka:\n  brokers: a\n"), "CDCFLOW_KAFKA_BROKERS=a,b")
	f.Add([]byte("version: 1\nx: &a [*a]\n"), "")
	f.Add([]byte("version: 1\nsource: &s {dsn: x}\ncapture:\n  <<: *s\n"), "")
	f.Add([]byte("- 1\n- 2\n"), "CDCFLOW_CAPTURE_TABLES=")
	f.Add([]byte("? [a]\n: b\n"), "CDCFLOW_X_FILE=/dev/null")
	f.Fuzz(func(t *testing.T, data []byte, variable string) {
		if strings.Contains(variable, "_FILE=") {
			return // reading arbitrary paths is not the loader's input
		}
		cfg, err := parse("fuzz.yaml", data, []string{variable})
		if err != nil {
			return
		}
		out, err := marshal(cfg)
		if err != nil {
			t.Fatalf("marshal accepted config: %v", err)
		}
		if _, err := parse("printed.yaml", out, nil); err != nil {
			t.Fatalf("printed config does not load: %v\n%s", err, out)
		}
	})
}
