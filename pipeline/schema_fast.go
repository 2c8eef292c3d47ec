package pipeline

import (
	"regexp"
	"strconv"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The fast path of schema validation.
//
// Validating every event with the generic validator costs more than mapping
// it: the event is decoded into maps, every integer is checked through
// math/big and fmt, and most of it is garbage afterwards. The schemas of a
// mapping use a small part of draft-07 (type, properties, required,
// additionalProperties, items, enum of strings, pattern, format, min/maxLength,
// integer minimum and maximum), so each compiled schema that stays inside that
// part is also turned into a fastSchema, which checks the event's JSON bytes
// in one pass without decoding them.
//
// The library stays the authority: the fast path only ever says "valid" or
// "not sure". A schema that uses anything else gets no fastSchema; an instance
// the fast path cannot accept for certain (invalid, or a form it does not
// handle: escaped strings where their value matters, 1.0 as an integer,
// numbers beyond int64) is validated again by the library, whose verdict and
// error message count. So the fast path can make validation cheaper but never
// more lenient, which TestFastSchemaAgreesWithLibrary and
// FuzzFastSchema check against the library.

// fastSchema is a compiled draft-07 schema of the subset the fast path checks.
type fastSchema struct {
	types   fastTypes // 0: any type
	enum    []string  // non-nil: the value must be one of these strings
	format  *jsonschema.Format
	pattern jsonschema.Regexp
	// match, when set, does what pattern does for a pattern the mapping
	// tool writes into every schema (decimals, local timestamps), without the
	// regexp machinery (TestKnownPatternsMatchRegexp).
	match    func([]byte) bool
	minLen   int // -1: none
	maxLen   int // -1: none
	min, max int64
	hasMin   bool
	hasMax   bool
	// Objects.
	props      map[string]fastProp
	nRequired  int
	additional fastAdditional
	addSchema  *fastSchema
	// Arrays: every item matches items (nil: anything).
	items *fastSchema
	// anything is true for the true schema and for schemas without
	// constraints: the value only has to be JSON.
	anything bool
}

// fastProp is one property named by properties or required: its schema
// (nil: anything) and, when it is required, its bit in the required set. A
// required property that properties does not declare is still subject to
// additionalProperties.
type fastProp struct {
	s        *fastSchema
	bit      uint64 // 0: not required
	declared bool   // in properties
}

type fastAdditional uint8

const (
	additionalAllowed fastAdditional = iota
	additionalForbidden
	additionalSchema
)

// fastTypes is a set of JSON types.
type fastTypes uint8

const (
	typeNull fastTypes = 1 << iota
	typeBoolean
	typeInteger
	typeNumber // any number; includes integers
	typeString
	typeArray
	typeObject
)

// maxFastDepth bounds the nesting the fast path follows; deeper documents go
// to the library.
const maxFastDepth = 64

// compileFast returns the fastSchema of s, or nil when s uses anything
// outside the subset the fast path checks.
func compileFast(s *jsonschema.Schema) *fastSchema {
	return compileFastDepth(s, 0)
}

func compileFastDepth(s *jsonschema.Schema, depth int) *fastSchema {
	if s == nil || depth > maxFastDepth || s.DraftVersion != 7 {
		return nil
	}
	if s.Bool != nil {
		if *s.Bool {
			return &fastSchema{anything: true, minLen: -1, maxLen: -1}
		}
		return nil // the false schema: nothing is valid, let the library say so
	}
	// Every keyword the fast path does not check must be absent.
	// TestFastSchemaKnowsEveryKeyword fails when the library's Schema gains a field.
	if s.Ref != nil || s.RecursiveRef != nil || s.DynamicRef != nil || s.Const != nil || s.Not != nil ||
		len(s.AllOf) > 0 || len(s.AnyOf) > 0 || len(s.OneOf) > 0 || s.If != nil || s.Then != nil || s.Else != nil ||
		s.MaxProperties != nil || s.MinProperties != nil || s.PropertyNames != nil || len(s.PatternProperties) > 0 ||
		len(s.Dependencies) > 0 || len(s.DependentRequired) > 0 || len(s.DependentSchemas) > 0 || s.UnevaluatedProperties != nil ||
		s.MinItems != nil || s.MaxItems != nil || s.UniqueItems || s.Contains != nil || s.MinContains != nil || s.MaxContains != nil ||
		s.AdditionalItems != nil || len(s.PrefixItems) > 0 || s.Items2020 != nil || s.UnevaluatedItems != nil ||
		s.ContentEncoding != nil || s.ContentMediaType != nil || s.ContentSchema != nil ||
		s.ExclusiveMaximum != nil || s.ExclusiveMinimum != nil || s.MultipleOf != nil || len(s.Extensions) > 0 {
		return nil
	}
	f := &fastSchema{minLen: -1, maxLen: -1}
	constrained := false
	if s.Types != nil && !s.Types.IsEmpty() {
		constrained = true
		for _, t := range s.Types.ToStrings() {
			switch t {
			case "null":
				f.types |= typeNull
			case "boolean":
				f.types |= typeBoolean
			case "integer":
				f.types |= typeInteger
			case "number":
				f.types |= typeNumber | typeInteger
			case "string":
				f.types |= typeString
			case "array":
				f.types |= typeArray
			case "object":
				f.types |= typeObject
			default:
				return nil
			}
		}
	}
	if s.Enum != nil {
		constrained = true
		f.enum = make([]string, 0, len(s.Enum.Values))
		for _, v := range s.Enum.Values {
			str, ok := v.(string)
			if !ok {
				return nil
			}
			f.enum = append(f.enum, str)
		}
	}
	if s.Format != nil {
		if s.Format.Name == "regex" || s.Format.Validate == nil {
			return nil
		}
		constrained = true
		f.format = s.Format
	}
	if s.Pattern != nil {
		constrained = true
		f.pattern = s.Pattern
		f.match = knownPatterns[s.Pattern.String()]
	}
	if s.MinLength != nil {
		constrained = true
		f.minLen = *s.MinLength
	}
	if s.MaxLength != nil {
		constrained = true
		f.maxLen = *s.MaxLength
	}
	if s.Minimum != nil {
		if !s.Minimum.IsInt() || !s.Minimum.Num().IsInt64() {
			return nil
		}
		constrained = true
		f.min, f.hasMin = s.Minimum.Num().Int64(), true
	}
	if s.Maximum != nil {
		if !s.Maximum.IsInt() || !s.Maximum.Num().IsInt64() {
			return nil
		}
		constrained = true
		f.max, f.hasMax = s.Maximum.Num().Int64(), true
	}
	if len(s.Properties) > 0 || len(s.Required) > 0 {
		constrained = true
		if len(s.Required) > 64 {
			return nil
		}
		f.props = make(map[string]fastProp, len(s.Properties)+len(s.Required))
		for name, ps := range s.Properties {
			p := compileFastDepth(ps, depth+1)
			if p == nil {
				return nil
			}
			f.props[name] = fastProp{s: p, declared: true}
		}
		for _, name := range s.Required {
			p := f.props[name]
			if p.bit != 0 {
				continue // listed twice
			}
			p.bit = 1 << f.nRequired
			f.nRequired++
			f.props[name] = p
		}
	}
	switch a := s.AdditionalProperties.(type) {
	case nil:
	case bool:
		if !a {
			constrained = true
			f.additional = additionalForbidden
		}
	case *jsonschema.Schema:
		constrained = true
		f.additional = additionalSchema
		if f.addSchema = compileFastDepth(a, depth+1); f.addSchema == nil {
			return nil
		}
	default:
		return nil
	}
	switch it := s.Items.(type) {
	case nil:
	case *jsonschema.Schema:
		constrained = true
		if f.items = compileFastDepth(it, depth+1); f.items == nil {
			return nil
		}
	default: // a tuple of schemas
		return nil
	}
	f.anything = !constrained
	return f
}

// valid reports whether data certainly matches f. False means "not sure":
// the caller asks the library.
func (f *fastSchema) valid(data []byte) bool {
	v := fastValidator{b: data}
	if !v.value(f, 0) {
		return false
	}
	v.space()
	return v.i == len(v.b)
}

// fastValidator reads one JSON document. With a nil schema it is a strict
// syntax check (stricter than encoding/json: it also refuses invalid UTF-8
// and nesting beyond maxFastDepth).
type fastValidator struct {
	b        []byte
	i        int
	sawSpace bool // white space between tokens was skipped
}

func (v *fastValidator) space() {
	for v.i < len(v.b) {
		switch v.b[v.i] {
		case ' ', '\t', '\n', '\r':
			v.sawSpace = true
			v.i++
		default:
			return
		}
	}
}

// value checks the value at v.i against f (nil: anything) and moves past it.
func (v *fastValidator) value(f *fastSchema, depth int) bool {
	if depth > maxFastDepth {
		return false
	}
	v.space()
	if v.i >= len(v.b) {
		return false
	}
	if f != nil && f.anything {
		f = nil
	}
	switch c := v.b[v.i]; {
	case c == '{':
		return v.object(f, depth)
	case c == '[':
		if f != nil && (f.types != 0 && f.types&typeArray == 0 || f.enum != nil || f.format != nil) {
			return false
		}
		var items *fastSchema
		if f != nil {
			items = f.items
		}
		v.i++
		v.space()
		if v.i < len(v.b) && v.b[v.i] == ']' {
			v.i++
			return true
		}
		for {
			if !v.value(items, depth+1) {
				return false
			}
			v.space()
			if v.i >= len(v.b) {
				return false
			}
			switch v.b[v.i] {
			case ']':
				v.i++
				return true
			case ',':
				v.i++
			default:
				return false
			}
		}
	case c == '"':
		return v.str(f)
	case c == 't':
		return v.literal("true") && v.scalar(f, typeBoolean)
	case c == 'f':
		return v.literal("false") && v.scalar(f, typeBoolean)
	case c == 'n':
		return v.literal("null") && v.scalar(f, typeNull)
	case c == '-' || c >= '0' && c <= '9':
		return v.number(f)
	}
	return false
}

// scalar checks a null or boolean against f.
func (v *fastValidator) scalar(f *fastSchema, t fastTypes) bool {
	return f == nil || (f.types == 0 || f.types&t != 0) && f.enum == nil && f.format == nil
}

func (v *fastValidator) literal(s string) bool {
	if len(v.b)-v.i < len(s) || string(v.b[v.i:v.i+len(s)]) != s {
		return false
	}
	v.i += len(s)
	return true
}

func (v *fastValidator) object(f *fastSchema, depth int) bool {
	if f != nil && (f.types != 0 && f.types&typeObject == 0 || f.enum != nil || f.format != nil) {
		return false
	}
	v.i++ // '{'
	var seen uint64
	v.space()
	if v.i < len(v.b) && v.b[v.i] == '}' {
		v.i++
		return f == nil || f.nRequired == 0
	}
	for {
		v.space()
		key, escaped, ok := v.rawString()
		if !ok {
			return false
		}
		v.space()
		if v.i >= len(v.b) || v.b[v.i] != ':' {
			return false
		}
		v.i++
		var vs *fastSchema
		if f != nil {
			if escaped && (f.props != nil || f.additional != additionalAllowed) {
				return false // the key's value decides which schema applies
			}
			p := f.props[string(key)]
			seen |= p.bit
			if p.declared {
				vs = p.s
			} else {
				switch f.additional {
				case additionalForbidden:
					return false
				case additionalSchema:
					vs = f.addSchema
				}
			}
		}
		if !v.value(vs, depth+1) {
			return false
		}
		v.space()
		if v.i >= len(v.b) {
			return false
		}
		switch v.b[v.i] {
		case '}':
			v.i++
			return f == nil || f.nRequired == 0 || seen == 1<<f.nRequired-1
		case ',':
			v.i++
		default:
			return false
		}
	}
}

// rawString reads a string and returns its bytes between the quotes,
// whether it has escapes (then the bytes are not its value), and whether it
// is a valid JSON string. A string with invalid UTF-8 is refused (the library
// would see it with replacement characters).
func (v *fastValidator) rawString() (raw []byte, escaped, ok bool) {
	if v.i >= len(v.b) || v.b[v.i] != '"' {
		return nil, false, false
	}
	start := v.i + 1
	ascii := true
	for j := start; j < len(v.b); j++ {
		c := v.b[j]
		switch {
		case c == '"':
			raw = v.b[start:j]
			if !ascii && !utf8.Valid(raw) {
				return nil, false, false
			}
			v.i = j + 1
			return raw, escaped, true
		case c == '\\':
			escaped = true
			j++
			if j >= len(v.b) {
				return nil, false, false
			}
			switch v.b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(v.b) {
					return nil, false, false
				}
				for _, h := range v.b[j+1 : j+5] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return nil, false, false
					}
				}
				j += 4
			default:
				return nil, false, false
			}
		case c < 0x20:
			return nil, false, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false, false
}

// str checks a string against f.
func (v *fastValidator) str(f *fastSchema) bool {
	raw, escaped, ok := v.rawString()
	if !ok {
		return false
	}
	if f == nil {
		return true
	}
	if f.types != 0 && f.types&typeString == 0 {
		return false
	}
	if escaped && (f.enum != nil || f.format != nil || f.pattern != nil || f.minLen >= 0 || f.maxLen >= 0) {
		return false // its value matters: the library unescapes it
	}
	if f.enum != nil {
		found := false
		for _, e := range f.enum {
			if string(raw) == e {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	if f.minLen >= 0 || f.maxLen >= 0 {
		n := utf8.RuneCount(raw)
		if f.minLen >= 0 && n < f.minLen || f.maxLen >= 0 && n > f.maxLen {
			return false
		}
	}
	if f.pattern == nil && f.format == nil {
		return true
	}
	if f.match != nil {
		if !f.match(raw) {
			return false
		}
	} else if f.pattern != nil {
		// The library compiles patterns with regexp unless told otherwise;
		// Match reads the bytes without copying them into a string.
		if re, ok := f.pattern.(*regexp.Regexp); ok {
			if !re.Match(raw) {
				return false
			}
		} else if !f.pattern.MatchString(string(raw)) {
			return false
		}
	}
	return f.format == nil || f.format.Validate(string(raw)) == nil
}

// number checks -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? against f.
// Only integer literals that fit an int64 are checked against integer types
// and bounds; anything else there is left to the library.
func (v *fastValidator) number(f *fastSchema) bool {
	start := v.i
	digits := func() int {
		n := 0
		for v.i < len(v.b) && v.b[v.i] >= '0' && v.b[v.i] <= '9' {
			v.i++
			n++
		}
		return n
	}
	if v.b[v.i] == '-' {
		v.i++
	}
	if v.i < len(v.b) && v.b[v.i] == '0' {
		v.i++
	} else if digits() == 0 {
		return false
	}
	integer := true
	if v.i < len(v.b) && v.b[v.i] == '.' {
		integer = false
		v.i++
		if digits() == 0 {
			return false
		}
	}
	if v.i < len(v.b) && (v.b[v.i] == 'e' || v.b[v.i] == 'E') {
		integer = false
		v.i++
		if v.i < len(v.b) && (v.b[v.i] == '+' || v.b[v.i] == '-') {
			v.i++
		}
		if digits() == 0 {
			return false
		}
	}
	if f == nil {
		return true
	}
	if f.enum != nil || f.format != nil {
		return false
	}
	if f.types != 0 && f.types&typeNumber == 0 && (f.types&typeInteger == 0 || !integer) {
		return false
	}
	if !f.hasMin && !f.hasMax {
		return true
	}
	if !integer {
		return false
	}
	n, err := strconv.ParseInt(string(v.b[start:v.i]), 10, 64)
	if err != nil {
		return false
	}
	return (!f.hasMin || n >= f.min) && (!f.hasMax || n <= f.max)
}

// knownPatterns are hand-written matchers of the patterns the schemas of
// cdcflow mappings use most, by their source text.
var knownPatterns = map[string]func([]byte) bool{
	`^(-?[0-9]+(\.[0-9]+)?|NaN|-?Infinity)$`: func(b []byte) bool {
		switch string(b) {
		case "NaN", "Infinity", "-Infinity":
			return true
		}
		return matchDecimal(b)
	},
	`^-?[0-9]+(\.[0-9]+)?$`: matchDecimal,
	`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}$`: matchLocalTimestamp,
}

// matchDecimal matches ^-?[0-9]+(\.[0-9]+)?$.
func matchDecimal(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	n := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		n++
	}
	if n == 0 {
		return false
	}
	if i == len(b) {
		return true
	}
	if b[i] != '.' {
		return false
	}
	i++
	n = 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		n++
	}
	return n > 0 && i == len(b)
}

// matchLocalTimestamp matches
// ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}$.
func matchLocalTimestamp(b []byte) bool {
	const form = "0000-00-00T00:00:00.000000"
	if len(b) != len(form) {
		return false
	}
	for i := range len(form) {
		if form[i] == '0' {
			if b[i] < '0' || b[i] > '9' {
				return false
			}
		} else if b[i] != form[i] {
			return false
		}
	}
	return true
}
