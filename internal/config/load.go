package config

// This file loads a struct of sections: the YAML file (walked with
// internal/strictyaml), then the environment (env.go), then each section's
// defaults and validation, keeping where every value came from so that an
// error can point at the line or the variable to fix.

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/cdcflow/cdcflow/internal/strictyaml"
)

// keyError is a problem with the value of one configuration key.
type keyError struct {
	Key string // dotted path, e.g. "capture.slot"; "" when Msg names it
	At  string // where the value came from: "config.yaml:12", "CDCFLOW_CAPTURE_SLOT" or ""
	Msg string
}

func (e *keyError) Error() string {
	msg := e.Msg
	if e.Key != "" {
		msg = e.Key + ": " + msg
	}
	if e.At == "" {
		return msg
	}
	return e.At + ": " + msg
}

// invalidKey returns a validation error about key, a path relative to the
// section whose validate method returns it ("" for the section itself).
func invalidKey(key, format string, args ...any) error {
	return &keyError{Key: key, Msg: fmt.Sprintf(format, args...)}
}

// decodeConfig sets the struct root points to from the YAML file data
// (skipped if name is "") and then from the CDCFLOW_* variables in env. It
// works on any struct built of sections, so tests can exercise every kind
// of field.
func decodeConfig(name string, data []byte, env []string, root any) (*sources, error) {
	v := reflect.ValueOf(root).Elem()
	src := newSources(name)
	if name != "" {
		if err := decodeYAML(name, data, v, src); err != nil {
			return nil, err
		}
	}
	if err := applyEnv(v, env, src); err != nil {
		return nil, err
	}
	return src, nil
}

// finishConfig fills in defaults and validates every section under root.
func finishConfig(root any, src *sources) error {
	v := reflect.ValueOf(root).Elem()
	walkSections(v, "", func(v reflect.Value, _ string) {
		if d, ok := v.Addr().Interface().(configDefaulter); ok {
			d.setDefaults()
		}
	}, true)
	var errs []error
	walkSections(v, "", func(v reflect.Value, path string) {
		if c, ok := v.Addr().Interface().(configValidator); ok {
			errs = append(errs, src.locate(path, c.validate())...)
		}
	}, false)
	return errors.Join(errs...)
}

// sources remembers where each key's value came from, so that a validation
// error can point at the line or the variable to fix.
type sources struct {
	file string
	at   map[string]string // key path -> "file:line" or variable name
}

func newSources(file string) *sources {
	return &sources{file: file, at: map[string]string{}}
}

func (s *sources) setLine(path string, line int) {
	s.at[path] = s.file + ":" + strconv.Itoa(line)
}

// setEnv records that variable set path, replacing whatever the file said
// about path and everything below it.
func (s *sources) setEnv(path, variable string) {
	for k := range s.at {
		if k == path || strings.HasPrefix(k, path+".") || strings.HasPrefix(k, path+"[") {
			delete(s.at, k)
		}
	}
	s.at[path] = variable
}

// locate turns what a section's validate returned into errors that name the
// full key and where its value was set.
func (s *sources) locate(section string, err error) []error {
	if err == nil {
		return nil
	}
	var out []error
	for _, e := range flattenErrors(err) {
		ke := &keyError{Key: section, Msg: e.Error()}
		var inner *keyError
		if errors.As(e, &inner) {
			ke.Key, ke.Msg = strictyaml.JoinPath(section, inner.Key), inner.Msg
		}
		ke.At = s.at[ke.Key]
		if ke.At == "" {
			ke.At = s.file // a key the file should have set
		}
		out = append(out, ke)
	}
	return out
}

func flattenErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flattenErrors(e)...)
		}
		return out
	}
	return []error{err}
}

// configField is one field of a section as the configuration sees it.
type configField struct {
	key    string // yaml name
	index  []int  // for reflect.Value.FieldByIndex (inline fields go through their struct)
	secret bool
}

// sectionFields lists the configurable fields of struct type t in
// declaration order, flattening `yaml:",inline"` structs and skipping
// unexported fields and `yaml:"-"`.
func sectionFields(t reflect.Type) []configField {
	var out []configField
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		inline := slices.Contains(strings.Split(opts, ","), "inline") && f.Type.Kind() == reflect.Struct
		if name == "-" || (!f.IsExported() && !(f.Anonymous && inline)) {
			continue
		}
		if inline {
			for _, sub := range sectionFields(f.Type) {
				sub.index = append([]int{i}, sub.index...)
				out = append(out, sub)
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name) // yaml.v3's own rule
		}
		out = append(out, configField{key: name, index: []int{i}, secret: f.Tag.Get("secret") == "true"})
	}
	return out
}

var (
	unmarshalType = reflect.TypeFor[yaml.Unmarshaler]()
	textType      = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// isSection reports whether the loader descends into t key by key rather
// than decoding it as one value: plain structs do, types that decode
// themselves don't.
func isSection(t reflect.Type) bool {
	if t.Kind() != reflect.Struct {
		return false
	}
	p := reflect.PointerTo(t)
	return !p.Implements(unmarshalType) && !p.Implements(textType)
}

// walkSections calls fn on every section value reachable from v (a struct
// value that can be addressed), with its key path. With innerFirst the
// fields are visited before the section holding them.
func walkSections(v reflect.Value, path string, fn func(v reflect.Value, path string), innerFirst bool) {
	switch {
	case isSection(v.Type()):
		if !innerFirst {
			fn(v, path)
		}
		for _, f := range sectionFields(v.Type()) {
			walkSections(v.FieldByIndex(f.index), strictyaml.JoinPath(path, f.key), fn, innerFirst)
		}
		if innerFirst {
			fn(v, path)
		}
	case v.Kind() == reflect.Slice && isSection(v.Type().Elem()):
		for i := range v.Len() {
			walkSections(v.Index(i), path+"["+strconv.Itoa(i)+"]", fn, innerFirst)
		}
	case v.Kind() == reflect.Map && isSection(v.Type().Elem()):
		// Map values cannot be addressed: copy each out and back.
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		for _, k := range keys {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(v.MapIndex(k))
			walkSections(e, strictyaml.JoinPath(path, k.String()), fn, innerFirst)
			v.SetMapIndex(k, e)
		}
	}
}

// decodeYAML decodes the YAML document data into the struct root strictly:
// every key must exist, and every problem is reported with its line.
func decodeYAML(name string, data []byte, root reflect.Value, src *sources) error {
	doc, err := strictyaml.Parse(data)
	var extra *strictyaml.ExtraDocumentError
	switch {
	case errors.Is(err, strictyaml.ErrEmpty):
		return fmt.Errorf("%s: empty file; the first line of a configuration file is \"version: %d\"", name, configVersion)
	case errors.As(err, &extra):
		return fmt.Errorf("%s:%d: a configuration file holds one YAML document", name, extra.Line)
	case err != nil:
		return fmt.Errorf("%s: %w", name, err)
	}
	d := &yamlDecoder{src: src}
	d.decode(doc, root, "")
	return d.err()
}

// decodeYAMLValue sets v from the YAML text s, the value of variable, with
// the same strictness as the file.
func decodeYAMLValue(v reflect.Value, s, variable string) error {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(s), &n); err != nil {
		return fmt.Errorf("not YAML: %s", strictyaml.ErrorText(err))
	}
	d := &yamlDecoder{src: &sources{file: variable, at: map[string]string{}}}
	p := reflect.New(v.Type()).Elem()
	d.decode(&n, p, "")
	if err := d.err(); err != nil {
		return err
	}
	v.Set(p)
	return nil
}

// yamlDecoder sets struct fields from YAML nodes by reflection; the strict
// walking (known keys, duplicates, merges, aliases) is strictyaml's.
type yamlDecoder struct {
	src *sources
	w   strictyaml.Walker
}

// err returns the problems found as errors naming file, line and key.
func (d *yamlDecoder) err() error {
	errs := make([]error, len(d.w.Problems))
	for i, p := range d.w.Problems {
		errs[i] = &keyError{Key: p.Key, At: d.src.file + ":" + strconv.Itoa(p.Line), Msg: p.Msg}
	}
	return errors.Join(errs...)
}

// decode sets v from n, descending into sections key by key.
func (d *yamlDecoder) decode(n *yaml.Node, v reflect.Value, path string) {
	d.w.Node(n, path, func(n *yaml.Node) {
		if path != "" {
			d.src.setLine(path, n.Line)
		}
		if strictyaml.IsNull(n) {
			return // an empty key keeps its zero value, and so its default
		}
		t := v.Type()
		switch {
		case isSection(t):
			fields := sectionFields(t)
			known := make([]string, len(fields))
			for i, f := range fields {
				known[i] = f.key
			}
			d.w.Mapping(n, path, known, func(name, path string, val *yaml.Node) {
				d.decode(val, v.FieldByIndex(fields[slices.Index(known, name)].index), path)
			})
		case t.Kind() == reflect.Slice && isSection(t.Elem()):
			s := reflect.MakeSlice(t, 0, len(n.Content))
			if d.w.List(n, path, func(_ int, path string, item *yaml.Node) {
				e := reflect.New(t.Elem()).Elem()
				d.decode(item, e, path)
				s = reflect.Append(s, e)
			}) {
				v.Set(s)
			}
		case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String && isSection(t.Elem()):
			m := reflect.MakeMap(t)
			if d.w.Entries(n, path, func(name, path string, _, val *yaml.Node) {
				e := reflect.New(t.Elem()).Elem()
				d.decode(val, e, path)
				m.SetMapIndex(reflect.ValueOf(name).Convert(t.Key()), e)
			}) {
				v.Set(m)
			}
		default:
			p := reflect.New(t)
			if d.w.Decode(n, path, p.Interface()) {
				v.Set(p.Elem())
			}
		}
	})
}
