package cep

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cdcflow/cdcflow/pipeline"
)

// ProblemLines returns err with the problems of a RuleErrors one per line,
// without the "cep rules:" heading and indentation of RuleErrors.Error
// (each problem names its file and line, so that editors can jump to it);
// other errors, and nil, as they are.
func ProblemLines(err error) error {
	var errs RuleErrors
	if !errors.As(err, &errs) {
		return err
	}
	lines := make([]string, 0, len(errs))
	for _, e := range errs {
		lines = append(lines, e.Error())
	}
	return errors.New(strings.Join(lines, "\n"))
}

// CheckSchemas compares the schemas the rules derive (DerivedSchemas) with
// the mapping's schema files. It returns the derived event types and the
// names of the derived schema files the mapping's schemas directory does
// not hold yet (`cdcflow schemas derived` writes them); its error names,
// one per line, every schema file that differs from what its rule derives,
// since a released version never changes. It does no I/O.
func (rs *Rules) CheckSchemas(m *pipeline.Mapping) (derived []pipeline.EventType, missing []string, err error) {
	ds, err := rs.DerivedSchemas(m)
	if err != nil {
		return nil, nil, err
	}
	type version struct {
		typ string
		v   int
	}
	have := map[version][]byte{}
	for _, f := range m.SchemaFiles() {
		have[version{f.Type, f.Version}] = f.Content
	}
	var differ []string
	derived = make([]pipeline.EventType, 0, len(ds))
	for _, d := range ds {
		derived = append(derived, pipeline.EventType{Type: d.Type, AggregateType: d.AggregateType, Version: d.Version})
		got, ok := have[version{d.Type, d.Version}]
		switch {
		case !ok:
			missing = append(missing, d.File)
		case !bytes.Equal(got, d.JSON):
			differ = append(differ, fmt.Sprintf("%s: schema %s differs from what rule %q derives: a released version never changes: give the emit a new version (cdcflow schemas derived shows it)", rs.file, d.File, d.Rule))
		}
	}
	if len(differ) > 0 {
		return nil, nil, errors.New(strings.Join(differ, "\n"))
	}
	return derived, missing, nil
}

// Catalog returns the catalogue entries of the events the rules derive,
// each on topic, or when topic is "" on the mapping's topic prefix + "cep",
// the default topic of cdcflow cep.
func (rs *Rules) Catalog(m *pipeline.Mapping, topic string) ([]pipeline.CatalogEvent, error) {
	ds, err := rs.DerivedSchemas(m)
	if err != nil {
		return nil, err
	}
	if topic == "" {
		topic = m.Topic("cep")
	}
	out := make([]pipeline.CatalogEvent, 0, len(ds))
	for _, d := range ds {
		out = append(out, pipeline.CatalogEvent{Type: d.Type, Version: d.Version, AggregateType: d.AggregateType, Topic: topic,
			Summary: fmt.Sprintf("Derived by CEP rule %s of %s.", d.Rule, rs.File()), Schema: d.JSON})
	}
	return out, nil
}

// InputTopics returns the mapping's topics of the aggregates whose events
// the rules read, sorted: the topics a runner of the rules consumes.
func (rs *Rules) InputTopics(m *pipeline.Mapping) []string {
	want := rs.InputTypes()
	var topics []string
	for _, et := range m.EventTypes() {
		if slices.Contains(want, et.Type) {
			if t := m.Topic(et.AggregateType); !slices.Contains(topics, t) {
				topics = append(topics, t)
			}
		}
	}
	slices.Sort(topics)
	return topics
}
