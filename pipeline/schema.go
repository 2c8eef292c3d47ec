package pipeline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemaFile matches the name of a schema file: <EventType>.v<version>.json.
var schemaFile = regexp.MustCompile(`^([A-Za-z0-9_.-]+)\.v([1-9][0-9]*)\.json$`)

// schemaFileName returns the file name of an event version's schema.
func schemaFileName(typ string, version int) string {
	return typ + ".v" + strconv.Itoa(version) + ".json"
}

// eventSchema is one event version's JSON Schema.
type eventSchema struct {
	typ     string
	version int
	file    string // path in the file system the mapping was loaded from
	raw     json.RawMessage
	doc     any // the schema decoded, for the catalog and instance generation
	sch     *jsonschema.Schema
	fast    *fastSchema // nil when the schema uses more than the fast path checks
}

// schemaSet holds the JSON Schemas (draft-07) of every event type and version,
// compiled once. It is read-only after load.
type schemaSet struct {
	dir     string
	byType  map[string]map[int]*eventSchema
	typeSeq []string // sorted
	// examples are recorded instances, by type and version, from the
	// examples/ directory beside the schemas; the chain check upcasts them.
	examples map[string]map[int][]example
}

// example is one recorded instance of an event version.
type example struct {
	file string
	data []byte
}

// exampleFile matches an example's name: <EventType>.v<version>[.<label>].json.
var exampleFile = regexp.MustCompile(`^([A-Za-z0-9_.-]+?)\.v([1-9][0-9]*)(\.[A-Za-z0-9_-]+)?\.json$`)

// loadSchemas reads and compiles every schema file of dir. Files that are not
// schemas (README, examples/) are ignored.
func loadSchemas(fsys fs.FS, dir string, line int, p *problems) *schemaSet {
	s := &schemaSet{dir: dir, byType: map[string]map[int]*eventSchema{}}
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		p.add(line, "", "schemas: %v", err)
		return s
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	c.AssertFormat()
	for _, e := range entries {
		m := schemaFile.FindStringSubmatch(e.Name())
		if e.IsDir() || m == nil {
			continue
		}
		v, _ := strconv.Atoi(m[2])
		file := path.Join(dir, e.Name())
		raw, err := fs.ReadFile(fsys, file)
		if err != nil {
			p.add(line, "", "schemas: %v", err)
			continue
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			p.add(line, "", "schema %s: %v", file, err)
			continue
		}
		url := "mem:///" + file
		if err := c.AddResource(url, doc); err != nil {
			p.add(line, "", "schema %s: %v", file, err)
			continue
		}
		sch, err := c.Compile(url)
		if err != nil {
			p.add(line, "", "schema %s: %v", file, err)
			continue
		}
		if s.byType[m[1]] == nil {
			s.byType[m[1]] = map[int]*eventSchema{}
			s.typeSeq = append(s.typeSeq, m[1])
		}
		s.byType[m[1]][v] = &eventSchema{typ: m[1], version: v, file: file, raw: raw, doc: doc, sch: sch, fast: compileFast(sch)}
	}
	slices.Sort(s.typeSeq)
	s.loadExamples(fsys, path.Join(dir, "examples"), line, p)
	return s
}

func (s *schemaSet) loadExamples(fsys fs.FS, dir string, line int, p *problems) {
	s.examples = map[string]map[int][]example{}
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return // no examples: the chain check generates instances
	}
	for _, e := range entries {
		m := exampleFile.FindStringSubmatch(e.Name())
		if e.IsDir() || m == nil {
			continue
		}
		v, _ := strconv.Atoi(m[2])
		file := path.Join(dir, e.Name())
		data, err := fs.ReadFile(fsys, file)
		if err != nil {
			p.add(line, "", "schemas: %v", err)
			continue
		}
		if !json.Valid(data) {
			p.add(line, "", "example %s is not valid JSON", file)
			continue
		}
		if s.examples[m[1]] == nil {
			s.examples[m[1]] = map[int][]example{}
		}
		s.examples[m[1]][v] = append(s.examples[m[1]][v], example{file: file, data: data})
	}
}

func (s *schemaSet) get(typ string, version int) *eventSchema {
	if s == nil {
		return nil
	}
	return s.byType[typ][version]
}

// versions returns the versions of typ that have a schema, ascending.
func (s *schemaSet) versions(typ string) []int {
	var out []int
	for v := range s.byType[typ] {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

func (s *schemaSet) types() []string { return s.typeSeq }

// SchemaError says that an event's data does not match the schema of its type
// and version.
type SchemaError struct {
	Type    string
	Version int
	Err     error // the validator's explanation
}

// Error names the event version and what failed.
func (e *SchemaError) Error() string {
	return fmt.Sprintf("%s does not match its schema: %v", fmtType(e.Type, e.Version), e.Err)
}

// Unwrap returns the validator's error.
func (e *SchemaError) Unwrap() error { return e.Err }

// validate checks data against the schema of typ and version: by the fast
// path when it can vouch for data, otherwise by the library, which decides and
// explains (see fastSchema).
func (s *schemaSet) validate(typ string, version int, data []byte) error {
	es := s.get(typ, version)
	if es == nil {
		return &SchemaError{Type: typ, Version: version, Err: fmt.Errorf("no schema %s", schemaFileName(typ, version))}
	}
	if es.fast != nil && es.fast.valid(data) {
		return nil
	}
	return es.validateLibrary(data)
}

// validateLibrary checks data with the generic validator only.
func (es *eventSchema) validateLibrary(data []byte) error {
	typ, version := es.typ, es.version
	v, err := decodeForSchema(data)
	if err != nil {
		return &SchemaError{Type: typ, Version: version, Err: err}
	}
	if err := es.sch.Validate(v); err != nil {
		return &SchemaError{Type: typ, Version: version, Err: err}
	}
	return nil
}

// Validate checks an event's data against the JSON Schema of its type and
// version. It returns a *SchemaError when they do not match, and nil for
// control and dead-letter events, which have no mapping schema.
func (m *Mapping) Validate(e Event) error {
	if e.Control != NotControl || e.DeadLetter {
		return nil
	}
	if m.schemas == nil {
		return fmt.Errorf("validate %s: mapping %s names no schemas", fmtType(e.Type, e.Version), m.file)
	}
	return m.schemas.validate(e.Type, e.Version, e.Data)
}

// SchemaFile describes one schema file of a mapping, for the catalog and the
// released-schema check.
type SchemaFile struct {
	Type    string
	Version int
	Path    string          // in the file system the mapping was loaded from
	Content json.RawMessage // the file's bytes
}

// SchemaFiles returns every schema file the mapping loaded, sorted by type and
// version.
func (m *Mapping) SchemaFiles() []SchemaFile {
	if m.schemas == nil {
		return nil
	}
	var out []SchemaFile
	for _, typ := range m.schemas.types() {
		for _, v := range m.schemas.versions(typ) {
			es := m.schemas.get(typ, v)
			out = append(out, SchemaFile{Type: typ, Version: v, Path: es.file, Content: es.raw})
		}
	}
	return out
}
