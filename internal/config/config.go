package config

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
)

// Config is the whole cdcflow configuration file. Each section is declared in
// its own file (source.go, kafka.go, views.go, ...) next to the functions that
// turn it into the configuration of the component that uses it.
//
// The machinery that loads it works on any struct of sections by reflection:
// load.go (the file, strictly, then defaults and validation), env.go
// (CDCFLOW_* variables and *_FILE secrets) and print.go (redacted printing).
type Config struct {
	// Version of the configuration format; must be 1.
	Version int `yaml:"version"`
	// DataDir holds local state (the embedded broker's log, ...). Default "./cdcflow-data".
	DataDir string        `yaml:"data_dir"`
	Source  SourceConfig  `yaml:"source"`
	Capture CaptureConfig `yaml:"capture"`
	Mapping MappingConfig `yaml:"mapping"`
	Kafka   KafkaConfig   `yaml:"kafka"`
	// Backpressure bounds what is held between capture and Kafka.
	Backpressure BackpressureConfig `yaml:"backpressure"`
	// Views configures the Redis views (views.go).
	Views ViewsConfig `yaml:"views"`
	// Query configures the query API over the views (query.go).
	Query   QueryConfig   `yaml:"query"`
	Metrics MetricsConfig `yaml:"metrics"`
	Log     LogConfig     `yaml:"log"`

	// CEP configures complex event processing (cep.go).
	CEP CEPConfig `yaml:"cep"`
}

// MetricsConfig configures the Prometheus endpoint, served with /healthz and /readyz.
type MetricsConfig struct {
	// Addr is the listen address, e.g. ":9102". Empty disables the endpoint.
	Addr string `yaml:"addr"`
}

// LogConfig configures logging.
type LogConfig struct {
	// Level is debug, info (default), warn or error.
	Level string `yaml:"level"`
	// Format is text (default on a terminal) or json.
	Format string `yaml:"format"`
}

// How sections take part in loading. A section type (any struct reachable
// from Config through struct fields, slices or maps) may implement either
// interface on its pointer; the loader finds them by type assertion, so a
// section's file never has to touch this one.
//
// After the file and the environment are applied, the loader calls
// setDefaults on every section, innermost first, then validate, outermost
// first. validate reports problems with invalidKey, naming the key relative
// to the section ("slot", not "capture.slot"); the loader prefixes the
// section's path and, where it knows it, the file line or the environment
// variable that set the value. Several problems may be joined with
// errors.Join.
type (
	configDefaulter interface{ setDefaults() }
	configValidator interface{ validate() error }
)

// configVersion is the only configuration format version there is.
const configVersion = 1

const (
	// envPrefix starts every environment variable that sets a key.
	envPrefix = "CDCFLOW_"
	// envFileSuffix marks a variable naming a file that holds the value.
	envFileSuffix = "_FILE"
	// EnvConfig names the configuration file when --config is not given.
	EnvConfig = envPrefix + "CONFIG"
	// envReservedPrefix starts variables that belong to the test harness,
	// not to the configuration.
	envReservedPrefix = envPrefix + "TEST_"
)

// Load reads the configuration file at path (none if path is ""),
// applies the CDCFLOW_* variables found in env (as os.Environ returns it),
// fills in defaults and validates the result. Every problem found is
// reported, each naming its key and where the value came from.
func Load(path string, env []string) (*Config, error) {
	var data []byte
	if path != "" {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
	}
	return parse(path, data, env)
}

// parse is Load on the file's contents; name labels the file in
// errors, and "" means there is no file, so data is ignored.
func parse(name string, data []byte, env []string) (*Config, error) {
	cfg := &Config{}
	src, err := decodeConfig(name, data, env, cfg)
	if err != nil {
		return nil, err
	}
	if name == "" && cfg.Version == 0 {
		// Without a file the environment alone configures cdcflow, and
		// there is no format to declare.
		cfg.Version = configVersion
	}
	if err := finishConfig(cfg, src); err != nil {
		return nil, err
	}
	return cfg, nil
}

// orDefault sets *v to def when *v is its zero value. The defaults passed
// are the components' own constants, so none is written twice.
func orDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

func (c *Config) setDefaults() {
	if c.DataDir == "" {
		c.DataDir = "./cdcflow-data"
	}
}

func (c *Config) validate() error {
	switch c.Version {
	case configVersion:
	case 0:
		return invalidKey("version", "missing; the first line of a configuration file is \"version: %d\"", configVersion)
	default:
		return invalidKey("version", "%d is not supported; this cdcflow reads version %d", c.Version, configVersion)
	}
	return nil
}

func (m *MetricsConfig) validate() error {
	if m.Addr == "" {
		return nil
	}
	_, port, err := net.SplitHostPort(m.Addr)
	if err != nil {
		return invalidKey("addr", "%q is not host:port (\":9102\" listens on every interface)", m.Addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return invalidKey("addr", "%q has no valid port", m.Addr)
	}
	return nil
}

func (l *LogConfig) setDefaults() {
	if l.Level == "" {
		l.Level = "info"
	}
}

func (l *LogConfig) validate() error {
	var errs []error
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, l.Level) {
		errs = append(errs, invalidKey("level", "%q is not one of debug, info, warn, error", l.Level))
	}
	if !slices.Contains([]string{"", "text", "json"}, l.Format) {
		errs = append(errs, invalidKey("format", "%q is not one of text, json", l.Format))
	}
	return errors.Join(errs...)
}

// Logger builds the process logger the section describes: text (or JSON)
// on w at the configured level. Call it on a validated configuration.
func (l LogConfig) Logger(w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.Level)); err != nil {
		level = slog.LevelInfo // unreachable after validate
	}
	opts := &slog.HandlerOptions{Level: level}
	if l.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
