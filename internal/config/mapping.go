package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cdcflow/cdcflow/pipeline"
)

// MappingConfig says how row changes become domain events.
type MappingConfig struct {
	// File is the mapping file (YAML). Required by commands that map. Its
	// schemas directory is read relative to it.
	File string `yaml:"file"`
	// NoValidation skips checking each event against its JSON Schema before
	// it is published. Default false: events are validated.
	NoValidation bool `yaml:"no_validation"`
	// OnBrokenRule says what happens when an ALTER TABLE breaks a mapping rule
	// (a column it uses dropped or retyped): "stop" (default) stops the
	// pipeline with an error naming rule and column; "dead_letter" sends the
	// table's changes to the dead-letter topic and goes on.
	OnBrokenRule string `yaml:"on_broken_rule"`
	// Workers is how many goroutines map and encode changes in parallel
	// (the events keep their order). Default 1: on the 2-core benchmark
	// machine one worker beside capture and the producer was faster and
	// cheaper than one per core on both the reference and the wide workload
	// (docs/benchmarks.md, "Wide rows"); more pay where mapping itself is
	// the bottleneck (the cdcflow_flow_map_* metrics say so) and cores are
	// free.
	Workers int `yaml:"workers"`
}

// maxMapWorkers bounds mapping.workers: more goroutines than that only
// cost memory (each holds its chunks and a Mapper).
const maxMapWorkers = 256

func (m *MappingConfig) setDefaults() {
	if m.OnBrokenRule == "" {
		m.OnBrokenRule = "stop"
	}
	if m.Workers == 0 {
		m.Workers = 1
	}
}

func (m *MappingConfig) validate() error {
	var errs []error
	switch m.OnBrokenRule {
	case "stop", "dead_letter":
	default:
		errs = append(errs, invalidKey("on_broken_rule", "%q is not one of stop, dead_letter", m.OnBrokenRule))
	}
	if m.Workers < 0 || m.Workers > maxMapWorkers {
		errs = append(errs, invalidKey("workers", "%d is not between 1 and %d", m.Workers, maxMapWorkers))
	}
	return errors.Join(errs...)
}

// ErrNoMappingFile is returned by LoadMappingFile when no mapping file is
// configured: a usage error of the command that needs one.
var ErrNoMappingFile = errors.New("no mapping file: set mapping.file (CDCFLOW_MAPPING_FILE) or pass --mapping")

// LoadMappingFile loads and checks the mapping file at path. schema, when
// non-nil, is the live database schema every table and column is checked
// against; timezone is source.timezone.
func LoadMappingFile(path string, schema pipeline.Schema, timezone string) (*pipeline.Mapping, error) {
	if path == "" {
		return nil, ErrNoMappingFile
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("load mapping %s: %w", path, err)
	}
	m, err := pipeline.Load(os.DirFS(filepath.Dir(abs)), filepath.Base(abs), pipeline.LoadOptions{Schema: schema, Timezone: timezone})
	var problems pipeline.MappingErrors
	if errors.As(err, &problems) {
		return nil, fmt.Errorf("mapping %s has %d problem(s):\n%w", path, len(problems), err)
	}
	if err != nil {
		return nil, fmt.Errorf("load mapping: %w", err)
	}
	return m, nil
}

// MapperOptions returns the Mapper options the mapping section asks for.
func (m *MappingConfig) MapperOptions() pipeline.MapperOptions {
	return pipeline.MapperOptions{Validate: !m.NoValidation, DeadLetterBrokenRules: m.OnBrokenRule == "dead_letter"}
}
