package config

import (
	"encoding"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cdcflow/cdcflow/internal/strictyaml"
)

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
	return decodeYAMLValue(v, s, variable)
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
		if t == reflect.TypeFor[time.Duration]() {
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
