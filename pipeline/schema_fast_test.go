package pipeline

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// fastMappings are the mappings with schemas whose events the fast path is
// checked on, with the golden stream that produces their events.
var fastMappings = []struct{ mapping, stream string }{
	{referenceMapping, "testdata/golden/orders/stream.json"},
	{"testdata/golden/gather/mapping.yaml", "testdata/golden/gather/stream.json"},
	{"testdata/upcast/mapping.yaml", ""},
}

// TestFastSchemaKnowsEveryKeyword fails when the library's compiled Schema
// gains or loses a field: compileFast must then learn whether the fast path
// can check the new keyword, or refuse schemas that use it.
func TestFastSchemaKnowsEveryKeyword(t *testing.T) {
	known := []string{
		"DraftVersion", "Location", "Bool", "ID", "Ref", "Anchor", "RecursiveRef", "RecursiveAnchor",
		"DynamicRef", "DynamicAnchor", "Types", "Enum", "Const", "Not", "AllOf", "AnyOf", "OneOf",
		"If", "Then", "Else", "Format", "MaxProperties", "MinProperties", "Required", "PropertyNames",
		"Properties", "PatternProperties", "AdditionalProperties", "Dependencies", "DependentRequired",
		"DependentSchemas", "UnevaluatedProperties", "MinItems", "MaxItems", "UniqueItems", "Contains",
		"MinContains", "MaxContains", "Items", "AdditionalItems", "PrefixItems", "Items2020",
		"UnevaluatedItems", "MinLength", "MaxLength", "Pattern", "ContentEncoding", "ContentMediaType",
		"ContentSchema", "Maximum", "Minimum", "ExclusiveMaximum", "ExclusiveMinimum", "MultipleOf",
		"Extensions", "Title", "Description", "Default", "Comment", "ReadOnly", "WriteOnly", "Examples",
		"Deprecated",
	}
	var got []string
	for f := range reflect.TypeFor[jsonschema.Schema]().Fields() {
		if f.IsExported() {
			got = append(got, f.Name)
		}
	}
	slices.Sort(got)
	slices.Sort(known)
	if !slices.Equal(got, known) {
		t.Fatalf("jsonschema.Schema's exported fields changed:\n got %v\nwant %v\nreview compileFast", got, known)
	}
}

// TestFastSchemaCoversMappings checks that every schema of the reference and
// test mappings gets a fast path, so that validation does not fall back to the
// generic validator for them.
func TestFastSchemaCoversMappings(t *testing.T) {
	for _, fm := range fastMappings {
		m := loadMapping(t, fm.mapping, LoadOptions{Timezone: "Europe/Berlin"})
		n := 0
		for _, typ := range m.schemas.types() {
			for _, v := range m.schemas.versions(typ) {
				n++
				if m.schemas.get(typ, v).fast == nil {
					t.Errorf("%s: %s has no fast path", fm.mapping, fmtType(typ, v))
				}
			}
		}
		if n == 0 {
			t.Errorf("%s: no schemas", fm.mapping)
		}
	}
	// The reference mapping's decimals and local timestamps use the
	// hand-written matchers.
	m := loadMapping(t, referenceMapping, LoadOptions{Timezone: "Europe/Berlin"})
	f := m.schemas.get("OrderRequested", 1).fast
	for _, name := range []string{"total", "ordered_at"} {
		if p := f.props[name].s; p == nil || p.match == nil {
			t.Errorf("OrderRequested v1: property %s has no hand-written pattern matcher", name)
		}
	}
}

// TestFastSchemaRefuses checks schemas the fast path must leave to the library.
func TestFastSchemaRefuses(t *testing.T) {
	for _, src := range []string{
		`{"$ref": "#/definitions/a", "definitions": {"a": {"type": "string"}}}`,
		`{"allOf": [{"type": "string"}]}`,
		`{"type": "object", "properties": {"a": {"const": 1}}}`,
		`{"type": "array", "items": [{"type": "string"}]}`,
		`{"enum": [1, "a"]}`,
		`{"type": "number", "minimum": 1.5}`,
		`{"type": "number", "exclusiveMinimum": 1}`,
		`{"type": "object", "patternProperties": {"^a": {"type": "string"}}}`,
		`{"type": "object", "properties": {"a": {"type": "array", "uniqueItems": true}}}`,
		`false`,
	} {
		if compileTestSchema(t, src).fast != nil {
			t.Errorf("schema %s got a fast path", src)
		}
	}
}

func compileTestSchema(t testing.TB, src string) *eventSchema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	c.AssertFormat()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddResource("mem:///t.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("mem:///t.json")
	if err != nil {
		t.Fatalf("compile %s: %v", src, err)
	}
	return &eventSchema{typ: "T", version: 1, sch: sch, fast: compileFast(sch)}
}

// TestFastSchemaCases checks hand-picked instances against a schema with
// every keyword the fast path knows: each must get the library's verdict, or
// "not sure" where the library says valid.
func TestFastSchemaCases(t *testing.T) {
	es := compileTestSchema(t, `{
		"type": "object",
		"required": ["id", "n", "s"],
		"additionalProperties": false,
		"properties": {
			"id": {"type": "integer", "minimum": 1, "maximum": 100},
			"n": {"type": ["number", "null"]},
			"s": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 5, "minLength": 2},
			"e": {"enum": ["a", "b"]},
			"d": {"type": "string", "format": "date"},
			"o": {"type": "object", "additionalProperties": {"type": "boolean"}},
			"l": {"type": "array", "items": {"type": "object", "required": ["x"], "properties": {"x": {"type": "integer"}}}},
			"any": {}
		}
	}`)
	if es.fast == nil {
		t.Fatal("no fast path")
	}
	for _, tt := range []struct {
		data string
		fast bool // the fast path vouches for it
		lib  bool // the library accepts it
	}{
		{`{"id":1,"n":null,"s":"ab"}`, true, true},
		{` { "id" : 100 , "n" : -1.5e3 , "s" : "abcde" } `, true, true},
		{`{"id":1,"n":1,"s":"ab","e":"b","d":"2026-11-23","o":{"a":true},"l":[{"x":1},{"x":2,"y":[1,{"z":null}]}],"any":[{"q":"\u00e9"}]}`, true, true},
		{`{"id":1.0,"n":1,"s":"ab"}`, false, true}, // 1.0 is an integer: the library decides
		{`{"id":1,"n":1,"s":"a\u0062"}`, false, true},
		{`{"id":1,"n":1,"s":"\u00e9b"}`, false, false},
		{`{"id":0,"n":1,"s":"ab"}`, false, false},
		{`{"id":101,"n":1,"s":"ab"}`, false, false},
		{`{"id":1,"n":"1","s":"ab"}`, false, false},
		{`{"id":1,"n":1,"s":"abcdef"}`, false, false},
		{`{"id":1,"n":1,"s":"a"}`, false, false},
		{`{"id":1,"n":1,"s":"AB"}`, false, false},
		{`{"id":1,"n":1}`, false, false},
		{`{"id":1,"n":1,"s":"ab","extra":1}`, false, false},
		{`{"id":1,"n":1,"s":"ab","e":"c"}`, false, false},
		{`{"id":1,"n":1,"s":"ab","e":1}`, false, false},
		{`{"id":1,"n":1,"s":"ab","d":"2026-13-01"}`, false, false},
		{`{"id":1,"n":1,"s":"ab","o":{"a":1}}`, false, false},
		{`{"id":1,"n":1,"s":"ab","l":[{"x":1},{}]}`, false, false},
		{`{"id":1,"n":1,"s":"ab","l":[{"x":"1"}]}`, false, false},
		{`{"id":99999999999999999999,"n":1,"s":"ab"}`, false, false},
		{`[]`, false, false},
		{`{"id":1,"n":1,"s":"ab"} x`, false, false},
		{`{"id":1,"n":1,"s":"ab",}`, false, false},
		{`{"id":1,"n":01,"s":"ab"}`, false, false},
		{`{"id":1,"n":1,"s":"ab","any":"\x01"}`, false, false},
		{`{"id":1,"n":1,"s":"ab","any":"\q"}`, false, false},
	} {
		fast := es.fast.valid([]byte(tt.data))
		lib := es.validateLibrary([]byte(tt.data)) == nil
		if fast != tt.fast || lib != tt.lib {
			t.Errorf("%s: fast %v, library %v; want %v, %v", tt.data, fast, lib, tt.fast, tt.lib)
		}
	}
}

// TestFastSchemaAgreesWithLibrary validates the events of the golden streams
// and the recorded examples, and random mutations of them, by both paths: the
// fast path must accept every event the mapper wrote that the library
// accepts, and never accept what the library refuses.
func TestFastSchemaAgreesWithLibrary(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	var checked, vouched, refused int
	for _, fm := range fastMappings {
		m := loadMapping(t, fm.mapping, LoadOptions{Timezone: "Europe/Berlin"})
		type instance struct {
			es   *eventSchema
			data []byte
		}
		var base []instance
		if fm.stream != "" {
			s := readStream(t, fm.stream)
			mp, err := NewMapper(m, MapperOptions{})
			if err != nil {
				t.Fatal(err)
			}
			feed(t, mp, s, func(e Event) {
				if es := m.schemas.get(e.Type, e.Version); es != nil && e.Control == NotControl && !e.DeadLetter {
					base = append(base, instance{es, e.Data})
				}
			})
		}
		for typ, byVersion := range m.schemas.examples {
			for v, exs := range byVersion {
				for _, ex := range exs {
					if es := m.schemas.get(typ, v); es != nil {
						base = append(base, instance{es, ex.data})
					}
				}
			}
		}
		if len(base) == 0 {
			t.Fatalf("%s: no instances", fm.mapping)
		}
		for _, in := range base {
			lib := in.es.validateLibrary(in.data) == nil
			if lib && !bytes.ContainsRune(in.data, '\\') && !in.es.fast.valid(in.data) {
				t.Errorf("%s: the fast path does not vouch for %s, which the library accepts", fmtType(in.es.typ, in.es.version), in.data)
			}
			for range 40 {
				d := mutateJSON(t, rng, in.data)
				checked++
				fast := in.es.fast.valid(d)
				if fast {
					vouched++
				}
				if in.es.validateLibrary(d) != nil {
					refused++
					if fast {
						t.Errorf("%s: the fast path accepts %s; the library refuses it: %v", fmtType(in.es.typ, in.es.version), d, in.es.validateLibrary(d))
					}
				}
			}
		}
	}
	t.Logf("%d mutations: the fast path vouched for %d, the library refused %d", checked, vouched, refused)
	if refused == 0 || vouched == 0 {
		t.Fatalf("mutations: %d refused by the library, %d vouched for by the fast path; want some of each", refused, vouched)
	}
}

// mutateJSON changes one or two things in a JSON document: drops, adds or
// replaces a member or item anywhere, with values of every JSON type and
// forms the fast path leaves to the library (1.0, big numbers, escapes).
func mutateJSON(t testing.TB, rng *rand.Rand, data []byte) []byte {
	var doc any
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := d.Decode(&doc); err != nil {
		t.Fatalf("mutate %s: %v", data, err)
	}
	values := []func() any{
		func() any { return nil },
		func() any { return true },
		func() any { return "" },
		func() any { return "x" },
		func() any { return "<a&b>" },
		func() any { return "é" },
		func() any { return strings.Repeat("y", 250) },
		func() any { return "2026-11-23T10:00:00.000000" },
		func() any { return "123.45" },
		func() any { return "-Infinity" },
		func() any { return "12,5" },
		func() any { return json.Number("0") },
		func() any { return json.Number("-1") },
		func() any { return json.Number("42") },
		func() any { return json.Number("1.0") },
		func() any { return json.Number("2.5") },
		func() any { return json.Number("1e2") },
		func() any { return json.Number("123456789012345678901234567890") },
		func() any { return []any{} },
		func() any { return []any{map[string]any{}} },
		func() any { return map[string]any{} },
		func() any { return map[string]any{"k": json.Number("1")} },
	}
	for n := 1 + rng.IntN(2); n > 0; n-- {
		doc = mutateValue(rng, doc, values)
	}
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if rng.IntN(4) == 0 {
		out = bytes.ReplaceAll(out, []byte(`,`), []byte(" ,\n\t"))
	}
	return out
}

func mutateValue(rng *rand.Rand, v any, values []func() any) any {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		switch r := rng.IntN(10); {
		case len(keys) == 0 || r == 0:
			x["zz_extra"] = values[rng.IntN(len(values))]()
		case r == 1:
			delete(x, keys[rng.IntN(len(keys))])
		case r < 5:
			k := keys[rng.IntN(len(keys))]
			x[k] = values[rng.IntN(len(values))]()
		default:
			k := keys[rng.IntN(len(keys))]
			x[k] = mutateValue(rng, x[k], values)
		}
		return x
	case []any:
		switch r := rng.IntN(6); {
		case len(x) == 0 || r == 0:
			return append(x, values[rng.IntN(len(values))]())
		case r == 1:
			return x[1:]
		default:
			i := rng.IntN(len(x))
			x[i] = mutateValue(rng, x[i], values)
			return x
		}
	}
	return values[rng.IntN(len(values))]()
}

// FuzzFastSchema checks on arbitrary documents that the fast path never
// accepts what the library refuses, for the reference OrderRequested schema.
func FuzzFastSchema(f *testing.F) {
	m := loadMapping(f, referenceMapping, LoadOptions{Timezone: "Europe/Berlin"})
	es := m.schemas.get("OrderRequested", 1)
	if es == nil || es.fast == nil {
		f.Fatal("OrderRequested v1: no schema or no fast path")
	}
	for _, ex := range m.schemas.examples["OrderRequested"][1] {
		f.Add(ex.data)
	}
	f.Add([]byte(`{"order_id":1,"customer_id":2,"total":"1.00","currency":"EUR","created_by":"web","ordered_at":"2026-11-23T10:00:00.000000","lines":[]}`))
	f.Add([]byte(`{"order_id":1.0,"customer_id":2,"total":"1.00","currency":"EUR","created_by":"web","ordered_at":"2026-11-23T10:00:00.000000","lines":[{}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if es.fast.valid(data) {
			if err := es.validateLibrary(data); err != nil {
				t.Fatalf("the fast path accepts %q; the library refuses it: %v", data, err)
			}
		}
	})
}

// TestKnownPatternsMatchRegexp checks each hand-written matcher against the
// regexp it stands for, on random strings built from the characters that
// matter (seed printed), and on every pattern's edge cases.
func TestKnownPatternsMatchRegexp(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 4))
	pieces := []string{"0", "9", "5", "-", ".", ":", "T", "t", " ", "\n", "e", "NaN", "Infinity", "-Infinity", "a", "é",
		"2026-11-23T10:00:00.123456", "123.45"}
	fixed := []string{"", "-", ".", "-.", "0", "-0", "0.", ".5", "1.5", "-1.50", "1..5", "1.5.5", "NaN", "nan", "-NaN",
		"Infinity", "-Infinity", "+Infinity", "Infinity\n", "12\n", "1e5", "2026-11-23T10:00:00.123456",
		"2026-11-23T10:00:00.12345", "2026-11-23T10:00:00.1234567", "2026-11-23 10:00:00.123456", "2026-11-23T10:00:00.123456\n",
		"0000-00-00T00:00:00.000000", "20261-1-23T10:00:00.123456"}
	for src, match := range knownPatterns {
		re := regexp.MustCompile(src)
		check := func(s string) {
			if got, want := match([]byte(s)), re.MatchString(s); got != want {
				t.Fatalf("pattern %s, %q: matcher %v, regexp %v", src, s, got, want)
			}
		}
		for _, s := range fixed {
			check(s)
		}
		for range 20000 {
			var sb strings.Builder
			for range rng.IntN(6) {
				sb.WriteString(pieces[rng.IntN(len(pieces))])
			}
			check(sb.String())
		}
	}
}

// FuzzKnownPatterns checks the hand-written matchers against regexp.
func FuzzKnownPatterns(f *testing.F) {
	f.Add("123.45")
	f.Add("-Infinity")
	f.Add("2026-11-23T10:00:00.123456")
	res := map[string]*regexp.Regexp{}
	for src := range knownPatterns {
		res[src] = regexp.MustCompile(src)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for src, match := range knownPatterns {
			if got, want := match([]byte(s)), res[src].MatchString(s); got != want {
				t.Fatalf("pattern %s, %q: matcher %v, regexp %v", src, s, got, want)
			}
		}
	})
}
