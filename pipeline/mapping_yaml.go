package pipeline

import (
	"errors"
	"maps"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/cdcflow/cdcflow/internal/strictyaml"
)

// This file decodes the mapping file strictly with internal/strictyaml,
// keeping the line of every value so that each later error can say where it
// comes from.

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

// decoder turns the walked nodes into the file's types; the walking itself
// (known keys, duplicates, aliases, merges) is strictyaml's, and its problems
// join the mapping's own at the end of decodeFile.
type decoder struct {
	p *problems
	w strictyaml.Walker
}

func text(n *yaml.Node) srcText {
	return srcText{text: n.Value, line: n.Line, block: n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0}
}

// fields walks the mapping n at path, calling the handler of each known key;
// unknown, repeated and missing required keys are problems.
func (d *decoder) fields(n *yaml.Node, path string, handlers map[string]func(n *yaml.Node, path string), required ...string) {
	known := slices.Sorted(maps.Keys(handlers))
	d.w.Mapping(n, path, known, func(name, path string, v *yaml.Node) { handlers[name](v, path) }, required...)
}

// str sets dst to the non-empty string n holds.
func (d *decoder) str(n *yaml.Node, path string, dst *srcText) {
	s, ok := d.w.Scalar(n, path, false)
	if !ok {
		return
	}
	if strings.TrimSpace(s.Value) == "" {
		d.p.add(s.Line, "", "%s is empty", path)
		return
	}
	*dst = text(s)
}

// strTo is a handler that sets dst to the non-empty string of its node.
func (d *decoder) strTo(dst *srcText) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) { d.str(n, path, dst) }
}

// sizeTo is a handler that sets dst to the size or count its node holds.
func (d *decoder) sizeTo(dst *int) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		if v, ok := d.w.Size(n, path); ok {
			*dst = v
		}
	}
}

func (d *decoder) list(n *yaml.Node, path string, each func(n *yaml.Node, path string)) {
	d.w.List(n, path, func(_ int, path string, item *yaml.Node) { each(item, path) })
}

func (d *decoder) strList(n *yaml.Node, path string) []srcText {
	var out []srcText
	d.list(n, path, func(c *yaml.Node, path string) {
		var s srcText
		d.str(c, path, &s)
		if s.line != 0 {
			out = append(out, s)
		}
	})
	return out
}

// decodeFile decodes the whole mapping file.
func decodeFile(src []byte, p *problems) *fileDoc {
	root, err := strictyaml.Parse(src)
	if errors.Is(err, strictyaml.ErrEmpty) {
		p.add(0, "", "the file is empty")
		return nil
	}
	if err != nil {
		p.add(0, "", "parse YAML: %v", err)
		return nil
	}
	d := &decoder{p: p}
	f := &fileDoc{}
	d.fields(root, "", map[string]func(*yaml.Node, string){
		"version":  d.sizeTo(&f.version),
		"timezone": d.strTo(&f.timezone),
		"topics": func(n *yaml.Node, path string) {
			d.fields(n, path, map[string]func(*yaml.Node, string){
				"prefix": func(n *yaml.Node, path string) {
					if s, ok := d.w.Scalar(n, path, true); ok {
						f.topicPrefix = s.Value
					}
				},
				"dead_letter": func(n *yaml.Node, path string) {
					var s srcText
					d.str(n, path, &s)
					f.deadLetter = s.text
				},
			})
		},
		"limits": func(n *yaml.Node, path string) {
			d.fields(n, path, map[string]func(*yaml.Node, string){
				"max_event_bytes":  d.sizeTo(&f.maxEventBytes),
				"max_gather_bytes": d.sizeTo(&f.maxGatherBytes),
			})
		},
		"schemas": d.strTo(&f.schemas),
		"tables": func(n *yaml.Node, path string) {
			d.list(n, path, func(n *yaml.Node, path string) { f.tables = append(f.tables, d.table(n, path)) })
		},
		"upcasters": func(n *yaml.Node, path string) {
			d.list(n, path, func(n *yaml.Node, path string) { f.upcasters = append(f.upcasters, d.upcaster(n, path)) })
		},
	}, "version", "tables")
	for _, pr := range d.w.Problems {
		p.add(pr.Line, "", "%s", pr.Text())
	}
	return f
}

func (d *decoder) table(n *yaml.Node, path string) tableDoc {
	t := tableDoc{line: n.Line}
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"table":   d.strTo(&t.table),
		"exclude": func(n *yaml.Node, path string) { t.exclude = d.strList(n, path) },
		"aggregate": func(n *yaml.Node, path string) {
			t.hasAggDoc = true
			d.fields(n, path, map[string]func(*yaml.Node, string){
				"type": d.strTo(&t.aggType),
				"id":   d.strTo(&t.aggID),
			}, "type", "id")
		},
		"state": func(n *yaml.Node, path string) {
			e := d.event(n, path)
			t.state = &e
		},
		"events": func(n *yaml.Node, path string) {
			d.list(n, path, func(n *yaml.Node, path string) { t.events = append(t.events, d.event(n, path)) })
		},
	}, "table", "aggregate")
	return t
}

func (d *decoder) event(n *yaml.Node, path string) eventDoc {
	e := eventDoc{line: n.Line}
	var name srcText
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"name":    d.strTo(&name),
		"type":    d.strTo(&e.typ),
		"version": d.sizeTo(&e.version),
		"when":    d.strTo(&e.when),
		"data":    d.dataTo(&e.data),
		"gather": func(n *yaml.Node, path string) {
			d.list(n, path, func(n *yaml.Node, path string) { e.gather = append(e.gather, d.gather(n, path)) })
		},
	}, "type", "version", "data")
	e.name = name.text
	return e
}

func (d *decoder) gather(n *yaml.Node, path string) gatherDoc {
	g := gatherDoc{line: n.Line}
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"field": d.strTo(&g.field),
		"table": d.strTo(&g.table),
		"key":   d.strTo(&g.key),
		"when":  d.strTo(&g.when),
		"data":  d.dataTo(&g.data),
	}, "field", "table", "key", "data")
	return g
}

// dataTo is a handler that sets dst to the data mapping of its node.
func (d *decoder) dataTo(dst *[]fieldDoc) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) { *dst = d.data(n, path) }
}

// data decodes a data mapping: field -> expression, or field -> {value: expr, as: string}.
func (d *decoder) data(n *yaml.Node, path string) []fieldDoc {
	var out []fieldDoc
	d.w.Entries(n, path, func(name, path string, k, v *yaml.Node) {
		f := fieldDoc{name: name, line: k.Line}
		d.w.Node(v, path, func(v *yaml.Node) {
			if v.Kind != yaml.MappingNode {
				d.str(v, path, &f.expr)
				return
			}
			d.fields(v, path, map[string]func(*yaml.Node, string){
				"value": d.strTo(&f.expr),
				"as": func(n *yaml.Node, path string) {
					if s, ok := d.w.Scalar(n, path, false); ok {
						if s.Value != "string" {
							d.p.add(s.Line, "", "field %q: as %q is not supported (only \"string\", e.g. for a bigint)", name, s.Value)
						}
						f.asString = true
					}
				},
			}, "value")
		})
		// A merged field given again replaces the merged one.
		if i := slices.IndexFunc(out, func(o fieldDoc) bool { return o.name == name }); i >= 0 {
			out[i] = f
			return
		}
		out = append(out, f)
	})
	return out
}

func (d *decoder) upcaster(n *yaml.Node, path string) upcasterDoc {
	u := upcasterDoc{line: n.Line}
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"type":   d.strTo(&u.typ),
		"from":   d.sizeTo(&u.from),
		"set":    d.dataTo(&u.set),
		"remove": func(n *yaml.Node, path string) { u.remove = d.strList(n, path) },
	}, "type", "from")
	return u
}
