package strictyaml

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// walkDoc walks a small document shape with every helper and returns what
// it read and the problems, one "line: text" a line.
func walkDoc(src string) (map[string]any, []string, error) {
	root, err := Parse([]byte(src))
	if err != nil {
		return nil, nil, err
	}
	w := &Walker{}
	got := map[string]any{}
	var walk func(n *yaml.Node, key string)
	walk = func(n *yaml.Node, key string) {
		w.Mapping(n, key, []string{"name", "count", "on", "timeout", "size", "items", "sub"}, func(name, path string, v *yaml.Node) {
			switch name {
			case "name":
				if s, ok := w.String(v, path); ok {
					got[path] = s
				}
			case "count":
				if i, ok := w.Int(v, path); ok {
					got[path] = i
				}
			case "on":
				if b, ok := w.Bool(v, path); ok {
					got[path] = b
				}
			case "timeout":
				if d, ok := w.Duration(v, path); ok {
					got[path] = d
				}
			case "size":
				if s, ok := w.Size(v, path); ok {
					got[path] = s
				}
			case "items":
				w.List(v, path, func(_ int, p string, item *yaml.Node) {
					if s, ok := w.String(item, p); ok {
						got[p] = s
					}
				})
			case "sub":
				walk(v, path)
			}
		}, "name")
	}
	walk(root, "")
	var probs []string
	for _, p := range w.Problems {
		probs = append(probs, fmt.Sprintf("%d: %s", p.Line, p.Text()))
	}
	return got, probs, nil
}

func TestWalker(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		want  map[string]any
		probs []string
	}{
		{"every scalar", "name: a\ncount: 3\non: true\ntimeout: 1m30s\nsize: 4 MiB\nitems: [x, y]\n",
			map[string]any{"name": "a", "count": 3, "on": true, "timeout": 90 * time.Second, "size": 4 << 20, "items[0]": "x", "items[1]": "y"}, nil},
		{"unknown key with suggestion", "name: a\ncont: 1\n", map[string]any{"name": "a"},
			[]string{"2: unknown key cont (did you mean count?)"}},
		{"unknown nested key", "name: a\nsub:\n  name: b\n  tiemout: 1s\n", map[string]any{"name": "a", "sub.name": "b"},
			[]string{"4: unknown key sub.tiemout (did you mean timeout?)"}},
		{"unknown key without suggestion", "name: a\nwholly_different: 1\n", map[string]any{"name": "a"},
			[]string{"2: unknown key wholly_different"}},
		{"every problem at once", "name: a\nx: 1\ncount: many\non: yes please\n", map[string]any{"name": "a"},
			[]string{"2: unknown key x", `3: count: want an integer, got "many"`, `4: on: want true or false, got "yes please"`}},
		{"duplicate", "name: a\nname: b\n", map[string]any{"name": "a"}, []string{"2: name: set twice in the same mapping"}},
		{"missing required", "count: 1\n", map[string]any{"count": 1}, []string{`1: missing key "name"`}},
		{"missing nested", "name: a\nsub:\n  count: 1\n", map[string]any{"name": "a", "sub.count": 1}, []string{`3: sub: missing key "name"`}},
		{"not a mapping", "[1]\n", map[string]any{}, []string{"1: (top level): want a mapping of keys, got a list"}},
		{"key not a word", "name: a\n[x]: 1\n", map[string]any{"name": "a"}, []string{"2: (top level): a key must be a plain word, got a list"}},
		{"merge: own keys win", "name: a\nsub:\n  <<: {name: m, count: 1}\n  name: own\n",
			map[string]any{"name": "a", "sub.name": "own", "sub.count": 1}, nil},
		{"merge a list of aliases", "name: a\nx: &x {count: 2}\n", map[string]any{"name": "a"}, []string{"2: unknown key x"}},
		{"merge of a scalar", "name: a\n<<: 1\n", map[string]any{"name": "a"}, []string{"2: (top level): << merges in \"1\"; want a mapping or a list of mappings"}},
		{"alias", "name: &n a\nsub: {name: *n}\n", map[string]any{"name": "a", "sub.name": "a"}, nil},
		{"alias loop", "name: a\nsub: &s\n  <<: *s\n", map[string]any{"name": "a"}, []string{"3: sub: alias *s contains itself", `2: sub: missing key "name"`}},
		{"null string", "name:\n", map[string]any{}, []string{"1: name: want a scalar, got nothing (null)"}},
		{"bad duration", "name: a\ntimeout: 5\n", map[string]any{"name": "a"}, []string{`2: timeout: "5" is not a duration such as 30s or 1m30s`}},
		{"bad size", "name: a\nsize: -1\n", map[string]any{"name": "a"}, []string{`2: size: "-1" is not a size in bytes (an integer, optionally with KiB, MiB or GiB)`}},
		{"not a list", "name: a\nitems: x\n", map[string]any{"name": "a"}, []string{`2: items: want a list, got "x"`}},
		{"quoted integer", "name: a\ncount: '1'\n", map[string]any{"name": "a"}, []string{`2: count: want an integer, got "1"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, probs, err := walkDoc(tt.src)
			if err != nil {
				t.Fatalf("Parse(%q) = %v", tt.src, err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("walk(%q) read %v; want %v", tt.src, got, tt.want)
			}
			if !slices.Equal(probs, tt.probs) {
				t.Errorf("walk(%q) problems =\n%s\nwant\n%s", tt.src, strings.Join(probs, "\n"), strings.Join(tt.probs, "\n"))
			}
		})
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want error
		text string
	}{
		{"empty", "", ErrEmpty, ""},
		{"comment only", "# nothing\n", ErrEmpty, ""},
		{"two documents", "a: 1\n---\nb: 2\n", nil, "line 2: a file holds one YAML document"},
		{"syntax", "a: [1\n", nil, "did not find expected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src))
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) || !strings.Contains(err.Error(), tt.text) {
				t.Errorf("Parse(%q) = %v; want %v containing %q", tt.src, err, tt.want, tt.text)
			}
		})
	}
}

// TestAliasBomb checks that a "billion laughs" document costs at most
// MaxSteps node visits and says so once.
func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 {name: x}\n")
	for i := 1; i < 30; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [", i, i)
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]\n")
	}
	root, err := Parse([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	w := &Walker{}
	var walk func(n *yaml.Node, key string)
	walk = func(n *yaml.Node, key string) {
		w.Node(n, key, func(n *yaml.Node) {
			for _, c := range n.Content {
				walk(c, key)
			}
		})
	}
	walk(root, "")
	if w.steps > MaxSteps+1 {
		t.Errorf("walked %d nodes; want at most %d", w.steps, MaxSteps+1)
	}
	n := 0
	for _, p := range w.Problems {
		if strings.Contains(p.Msg, "too large") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("problems %v; want one saying the document is too large", w.Problems)
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"0", 0, true}, {"1024", 1024, true}, {"4 MiB", 4 << 20, true}, {"2KiB", 2048, true}, {"1GiB", 1 << 30, true},
		{"-1", 0, false}, {"x", 0, false}, {"MiB", 0, false}, {"9999999999999 GiB", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d (ok %v)", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// FuzzWalker feeds arbitrary YAML to every helper: no input may panic.
func FuzzWalker(f *testing.F) {
	f.Add("name: a\ncount: 3\non: true\ntimeout: 1s\nsize: 1 KiB\nitems: [x]\n")
	f.Add("a: &a [*a]\n")
	f.Add("sub: &s\n  <<: *s\n")
	f.Add("<<: [*x, {name: 1}]\n")
	f.Add("? [a]\n: b\n")
	f.Add("name: !!binary aGk=\ncount: 0x10\n")
	f.Fuzz(func(t *testing.T, src string) {
		_, _, _ = walkDoc(src)
	})
}
