package config

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cdcflow/cdcflow/internal/strictyaml"
)

// Config is the whole cdcflow configuration file. Each section is declared in
// its own file (source.go, kafka.go, views.go, ...) next to the functions that
// turn it into the configuration of the component that uses it.
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
	// Backpressure bounds what is held between capture and Kafka.
	Backpressure BackpressureConfig `yaml:"backpressure"`
	// Views configures the Redis views (views.go).
	Views   ViewsConfig   `yaml:"views"`
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

// redacted replaces a secret when the configuration is printed.
const redacted = "<redacted>"

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
	durationType  = reflect.TypeFor[time.Duration]()
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

// envKey is a configuration key that an environment variable can set: a
// field that is not itself a section.
type envKey struct {
	path   string // dotted key path, e.g. "source.dsn"
	env    string // variable name, e.g. "CDCFLOW_SOURCE_DSN"
	index  [][]int
	secret bool
}

// envKeys lists the keys of t settable from the environment, in
// declaration order. The variable name is envPrefix followed by the key
// path upper-cased, with dots turned into underscores.
func envKeys(t reflect.Type) []envKey {
	var out []envKey
	var walk func(t reflect.Type, path string, index [][]int)
	walk = func(t reflect.Type, path string, index [][]int) {
		for _, f := range sectionFields(t) {
			p := strictyaml.JoinPath(path, f.key)
			idx := append(slices.Clone(index), f.index)
			if isSection(t.FieldByIndex(f.index).Type) {
				walk(t.FieldByIndex(f.index).Type, p, idx)
				continue
			}
			out = append(out, envKey{
				path:   p,
				env:    envPrefix + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(p)),
				index:  idx,
				secret: f.secret,
			})
		}
	}
	walk(t, "", nil)
	return out
}

// field returns the value the key designates inside cfg.
func (k envKey) field(cfg reflect.Value) reflect.Value {
	v := cfg
	for _, i := range k.index {
		v = v.FieldByIndex(i)
	}
	return v
}

// applyEnv sets the keys named by CDCFLOW_* variables in env. A variable
// that names no key is an error, so a misspelled one is not silently
// ignored.
func applyEnv(root reflect.Value, env []string, src *sources) error {
	keys := envKeys(root.Type())
	byName := make(map[string]envKey, len(keys))
	for _, k := range keys {
		byName[k.env] = k
	}
	vars := map[string]string{}
	for _, kv := range env {
		name, val, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(name, envPrefix) {
			vars[name] = val
		}
	}
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	slices.Sort(names)
	var errs []error
	for _, name := range names {
		if name == EnvConfig || strings.HasPrefix(name, envReservedPrefix) {
			continue
		}
		val := vars[name]
		k, ok := byName[name]
		if !ok {
			base, isFile := strings.CutSuffix(name, envFileSuffix)
			if k, ok = byName[base]; !ok || !isFile {
				errs = append(errs, unknownEnvError(name, keys))
				continue
			}
			if _, both := vars[base]; both {
				errs = append(errs, fmt.Errorf("%s and %s are both set; set one", base, name))
				continue
			}
			b, err := os.ReadFile(val)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s (%s): read: %w", name, k.path, err))
				continue
			}
			val = strings.TrimRight(string(b), "\r\n")
		}
		if err := setFromEnv(k.field(root), val, name, src); err != nil {
			msg := err.Error()
			if k.secret {
				msg = "invalid value (not shown: the key is secret)"
			}
			errs = append(errs, &keyError{Key: k.path, At: name, Msg: msg})
			continue
		}
		src.setEnv(k.path, name)
	}
	return errors.Join(errs...)
}

func unknownEnvError(name string, keys []envKey) error {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.env
	}
	return fmt.Errorf("unknown environment variable %s: no configuration key has that name%s", name, strictyaml.DidYouMean(name, names))
}

// setFromEnv parses s into v. Scalars use their usual text form (durations
// Go's, as "1m30s"); a list of scalars is comma-separated ("a:9092,b:9092",
// "" for an empty list); a map of scalars is "k=v,k2=v2". Anything else
// (a list of sections, say) is written as YAML, e.g. "[{name: a}]".
func setFromEnv(v reflect.Value, s, variable string, src *sources) error {
	t := v.Type()
	switch {
	case isScalar(t):
		return setScalar(v, s)
	case t.Kind() == reflect.Slice && isScalar(t.Elem()):
		s = strings.TrimSpace(s)
		out := reflect.MakeSlice(t, 0, strings.Count(s, ",")+1)
		if s != "" {
			for i, item := range strings.Split(s, ",") {
				e := reflect.New(t.Elem()).Elem()
				if err := setScalar(e, strings.TrimSpace(item)); err != nil {
					return fmt.Errorf("item %d: %w", i+1, err)
				}
				out = reflect.Append(out, e)
			}
		}
		v.Set(out)
		return nil
	case t.Kind() == reflect.Map && isScalar(t.Key()) && isScalar(t.Elem()):
		out := reflect.MakeMap(t)
		if s = strings.TrimSpace(s); s != "" {
			for item := range strings.SplitSeq(s, ",") {
				ks, vs, ok := strings.Cut(item, "=")
				if !ok {
					return fmt.Errorf("%q is not key=value", item)
				}
				k, e := reflect.New(t.Key()).Elem(), reflect.New(t.Elem()).Elem()
				if err := setScalar(k, strings.TrimSpace(ks)); err != nil {
					return fmt.Errorf("key %q: %w", ks, err)
				}
				if err := setScalar(e, strings.TrimSpace(vs)); err != nil {
					return fmt.Errorf("value of %q: %w", ks, err)
				}
				out.SetMapIndex(k, e)
			}
		}
		v.Set(out)
		return nil
	}
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(s), &n); err != nil {
		return fmt.Errorf("not YAML: %s", strictyaml.ErrorText(err))
	}
	d := &yamlDecoder{src: &sources{file: variable, at: map[string]string{}}}
	p := reflect.New(t).Elem()
	d.decode(&n, p, "")
	if err := d.err(); err != nil {
		return err
	}
	v.Set(p)
	return nil
}

// isScalar reports whether t is set from one piece of text.
func isScalar(t reflect.Type) bool {
	if reflect.PointerTo(t).Implements(textType) {
		return true
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Float32, reflect.Float64,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

func setScalar(v reflect.Value, s string) error {
	if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		return u.UnmarshalText([]byte(s))
	}
	t := v.Type()
	switch t.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not a boolean (true or false)", s)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if t == durationType {
			d, err := time.ParseDuration(s)
			if err != nil {
				return fmt.Errorf("%q is not a duration such as 30s or 1m30s", s)
			}
			v.SetInt(int64(d))
			return nil
		}
		n, err := strconv.ParseInt(s, 10, t.Bits())
		if err != nil {
			return fmt.Errorf("%q is not an integer of %d bits", s, t.Bits())
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(s, 10, t.Bits())
		if err != nil {
			return fmt.Errorf("%q is not a non-negative integer of %d bits", s, t.Bits())
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(s, t.Bits())
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		v.SetFloat(f)
	default:
		return fmt.Errorf("cannot set a %s from text", t)
	}
	return nil
}

// Marshal renders cfg as YAML, every key included, with secret keys replaced
// by "<redacted>" and passwords inside any other connection string masked:
// what `cdcflow config print` shows.
func Marshal(cfg *Config) ([]byte, error) {
	return marshal(cfg)
}

// marshal renders cfg (a pointer to Config) as YAML, every key included, with secret keys
// replaced by "<redacted>" and passwords inside any other connection
// string masked.
func marshal(cfg any) ([]byte, error) {
	n, err := configNode(reflect.ValueOf(cfg).Elem(), false)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	return buf.Bytes(), nil
}

func configNode(v reflect.Value, secret bool) (*yaml.Node, error) {
	t := v.Type()
	switch {
	case secret:
		if v.IsZero() {
			break // an unset secret shows as unset
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Value: redacted}, nil
	case isSection(t):
		n := &yaml.Node{Kind: yaml.MappingNode}
		for _, f := range sectionFields(t) {
			c, err := configNode(v.FieldByIndex(f.index), f.secret)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: f.key}, c)
		}
		return n, nil
	case t.Kind() == reflect.Slice && !v.IsNil():
		n := &yaml.Node{Kind: yaml.SequenceNode}
		if v.Len() > 0 && isScalar(t.Elem()) {
			n.Style = yaml.FlowStyle
		}
		for i := range v.Len() {
			c, err := configNode(v.Index(i), false)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, c)
		}
		return n, nil
	case t.Kind() == reflect.String:
		v = reflect.ValueOf(maskPasswords(v.String()))
	}
	n := &yaml.Node{}
	if err := n.Encode(v.Interface()); err != nil {
		return nil, fmt.Errorf("encode %s: %w", t, err)
	}
	if t.Kind() == reflect.Slice && v.IsNil() {
		n = &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	}
	return n, nil
}

var passwordPatterns = []*regexp.Regexp{
	// URL user info: postgres://user:secret@host
	regexp.MustCompile(`(://[^:/?#@\s]*:)([^@\s]*)(@)`),
	// keyword/value: password=secret, password = 'se cret'
	regexp.MustCompile(`(?i)((?:^|\s)\w*password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s']\S*|'[^\s]*)()`),
	// URL query parameter: ?password=secret&...
	regexp.MustCompile(`(?i)([?&]\w*password=)([^&#\s]*)()`),
}

// maskPasswords replaces the password inside connection strings in s (URL
// or keyword/value form) with "<redacted>", leaving everything else.
func maskPasswords(s string) string {
	for _, re := range passwordPatterns {
		s = re.ReplaceAllString(s, "${1}"+redacted+"${3}")
	}
	return s
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
