package main

// Config is the whole cdcflow configuration file. Each section is declared in
// its own file (config_<section>.go) by the part of cdcflow that uses it.
//
// The machinery that loads it (strict YAML, environment overrides, *_FILE
// secrets, validation, redacted printing) lives in this file.
type Config struct {
	// Version of the configuration format; must be 1.
	Version int `yaml:"version"`
	// DataDir holds local state (the embedded broker's log, ...). Default "./cdcflow-data".
	DataDir string        `yaml:"data_dir"`
	Source  SourceConfig  `yaml:"source"`
	Capture CaptureConfig `yaml:"capture"`
	Mapping MappingConfig `yaml:"mapping"`
	Kafka   KafkaConfig   `yaml:"kafka"`
	Metrics MetricsConfig `yaml:"metrics"`
	Log     LogConfig     `yaml:"log"`
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
