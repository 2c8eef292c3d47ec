package pipeline

import (
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// This file decodes the mapping file strictly, keeping the line of every value
// so that each later error can say where it comes from. yaml.v3's Decode has no
// strict mode for nodes, so the walk is written out.

// fileDoc is the mapping file as written.
type fileDoc struct {
	version        int
	timezone       srcText
	topicPrefix    string
	deadLetter     string
	maxEventBytes  int
	maxGatherBytes int
	schemas        srcText
	tables         []tableDoc
	upcasters      []upcasterDoc
}

type srcText struct {
	text string
	line int
	// block is true for a literal or folded block scalar, whose text starts on
	// the line after line.
	block bool
}

type tableDoc struct {
	line      int
	table     srcText
	exclude   []srcText
	aggType   srcText
	aggID     srcText
	state     *eventDoc
	events    []eventDoc
	hasAggDoc bool
}

type eventDoc struct {
	line    int
	name    string
	typ     srcText
	version int
	when    srcText
	data    []fieldDoc
	gather  []gatherDoc
}

type fieldDoc struct {
	name     string
	line     int
	expr     srcText
	asString bool
}

type gatherDoc struct {
	line  int
	field srcText
	table srcText
	key   srcText
	when  srcText
	data  []fieldDoc
}

type upcasterDoc struct {
	line   int
	typ    srcText
	from   int
	set    []fieldDoc
	remove []srcText
}

// decoder walks yaml nodes, reporting problems with their lines.
type decoder struct{ p *problems }

func (d *decoder) text(n *yaml.Node) srcText {
	return srcText{text: n.Value, line: n.Line, block: n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0}
}

// fields walks a mapping node, calling the handler of each known key and
// reporting unknown or repeated keys and missing required ones.
func (d *decoder) fields(n *yaml.Node, what string, handlers map[string]func(*yaml.Node), required ...string) {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		d.p.add(n.Line, "", "%s must be a mapping, not %s", what, kindName(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		h, ok := handlers[k.Value]
		if !ok {
			d.p.add(k.Line, "", "unknown key %q in %s (known: %s)", k.Value, what, keyList(handlers))
			continue
		}
		if seen[k.Value] {
			d.p.add(k.Line, "", "key %q given twice in %s", k.Value, what)
			continue
		}
		seen[k.Value] = true
		h(v)
	}
	for _, r := range required {
		if !seen[r] {
			d.p.add(n.Line, "", "%s needs %q", what, r)
		}
	}
}

func keyList(h map[string]func(*yaml.Node)) string {
	ks := make([]string, 0, len(h))
	for k := range h {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return strings.Join(ks, ", ")
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a scalar"
	case yaml.AliasNode:
		return "an alias"
	}
	return "empty"
}

func (d *decoder) scalar(n *yaml.Node, what string) (srcText, bool) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode {
		d.p.add(n.Line, "", "%s must be a scalar, not %s", what, kindName(n))
		return srcText{}, false
	}
	return d.text(n), true
}

func (d *decoder) str(n *yaml.Node, what string, dst *srcText) {
	if s, ok := d.scalar(n, what); ok {
		if strings.TrimSpace(s.text) == "" {
			d.p.add(n.Line, "", "%s is empty", what)
			return
		}
		*dst = s
	}
}

func (d *decoder) integer(n *yaml.Node, what string, dst *int) {
	s, ok := d.scalar(n, what)
	if !ok {
		return
	}
	v, err := parseSize(s.text)
	if err != nil || v < 0 {
		d.p.add(n.Line, "", "%s must be a non-negative integer (bytes may carry KiB/MiB/GiB), not %q", what, s.text)
		return
	}
	*dst = v
}

// parseSize parses an integer with an optional binary unit suffix.
func parseSize(s string) (int, error) {
	mult := 1
	for _, u := range []struct {
		suffix string
		mult   int
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, err
	}
	if v > (1<<62)/mult {
		return 0, strconv.ErrRange
	}
	return v * mult, nil
}

func (d *decoder) list(n *yaml.Node, what string, each func(*yaml.Node)) {
	n = deref(n)
	if n.Kind != yaml.SequenceNode {
		d.p.add(n.Line, "", "%s must be a list, not %s", what, kindName(n))
		return
	}
	for _, c := range n.Content {
		each(c)
	}
}

func (d *decoder) strList(n *yaml.Node, what string) []srcText {
	var out []srcText
	d.list(n, what, func(c *yaml.Node) {
		var s srcText
		d.str(c, what+" entry", &s)
		if s.line != 0 {
			out = append(out, s)
		}
	})
	return out
}

// deref follows a YAML alias (*name) to the anchored node, so that rules can
// share a data mapping; errors then point at the anchor's lines.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 16; i++ {
		n = n.Alias
	}
	return n
}

// decodeFile decodes the whole mapping file.
func decodeFile(src []byte, p *problems) *fileDoc {
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err != nil {
		p.add(0, "", "parse YAML: %v", err)
		return nil
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 {
		p.add(0, "", "the file is empty")
		return nil
	}
	d := &decoder{p: p}
	f := &fileDoc{}
	d.fields(root.Content[0], "the mapping file", map[string]func(*yaml.Node){
		"version":  func(n *yaml.Node) { d.integer(n, "version", &f.version) },
		"timezone": func(n *yaml.Node) { d.str(n, "timezone", &f.timezone) },
		"topics": func(n *yaml.Node) {
			d.fields(n, "topics", map[string]func(*yaml.Node){
				"prefix": func(n *yaml.Node) {
					if s, ok := d.scalar(n, "topics.prefix"); ok {
						f.topicPrefix = s.text
					}
				},
				"dead_letter": func(n *yaml.Node) {
					var s srcText
					d.str(n, "topics.dead_letter", &s)
					f.deadLetter = s.text
				},
			})
		},
		"limits": func(n *yaml.Node) {
			d.fields(n, "limits", map[string]func(*yaml.Node){
				"max_event_bytes":  func(n *yaml.Node) { d.integer(n, "limits.max_event_bytes", &f.maxEventBytes) },
				"max_gather_bytes": func(n *yaml.Node) { d.integer(n, "limits.max_gather_bytes", &f.maxGatherBytes) },
			})
		},
		"schemas": func(n *yaml.Node) { d.str(n, "schemas", &f.schemas) },
		"tables": func(n *yaml.Node) {
			d.list(n, "tables", func(n *yaml.Node) { f.tables = append(f.tables, d.table(n)) })
		},
		"upcasters": func(n *yaml.Node) {
			d.list(n, "upcasters", func(n *yaml.Node) { f.upcasters = append(f.upcasters, d.upcaster(n)) })
		},
	}, "version", "tables")
	return f
}

func (d *decoder) table(n *yaml.Node) tableDoc {
	t := tableDoc{line: n.Line}
	d.fields(n, "a table entry", map[string]func(*yaml.Node){
		"table":   func(n *yaml.Node) { d.str(n, "table", &t.table) },
		"exclude": func(n *yaml.Node) { t.exclude = d.strList(n, "exclude") },
		"aggregate": func(n *yaml.Node) {
			t.hasAggDoc = true
			d.fields(n, "aggregate", map[string]func(*yaml.Node){
				"type": func(n *yaml.Node) { d.str(n, "aggregate.type", &t.aggType) },
				"id":   func(n *yaml.Node) { d.str(n, "aggregate.id", &t.aggID) },
			}, "type", "id")
		},
		"state": func(n *yaml.Node) {
			e := d.event(n, "state")
			t.state = &e
		},
		"events": func(n *yaml.Node) {
			d.list(n, "events", func(n *yaml.Node) { t.events = append(t.events, d.event(n, "an event")) })
		},
	}, "table", "aggregate")
	return t
}

func (d *decoder) event(n *yaml.Node, what string) eventDoc {
	e := eventDoc{line: n.Line}
	var name srcText
	d.fields(n, what, map[string]func(*yaml.Node){
		"name":    func(n *yaml.Node) { d.str(n, "name", &name) },
		"type":    func(n *yaml.Node) { d.str(n, "type", &e.typ) },
		"version": func(n *yaml.Node) { d.integer(n, "version", &e.version) },
		"when":    func(n *yaml.Node) { d.str(n, "when", &e.when) },
		"data":    func(n *yaml.Node) { e.data = d.data(n, "data") },
		"gather": func(n *yaml.Node) {
			d.list(n, "gather", func(n *yaml.Node) { e.gather = append(e.gather, d.gather(n)) })
		},
	}, "type", "version", "data")
	e.name = name.text
	return e
}

func (d *decoder) gather(n *yaml.Node) gatherDoc {
	g := gatherDoc{line: n.Line}
	d.fields(n, "a gather entry", map[string]func(*yaml.Node){
		"field": func(n *yaml.Node) { d.str(n, "gather.field", &g.field) },
		"table": func(n *yaml.Node) { d.str(n, "gather.table", &g.table) },
		"key":   func(n *yaml.Node) { d.str(n, "gather.key", &g.key) },
		"when":  func(n *yaml.Node) { d.str(n, "gather.when", &g.when) },
		"data":  func(n *yaml.Node) { g.data = d.data(n, "gather.data") },
	}, "field", "table", "key", "data")
	return g
}

// data decodes a data mapping: field -> expression, or field -> {value: expr, as: string}.
func (d *decoder) data(n *yaml.Node, what string) []fieldDoc {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		d.p.add(n.Line, "", "%s must be a mapping of field to CEL expression, not %s", what, kindName(n))
		return nil
	}
	var out []fieldDoc
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			d.p.add(k.Line, "", "field %q given twice in %s", k.Value, what)
			continue
		}
		seen[k.Value] = true
		f := fieldDoc{name: k.Value, line: k.Line}
		v = deref(v)
		if v.Kind == yaml.MappingNode {
			d.fields(v, "field "+strconv.Quote(k.Value), map[string]func(*yaml.Node){
				"value": func(n *yaml.Node) { d.str(n, "value", &f.expr) },
				"as": func(n *yaml.Node) {
					if s, ok := d.scalar(n, "as"); ok {
						if s.text != "string" {
							d.p.add(n.Line, "", "field %q: as %q is not supported (only \"string\", e.g. for a bigint)", k.Value, s.text)
						}
						f.asString = true
					}
				},
			}, "value")
		} else {
			d.str(v, "field "+strconv.Quote(k.Value), &f.expr)
		}
		out = append(out, f)
	}
	return out
}

func (d *decoder) upcaster(n *yaml.Node) upcasterDoc {
	u := upcasterDoc{line: n.Line}
	d.fields(n, "an upcaster", map[string]func(*yaml.Node){
		"type":   func(n *yaml.Node) { d.str(n, "type", &u.typ) },
		"from":   func(n *yaml.Node) { d.integer(n, "from", &u.from) },
		"set":    func(n *yaml.Node) { u.set = d.data(n, "set") },
		"remove": func(n *yaml.Node) { u.remove = d.strList(n, "remove") },
	}, "type", "from")
	return u
}
