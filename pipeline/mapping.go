package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/cel-go/cel"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/internal/strictyaml"
)

// Default limits of a mapping file.
const (
	// DefaultMaxEventBytes caps an event's data; a larger event is dead-lettered
	// by reference.
	DefaultMaxEventBytes = 1 << 20
	// DefaultMaxGatherBytes caps the data a transaction's gathering events may
	// hold at once; past it they are emitted as they stand and the rest of the
	// transaction maps row by row.
	DefaultMaxGatherBytes = 8 << 20
)

// TableName names a table as the catalog spells it: unquoted, case kept.
type TableName struct {
	Schema, Name string
}

// String returns the name in SQL form, quoting only the parts that need it:
// public.orders, public."OrderLines".
func (t TableName) String() string {
	return quoteIfNeeded(t.Schema) + "." + quoteIfNeeded(t.Name)
}

func quoteIfNeeded(s string) string {
	if s == "" {
		return `""`
	}
	for i, r := range s {
		if !(r >= 'a' && r <= 'z' || r == '_' || i > 0 && (r >= '0' && r <= '9' || r == '$')) {
			return capture.QuoteIdent(s)
		}
	}
	return s
}

// RelationName returns the TableName of a relation.
func RelationName(r *capture.Relation) TableName {
	return TableName{Schema: r.Schema, Name: r.Table}
}

// ParseTableName parses a table name written the SQL way: schema.table, with
// double quotes around parts that are mixed case or contain special characters
// (public."OrderLines"). Unquoted parts are folded to lower case, as PostgreSQL
// does; a name without a schema is in "public".
func ParseTableName(s string) (TableName, error) {
	var parts []string
	rest := strings.TrimSpace(s)
	for {
		var part string
		if strings.HasPrefix(rest, `"`) {
			var b strings.Builder
			i := 1
			closed := false
			for i < len(rest) {
				if rest[i] == '"' {
					if i+1 < len(rest) && rest[i+1] == '"' {
						b.WriteByte('"')
						i += 2
						continue
					}
					closed = true
					i++
					break
				}
				b.WriteByte(rest[i])
				i++
			}
			if !closed {
				return TableName{}, fmt.Errorf("parse table name %q: unterminated quote", s)
			}
			part, rest = b.String(), rest[i:]
		} else {
			end := strings.IndexByte(rest, '.')
			if end < 0 {
				end = len(rest)
			}
			part, rest = strings.ToLower(strings.TrimSpace(rest[:end])), rest[end:]
			if strings.ContainsAny(part, `" `) {
				return TableName{}, fmt.Errorf("parse table name %q: %q must be quoted", s, part)
			}
		}
		if part == "" {
			return TableName{}, fmt.Errorf("parse table name %q: empty part", s)
		}
		parts = append(parts, part)
		if rest == "" {
			break
		}
		if rest[0] != '.' {
			return TableName{}, fmt.Errorf("parse table name %q: unexpected %q", s, rest)
		}
		rest = rest[1:]
	}
	switch len(parts) {
	case 1:
		return TableName{Schema: "public", Name: parts[0]}, nil
	case 2:
		return TableName{Schema: parts[0], Name: parts[1]}, nil
	}
	return TableName{}, fmt.Errorf("parse table name %q: want schema.table", s)
}

// Schema is the live shape of the source's tables, as the command layer reads it
// from the database; Load checks every table and column a mapping uses against
// it.
type Schema map[TableName]*capture.Relation

// SchemaOf returns a Schema of the given relations.
func SchemaOf(rels ...*capture.Relation) Schema {
	s := make(Schema, len(rels))
	for _, r := range rels {
		s[RelationName(r)] = r
	}
	return s
}

// LoadOptions are the inputs of Load besides the file. The zero value checks
// nothing against a database and reads timestamps without time zone in UTC.
type LoadOptions struct {
	// Schema, when non-nil, is the live database schema: every table and column
	// the mapping uses must exist in it, and rules needing old values must be on
	// tables with REPLICA IDENTITY FULL.
	Schema Schema
	// Timezone is the IANA zone of the source's timestamp-without-time-zone
	// values, used when the mapping file names none. Default "UTC".
	Timezone string
	// SkipSchemas, when true, leaves the schemas directory unread, as if the
	// file named none (SchemasDir still returns its name): for drafting the
	// schemas it lacks (DraftSchemas). A Mapper of such a mapping cannot
	// validate.
	SkipSchemas bool
}

// Mapping is a loaded, fully checked and compiled mapping file. It is read-only
// and safe for concurrent use; a Mapper holds the per-transaction state.
type Mapping struct {
	file           string
	schemasDir     string // the schemas key as written, "" without one
	digest         string // of the mapping file's bytes
	topicPrefix    string
	deadLetter     string
	loc            *time.Location
	maxEventBytes  int
	maxGatherBytes int

	tables   map[TableName]*tableInfo
	order    []*tableInfo // in file order, for deterministic output
	env      *cel.Env
	schemas  *schemaSet // nil without a schemas directory
	upcast   *upcasters
	versions map[string]int // event type -> the version the rules emit
	derived  []EventType    // types derived from the mapping's events (WithDerived)
	// loadTypes holds the column types of the live schema Load checked
	// against, so that the first Relation of a retyped column is caught.
	loadTypes map[TableName]map[string]string
}

// tableInfo is everything the mapping says about one source table.
type tableInfo struct {
	name       TableName
	label      string // name.String(), computed once
	line       int
	exclude    map[string]bool
	excluded   []string // sorted
	aggType    string
	aggID      *program
	state      *eventRule
	stateRules []*eventRule // state as a slice, for the mapper's loop
	events     []*eventRule
	gathers    []*gatherRule // gathers that take rows of this table
	uses       []use
}

// use records one column a rule uses, to check it against a relation.
type use struct {
	rule   string
	line   int
	column string
	old    bool // needs the old value (old.col or changed("col"))
}

// eventRule produces one event type from a change.
type eventRule struct {
	name    string // for messages: table/name
	table   string // the table's name, for dead letters
	line    int
	typ     string
	version int
	when    *program // nil: always
	fields  []*field
	gathers []*gatherRule
}

// field is one field of an event's data.
type field struct {
	name     string
	prg      *program
	asString bool
}

// gatherRule absorbs rows of another table changed in the same transaction into
// a list field of a pending event.
type gatherRule struct {
	rule   string
	line   int
	parent *eventRule
	owner  *tableInfo // the parent's table
	field  string
	table  TableName
	key    *program
	when   *program
	fields []*field
}

// File returns the name of the mapping file, as given to Load.
func (m *Mapping) File() string { return m.file }

// SchemasDir returns the schemas directory the file names (its "schemas"
// key, relative to the file), or "" when it names none.
func (m *Mapping) SchemasDir() string { return m.schemasDir }

// Digest identifies the mapping file's contents (16 hex digits of its
// SHA-256): the same file gives the same digest. Exactly-once delivery
// stores it with its position, since a changed mapping may emit a different
// number of records for the same change.
func (m *Mapping) Digest() string { return m.digest }

// Topic returns the Kafka topic of an aggregate type: the topic prefix followed
// by the type.
func (m *Mapping) Topic(aggregateType string) string { return m.topicPrefix + aggregateType }

// DeadLetterTopic returns the topic of dead-letter records.
func (m *Mapping) DeadLetterTopic() string { return m.deadLetter }

// MaxEventBytes returns limits.max_event_bytes: the largest event data a
// Mapper emits; a larger event becomes a dead letter by reference.
func (m *Mapping) MaxEventBytes() int { return m.maxEventBytes }

// Location returns the time zone timestamps without time zone are read in.
func (m *Mapping) Location() *time.Location { return m.loc }

// Tables returns the tables the mapping reads, in file order.
func (m *Mapping) Tables() []TableName {
	out := make([]TableName, len(m.order))
	for i, t := range m.order {
		out[i] = t.name
	}
	return out
}

// AggregateTypes returns every aggregate type the mapping produces, sorted.
func (m *Mapping) AggregateTypes() []string {
	var out []string
	for _, t := range m.order {
		if t.aggType != "" && !slices.Contains(out, t.aggType) {
			out = append(out, t.aggType)
		}
	}
	for _, d := range m.derived {
		if !slices.Contains(out, d.AggregateType) {
			out = append(out, d.AggregateType)
		}
	}
	slices.Sort(out)
	return out
}

// EventType describes one event type a mapping produces.
type EventType struct {
	Type          string
	AggregateType string
	Version       int   // the version the rules emit
	Versions      []int // every version with a schema, ascending (empty without schemas)
}

// EventTypes returns the event types the rules produce, sorted by aggregate type
// and type.
func (m *Mapping) EventTypes() []EventType {
	seen := map[string]bool{}
	var out []EventType
	add := func(agg string, r *eventRule) {
		if r == nil || seen[r.typ] {
			return
		}
		seen[r.typ] = true
		et := EventType{Type: r.typ, AggregateType: agg, Version: r.version}
		if m.schemas != nil {
			et.Versions = m.schemas.versions(r.typ)
		}
		out = append(out, et)
	}
	for _, t := range m.order {
		add(t.aggType, t.state)
		for _, r := range t.events {
			add(t.aggType, r)
		}
	}
	for _, d := range m.derivedTypes() {
		if !seen[d.Type] {
			seen[d.Type] = true
			out = append(out, d)
		}
	}
	sortEventTypes(out)
	return out
}

// Load reads, checks and compiles the mapping file name from fsys; the schemas
// directory the file names is read from fsys too, relative to the file. Every
// problem in the file is reported at once, as MappingErrors, each naming file,
// line and rule. Load does all of the mapping's file I/O: the Mapping it returns
// never touches files again.
func Load(fsys fs.FS, name string, opts LoadOptions) (*Mapping, error) {
	src, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("read mapping: %w", err)
	}
	return load(fsys, name, src, opts)
}

// Parse is Load for a mapping held in memory; schemas, if the mapping names a
// directory, are read from fsys relative to name (nil fsys: the mapping must
// not name one).
func Parse(name string, src []byte, fsys fs.FS, opts LoadOptions) (*Mapping, error) {
	return load(fsys, name, src, opts)
}

func load(fsys fs.FS, name string, src []byte, opts LoadOptions) (*Mapping, error) {
	p := &problems{file: name}
	doc := decodeFile(src, p)
	if doc == nil {
		return nil, p.err()
	}
	if doc.version != 1 {
		p.add(0, "", "version must be 1, not %d", doc.version)
	}
	sum := sha256.Sum256(src)
	m := &Mapping{
		file:           name,
		schemasDir:     doc.schemas.text,
		digest:         hex.EncodeToString(sum[:8]),
		topicPrefix:    doc.topicPrefix,
		deadLetter:     doc.deadLetter,
		maxEventBytes:  doc.maxEventBytes,
		maxGatherBytes: doc.maxGatherBytes,
		tables:         map[TableName]*tableInfo{},
		versions:       map[string]int{},
	}
	if m.deadLetter == "" {
		m.deadLetter = m.topicPrefix + "deadletter"
	}
	if m.maxEventBytes == 0 {
		m.maxEventBytes = DefaultMaxEventBytes
	}
	if m.maxGatherBytes == 0 {
		m.maxGatherBytes = DefaultMaxGatherBytes
	}
	tz := doc.timezone.text
	if tz == "" {
		tz = opts.Timezone
	}
	if tz == "" {
		tz = "UTC"
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		p.add(doc.timezone.line, "", "timezone %q: %v", tz, err)
		loc = time.UTC
	}
	m.loc = loc
	env, err := newRuleEnv()
	if err != nil {
		return nil, fmt.Errorf("build CEL environment: %w", err)
	}
	m.env = env
	c := &compiler{m: m, p: p, env: env}
	c.tables(doc.tables)
	if doc.schemas.text != "" && !opts.SkipSchemas {
		if fsys == nil {
			p.add(doc.schemas.line, "", "schemas: no file system to read %q from", doc.schemas.text)
		} else {
			dir := path.Join(path.Dir(name), doc.schemas.text)
			m.schemas = loadSchemas(fsys, dir, doc.schemas.line, p)
		}
	}
	m.upcast = c.upcasters(doc.upcasters)
	c.versions()
	if opts.Schema != nil {
		m.loadTypes = map[TableName]map[string]string{}
		for _, t := range m.order {
			rel, ok := opts.Schema[t.name]
			if !ok {
				p.add(t.line, "", "table %s does not exist in the database", t.name)
				continue
			}
			types := make(map[string]string, len(rel.Columns))
			for _, col := range rel.Columns {
				types[col.Name] = col.TypeName
			}
			m.loadTypes[t.name] = types
			for _, pr := range t.check(rel, nil) {
				p.add(pr.line, pr.rule, "%s", pr.msg)
			}
		}
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return m, nil
}

// problem is a mismatch between a table's rules and a relation.
type problem struct {
	line   int
	rule   string
	column string
	reason string // for RuleBrokenError
	msg    string
	// noOld is set when the table's REPLICA IDENTITY (identity) is not FULL
	// while the rule reads the column's old value: the table still has the
	// column, but its updates and deletes come without the old row.
	noOld    bool
	identity capture.ReplicaIdentity
}

// check compares the rules of t with rel. known, when non-nil, holds the column
// types the rules were last checked against, to detect retyped columns.
func (t *tableInfo) check(rel *capture.Relation, known map[string]string) []problem {
	var out []problem
	for _, c := range t.excluded {
		if rel.ColumnIndex(c) < 0 && known == nil {
			out = append(out, problem{line: t.line, rule: "", column: c, reason: "does not exist",
				msg: fmt.Sprintf("exclude: table %s has no column %q%s", t.name, c, suggest(c, rel))})
		}
	}
	reported := map[string]bool{}
	for _, u := range t.uses {
		i := rel.ColumnIndex(u.column)
		if i < 0 {
			reason := "does not exist"
			if known != nil {
				if _, had := known[u.column]; had {
					reason = "was dropped"
				}
			}
			out = append(out, problem{line: u.line, rule: u.rule, column: u.column, reason: reason,
				msg: fmt.Sprintf("table %s has no column %q%s", t.name, u.column, suggest(u.column, rel))})
			continue
		}
		col := rel.Columns[i]
		if known != nil {
			if was, had := known[u.column]; had && was != col.TypeName {
				out = append(out, problem{line: u.line, rule: u.rule, column: u.column,
					reason: fmt.Sprintf("changed type from %s to %s", was, col.TypeName),
					msg:    fmt.Sprintf("column %q of %s changed type from %s to %s", u.column, t.name, was, col.TypeName)})
				continue
			}
		}
		if u.old && !col.Key && rel.ReplicaIdentity != capture.IdentityFull && !reported[u.rule] {
			reported[u.rule] = true
			out = append(out, problem{line: u.line, rule: u.rule, column: u.column, noOld: true, identity: rel.ReplicaIdentity,
				reason: "needs the old value, but the table's REPLICA IDENTITY is not FULL",
				msg: fmt.Sprintf("uses the old value of %q, which table %s does not send: run ALTER TABLE %s REPLICA IDENTITY FULL",
					u.column, t.name, rel.QualifiedName())})
		}
	}
	return out
}

// suggest returns a hint naming a column that differs from name only in case.
func suggest(name string, rel *capture.Relation) string {
	names := make([]string, len(rel.Columns))
	for i, c := range rel.Columns {
		names[i] = c.Name
	}
	near := strictyaml.Suggest(name, names)
	if len(near) == 0 {
		return ""
	}
	for i, n := range near {
		near[i] = strconv.Quote(n)
	}
	return " (did you mean " + strings.Join(near, " or ") + "?)"
}
