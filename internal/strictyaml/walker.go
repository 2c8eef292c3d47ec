package strictyaml

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// MaxSteps bounds the nodes a Walker visits in one document, aliases
// expanded: far above any real file, far below what an alias bomb expands
// to.
const MaxSteps = 100000

// ErrEmpty is returned by Parse when the data holds no YAML document.
var ErrEmpty = errors.New("empty file")

// ExtraDocumentError is returned by Parse when the data holds more than one
// YAML document.
type ExtraDocumentError struct {
	Line int // where the second document starts
}

// Error implements error.
func (e *ExtraDocumentError) Error() string {
	return fmt.Sprintf("line %d: a file holds one YAML document", e.Line)
}

// Parse decodes data, which must hold exactly one YAML document, and
// returns the document's root node. A syntax error is yaml.v3's error as it
// is.
func Parse(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, ErrEmpty
		}
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, &ExtraDocumentError{Line: extra.Line}
	}
	if len(doc.Content) == 0 {
		return nil, ErrEmpty
	}
	return doc.Content[0], nil
}

// Problem is one thing wrong with a document.
type Problem struct {
	// Line is the 1-based line of the node at fault; 0 when unknown.
	Line int
	// Key is the key path the problem is about, as the caller named it
	// ("kafka.tls", "tables[0].events[1]"); "" when Msg says it all.
	Key string
	// Msg says what is wrong, in lower case.
	Msg string
}

// Text is the problem without its line: "key: msg", or msg alone.
func (p Problem) Text() string {
	if p.Key == "" {
		return p.Msg
	}
	return p.Key + ": " + p.Msg
}

// Walker walks the nodes of one document and collects every problem it
// finds in Problems. The zero value is ready to use; a Walker is not safe
// for concurrent use.
//
// Key paths name what a problem is about: the caller passes the path of the
// node it hands over, and the Walker extends it with JoinPath for the keys
// and list items below.
type Walker struct {
	// Problems holds every problem found, in the order found.
	Problems []Problem

	steps int
	// expanding holds the aliases being walked, to refuse one that contains
	// itself.
	expanding map[*yaml.Node]bool
}

// Fail records a problem at node n about key.
func (w *Walker) Fail(n *yaml.Node, key, format string, args ...any) {
	w.Problems = append(w.Problems, Problem{Line: n.Line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// Node calls fn with the node n stands for: the content of a document
// node, the target of an alias. It counts one step against MaxSteps and
// refuses an alias that contains itself; in both cases it records a problem
// and does not call fn.
func (w *Walker) Node(n *yaml.Node, key string, fn func(n *yaml.Node)) {
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return
		}
		n = n.Content[0]
	}
	if w.steps >= MaxSteps {
		if w.steps == MaxSteps {
			w.steps++ // say it once
			w.Fail(n, orTop(key), "document too large once aliases are expanded")
		}
		return
	}
	w.steps++
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil || w.expanding[n] {
			w.Fail(n, orTop(key), "alias *%s contains itself", n.Value)
			return
		}
		if w.expanding == nil {
			w.expanding = map[*yaml.Node]bool{}
		}
		w.expanding[n] = true
		defer delete(w.expanding, n)
		w.Node(n.Alias, key, fn)
		return
	}
	fn(n)
}

// Entries calls fn for each key of the mapping n, in document order, with
// the key's path. Keys merged in with "<<" are visited first, so that the
// mapping's own keys, visited after them, win; a key merged in may be
// visited again. A key given twice in the mapping itself, or a key that is
// not a plain scalar, is a problem and is skipped. It reports whether n is
// a mapping.
func (w *Walker) Entries(n *yaml.Node, key string, fn func(name, path string, k, v *yaml.Node)) bool {
	return w.mapping(n, key, func(m *yaml.Node) { w.entries(m, key, fn) })
}

// mapping calls fn with the mapping n stands for, or records that n is not
// a mapping. It reports whether n is one.
func (w *Walker) mapping(n *yaml.Node, key string, fn func(m *yaml.Node)) bool {
	ok := false
	w.Node(n, key, func(n *yaml.Node) {
		if n.Kind != yaml.MappingNode {
			w.Fail(n, orTop(key), "want a mapping of keys, got %s", Kind(n))
			return
		}
		ok = true
		fn(n)
	})
	return ok
}

func (w *Walker) entries(n *yaml.Node, key string, fn func(name, path string, k, v *yaml.Node)) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			w.merge(v, key, fn)
		}
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge":
			continue
		case k.Kind != yaml.ScalarNode:
			w.Fail(k, orTop(key), "a key must be a plain word, got %s", Kind(k))
			continue
		case seen[k.Value]:
			w.Fail(k, JoinPath(key, k.Value), "set twice in the same mapping")
			continue
		}
		seen[k.Value] = true
		fn(k.Value, JoinPath(key, k.Value), k, v)
	}
}

// merge visits the keys of the mappings a "<<" key merges in.
func (w *Walker) merge(v *yaml.Node, key string, fn func(name, path string, k, v *yaml.Node)) {
	w.Node(v, key, func(m *yaml.Node) {
		switch m.Kind {
		case yaml.MappingNode:
			w.entries(m, key, fn)
		case yaml.SequenceNode:
			for _, c := range m.Content {
				w.Node(c, key, func(c *yaml.Node) {
					if c.Kind == yaml.MappingNode {
						w.entries(c, key, fn)
					}
				})
			}
		default:
			w.Fail(m, orTop(key), "<< merges in %s; want a mapping or a list of mappings", Kind(m))
		}
	})
}

// Mapping is Entries for a mapping whose keys are known: fn is called for
// the keys in known, an unknown key is a problem naming the nearest known
// keys, and so is a key of required that the mapping lacks. It reports
// whether n is a mapping.
func (w *Walker) Mapping(n *yaml.Node, key string, known []string, fn func(name, path string, v *yaml.Node), required ...string) bool {
	return w.mapping(n, key, func(n *yaml.Node) {
		seen := map[string]bool{}
		w.entries(n, key, func(name, path string, k, v *yaml.Node) {
			if !slices.Contains(known, name) {
				w.Fail(k, "", "unknown key %s%s", path, DidYouMean(name, known))
				return
			}
			seen[name] = true
			fn(name, path, v)
		})
		for _, r := range required {
			if !seen[r] {
				w.Fail(n, key, "missing key %q", r)
			}
		}
	})
}

// List calls fn for each item of the list n with the item's path
// ("key[i]"). It reports whether n is a list.
func (w *Walker) List(n *yaml.Node, key string, fn func(i int, path string, item *yaml.Node)) bool {
	ok := false
	w.Node(n, key, func(n *yaml.Node) {
		if n.Kind != yaml.SequenceNode {
			w.Fail(n, key, "want a list, got %s", Kind(n))
			return
		}
		ok = true
		for i, item := range n.Content {
			fn(i, key+"["+strconv.Itoa(i)+"]", item)
		}
	})
	return ok
}

// Scalar returns the scalar n stands for (following an alias). A mapping
// or a list is a problem, and so is null unless allowNull.
func (w *Walker) Scalar(n *yaml.Node, key string, allowNull bool) (*yaml.Node, bool) {
	var out *yaml.Node
	w.Node(n, key, func(n *yaml.Node) {
		if n.Kind != yaml.ScalarNode || (!allowNull && IsNull(n)) {
			w.Fail(n, key, "want a scalar, got %s", Kind(n))
			return
		}
		out = n
	})
	return out, out != nil
}

// String returns the string n holds; a null, a mapping or a list is a
// problem.
func (w *Walker) String(n *yaml.Node, key string) (string, bool) {
	s, ok := w.Scalar(n, key, false)
	if !ok {
		return "", false
	}
	return s.Value, true
}

// Int returns the integer n holds (a YAML integer, not a quoted string).
func (w *Walker) Int(n *yaml.Node, key string) (int, bool) {
	s, ok := w.Scalar(n, key, false)
	if !ok {
		return 0, false
	}
	var i int
	if s.ShortTag() != "!!int" || s.Decode(&i) != nil {
		w.Fail(s, key, "want an integer, got %s", Kind(s))
		return 0, false
	}
	return i, true
}

// Bool returns the boolean n holds (true or false).
func (w *Walker) Bool(n *yaml.Node, key string) (bool, bool) {
	s, ok := w.Scalar(n, key, false)
	if !ok {
		return false, false
	}
	var b bool
	if s.ShortTag() != "!!bool" || s.Decode(&b) != nil {
		w.Fail(s, key, "want true or false, got %s", Kind(s))
		return false, false
	}
	return b, true
}

// Duration returns the duration n holds, written as Go writes one
// ("30s", "1m30s").
func (w *Walker) Duration(n *yaml.Node, key string) (time.Duration, bool) {
	s, ok := w.Scalar(n, key, false)
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(s.Value)
	if err != nil {
		w.Fail(s, key, "%q is not a duration such as 30s or 1m30s", s.Value)
		return 0, false
	}
	return d, true
}

// Size returns the non-negative byte size n holds: an integer, optionally
// followed by KiB, MiB or GiB.
func (w *Walker) Size(n *yaml.Node, key string) (int, bool) {
	s, ok := w.Scalar(n, key, false)
	if !ok {
		return 0, false
	}
	v, err := ParseSize(s.Value)
	if err != nil {
		w.Fail(s, key, "%q is not a size in bytes (an integer, optionally with KiB, MiB or GiB)", s.Value)
		return 0, false
	}
	return v, true
}

// Decode decodes n into the value v points to with yaml.v3's own rules,
// for values that are not walked key by key (a list of numbers, a map of
// strings). A failure is a problem without yaml.v3's line framing.
func (w *Walker) Decode(n *yaml.Node, key string, v any) bool {
	ok := false
	w.Node(n, key, func(n *yaml.Node) {
		if err := n.Decode(v); err != nil {
			w.Fail(n, key, "%s", ErrorText(err))
			return
		}
		ok = true
	})
	return ok
}

// ParseSize parses a non-negative integer with an optional binary unit
// suffix (KiB, MiB, GiB), e.g. "4 MiB".
func ParseSize(s string) (int, error) {
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
	if v < 0 {
		return 0, strconv.ErrSyntax
	}
	if v > (1<<62)/mult {
		return 0, strconv.ErrRange
	}
	return v * mult, nil
}

// IsNull reports whether n is a null scalar ("", "~", "null").
func IsNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// Kind names what n is, for messages: "a mapping", "a list", a scalar's
// value in quotes.
func Kind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if IsNull(n) {
			return "nothing (null)"
		}
		return strconv.Quote(n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "something else"
}

// JoinPath extends the key path parent with key: "a" and "b" make "a.b";
// a list index ("[0]") attaches without a dot.
func JoinPath(parent, key string) string {
	switch {
	case parent == "":
		return key
	case key == "":
		return parent
	case strings.HasPrefix(key, "["):
		return parent + key
	}
	return parent + "." + key
}

// ErrorText strips yaml.v3's "yaml: unmarshal errors: line N:" framing
// from err, for a caller that names file, line and key itself.
func ErrorText(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msgs := make([]string, len(te.Errors))
		for i, m := range te.Errors {
			if _, rest, ok := strings.Cut(m, ": "); ok && strings.HasPrefix(m, "line ") {
				m = rest
			}
			msgs[i] = m
		}
		return strings.Join(msgs, "; ")
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

func orTop(key string) string {
	if key == "" {
		return "(top level)"
	}
	return key
}
