package pgvalue

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/capture"
)

// col returns a column of a built-in type.
func col(name string) capture.Column {
	for oid, t := range builtinTypes {
		if t.name == name {
			return capture.Column{Name: "c", TypeOID: oid, TypeName: name}
		}
	}
	panic("no built-in type " + name)
}

func ts(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
	return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
}

// The texts below are what PostgreSQL 15 printed with DateStyle=ISO,
// IntervalStyle=postgres, extra_float_digits=3, TimeZone=UTC, bytea_output=hex
// and lc_monetary=C.
func TestDecode(t *testing.T) {
	tests := []struct {
		typ  string
		text string
		want any
	}{
		{"int2", "-32768", int64(-32768)},
		{"int4", "2147483647", int64(2147483647)},
		{"int8", "-9223372036854775808", int64(math.MinInt64)},
		{"oid", "4294967295", int64(4294967295)},
		{"numeric", "1234.5600", capture.Numeric("1234.5600")},
		{"numeric", "-0.5", capture.Numeric("-0.5")},
		{"numeric", "0.00000000000000000001", capture.Numeric("0.00000000000000000001")},
		{"numeric", "123456789012345678901234567890", capture.Numeric("123456789012345678901234567890")},
		{"numeric", "NaN", capture.Numeric("NaN")},
		{"numeric", "Infinity", capture.Numeric("Infinity")},
		{"numeric", "-Infinity", capture.Numeric("-Infinity")},
		{"money", "$1,234.57", capture.Numeric("1234.57")},
		{"money", "-$92,233,720,368,547,758.08", capture.Numeric("-92233720368547758.08")},
		{"money", "$0.00", capture.Numeric("0.00")},
		{"float4", "1.1", 1.1},
		{"float4", "3.4028235e+38", 3.4028235e+38},
		{"float8", "0.1", 0.1},
		{"float8", "1e+300", 1e300},
		{"float8", "1e-320", 1e-320},
		{"float8", "-0", math.Copysign(0, -1)},
		{"float8", "Infinity", math.Inf(1)},
		{"float8", "-Infinity", math.Inf(-1)},
		{"bool", "t", true},
		{"bool", "f", false},
		{"text", "héllo, wörld", "héllo, wörld"},
		{"text", "", ""},
		{"varchar", "x", "x"},
		{"bpchar", "Ab  ", "Ab  "},
		{"name", "pg_class", "pg_class"},
		{"uuid", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
		{"inet", "192.168.0.1/24", "192.168.0.1/24"},
		{"cidr", "10.0.0.0/8", "10.0.0.0/8"},
		{"macaddr", "08:00:2b:01:02:03", "08:00:2b:01:02:03"},
		{"xml", "<a/>", "<a/>"},
		{"bit", "100", "100"},
		{"date", "2026-11-23", "2026-11-23"},
		{"date", "4713-01-01 BC", "4713-01-01 BC"},
		{"date", "5874897-12-31", "5874897-12-31"},
		{"date", "infinity", "infinity"},
		{"date", "-infinity", "-infinity"},
		{"date", "2024-02-29", "2024-02-29"},
		{"timestamp", "2026-11-23 10:15:00.123", capture.LocalTime{Time: ts(2026, 11, 23, 10, 15, 0, 123_000_000)}},
		{"timestamp", "0001-01-01 00:00:00", capture.LocalTime{Time: ts(1, 1, 1, 0, 0, 0, 0)}},
		{"timestamp", "9999-12-31 23:59:59.999999", capture.LocalTime{Time: ts(9999, 12, 31, 23, 59, 59, 999_999_000)}},
		{"timestamp", "4713-01-01 00:00:00 BC", "4713-01-01 00:00:00 BC"},
		{"timestamp", "294276-12-31 23:59:59.999999", "294276-12-31 23:59:59.999999"},
		{"timestamp", "infinity", "infinity"},
		{"timestamptz", "2026-11-23 04:45:00.123+00", ts(2026, 11, 23, 4, 45, 0, 123_000_000)},
		{"timestamptz", "2026-11-23 15:45:00.123456+05:30", ts(2026, 11, 23, 10, 15, 0, 123_456_000)},
		{"timestamptz", "1800-01-01 05:53:28+05:53:28", ts(1800, 1, 1, 0, 0, 0, 0)},
		{"timestamptz", "0001-01-01 00:00:00+00", ts(1, 1, 1, 0, 0, 0, 0)},
		{"timestamptz", "4713-01-01 00:00:00+00 BC", "4713-01-01 00:00:00+00 BC"},
		{"timestamptz", "-infinity", "-infinity"},
		{"time", "15:04:05.123456", "15:04:05.123456"},
		{"time", "24:00:00", "24:00:00"},
		{"time", "00:00:00", "00:00:00"},
		{"timetz", "15:04:05.1+05:30", "15:04:05.1+05:30"},
		{"timetz", "15:04:05+00", "15:04:05+00:00"},
		{"timetz", "15:04:05-00:00:30", "15:04:05-00:00:30"},
		// Each interval's ISO 8601 form is what PostgreSQL prints for it with
		// IntervalStyle=iso_8601.
		{"interval", "1 year 2 mons 3 days 04:05:06.5", "P1Y2M3DT4H5M6.5S"},
		{"interval", "-1 days +02:00:00", "P-1DT2H"},
		{"interval", "00:00:00", "PT0S"},
		{"interval", "-1 years -2 mons +3 days -04:05:06", "P-1Y-2M3DT-4H-5M-6S"},
		{"interval", "178000000 years", "P178000000Y"},
		{"interval", "2562047788:00:54.775807", "PT2562047788H54.775807S"},
		{"interval", "-2562047788:00:54.775808", "PT-2562047788H-54.775808S"},
		{"interval", "1 day -00:00:00.000001", "P1DT-0.000001S"},
		{"interval", "3 mons", "P3M"},
		{"interval", "1 mon 1 day 00:00:01", "P1M1DT1S"},
		{"interval", "1 year", "P1Y"},
		{"interval", "00:01:00.500000", "PT1M0.5S"},
		{"json", `{"b":1, "a":[1,2]}`, json.RawMessage(`{"b":1, "a":[1,2]}`)},
		{"jsonb", `{"a": [1, 2], "b": 1}`, json.RawMessage(`{"a": [1, 2], "b": 1}`)},
		{"jsonb", `"x"`, json.RawMessage(`"x"`)},
		{"bytea", `\x00ff`, []byte{0, 0xff}},
		{"bytea", `\x`, []byte{}},
		{"bytea", `a\\b\001`, []byte{'a', '\\', 'b', 1}},
		{"_int4", "{{1,2},{3,NULL}}", []any{[]any{int64(1), int64(2)}, []any{int64(3), nil}}},
		{"_text", "[0:1]={a,b}", []any{"a", "b"}},
		{"_text", `{"a b","c\"d",NULL,"NULL",""}`, []any{"a b", `c"d`, nil, "NULL", ""}},
		{"_text", `{" x "}`, []any{" x "}},
		{"_text", `{null,NuLl}`, []any{nil, nil}},
		{"_int4", "{}", []any{}},
		{"_int4", "{{{1}}}", []any{[]any{[]any{int64(1)}}}},
		{"_box", "{(1,1),(0,0);(2,2),(1,1)}", []any{"(1,1),(0,0)", "(2,2),(1,1)"}},
		{"_bytea", `{"\\x01",NULL}`, []any{[]byte{1}, nil}},
		{"_timestamptz", `{"2026-01-01 00:00:00+00"}`, []any{ts(2026, 1, 1, 0, 0, 0, 0)}},
		{"_jsonb", `{"{\"a\": 1}"}`, []any{json.RawMessage(`{"a": 1}`)}},
		{"_numeric", `{1.5,NaN}`, []any{capture.Numeric("1.5"), capture.Numeric("NaN")}},
		{"_money", `{"$1,000.00"}`, []any{capture.Numeric("1000.00")}},
		{"_interval", `{"1 day","-00:00:01"}`, []any{"P1D", "PT-1S"}},
		{"_date", `{infinity,2026-01-02}`, []any{"infinity", "2026-01-02"}},
	}
	for _, tt := range tests {
		t.Run(tt.typ+"/"+tt.text, func(t *testing.T) {
			got, err := Decode(col(tt.typ), []byte(tt.text))
			if err != nil {
				t.Fatalf("Decode(%s, %q): %v", tt.typ, tt.text, err)
			}
			if got.Kind != capture.KindValue {
				t.Errorf("Decode(%s, %q).Kind = %v; want KindValue", tt.typ, tt.text, got.Kind)
			}
			if !reflect.DeepEqual(got.Data, tt.want) {
				t.Errorf("Decode(%s, %q) = %#v; want %#v", tt.typ, tt.text, got.Data, tt.want)
			}
		})
	}
}

func TestDecodeNaN(t *testing.T) {
	for _, typ := range []string{"float4", "float8"} {
		got, err := Decode(col(typ), []byte("NaN"))
		if err != nil {
			t.Fatalf("Decode(%s, NaN): %v", typ, err)
		}
		if f, ok := got.Data.(float64); !ok || !math.IsNaN(f) {
			t.Errorf("Decode(%s, NaN) = %#v; want float64 NaN", typ, got.Data)
		}
	}
}

// Types that are not built in are chosen by TypeName: pgoutput names a domain by
// its base type, enums and unknown types by their own name.
func TestDecodeByName(t *testing.T) {
	tests := []struct {
		name string
		col  capture.Column
		text string
		want any
	}{
		{"domain over numeric", capture.Column{TypeOID: 16390, TypeName: "numeric"}, "12.50", capture.Numeric("12.50")},
		{"domain over int8", capture.Column{TypeOID: 16391, TypeName: "int8"}, "42", int64(42)},
		{"enum", capture.Column{TypeOID: 16392, TypeName: "mood"}, "happy", "happy"},
		{"citext", capture.Column{TypeOID: 16393, TypeName: "citext"}, "MiXed", "MiXed"},
		{"unnamed", capture.Column{TypeOID: 16394}, "(1,2)", "(1,2)"},
		{"enum array", capture.Column{TypeOID: 16395, TypeName: "_mood"}, `{happy,"very sad",NULL}`, []any{"happy", "very sad", nil}},
		{"unknown composite array", capture.Column{TypeOID: 16396, TypeName: "_pair"}, `{"(1,2)"}`, []any{"(1,2)"}},
		{"built-in OID wins over name", capture.Column{TypeOID: 23, TypeName: "text"}, "7", int64(7)},
		{"underscore alone", capture.Column{TypeOID: 16397, TypeName: "_"}, "{x}", "{x}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(tt.col, []byte(tt.text))
			if err != nil {
				t.Fatalf("Decode(%+v, %q): %v", tt.col, tt.text, err)
			}
			if !reflect.DeepEqual(got.Data, tt.want) {
				t.Errorf("Decode(%+v, %q) = %#v; want %#v", tt.col, tt.text, got.Data, tt.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		typ, text string
	}{
		{"int2", "32768"},
		{"int4", "1.5"},
		{"int4", ""},
		{"int8", " 1"},
		{"int8", "1_000"},
		{"oid", "-1"},
		{"numeric", "1e5"},
		{"numeric", "1."},
		{"numeric", ".5"},
		{"numeric", "--1"},
		{"numeric", ""},
		{"money", "1234.56"},
		{"money", "1.234,56 €"},
		{"money", "$"},
		{"money", "$1.2.3"},
		{"float8", "inf"},
		{"float8", "0x1p3"},
		{"float8", "1_0"},
		{"float8", ""},
		{"float8", "1e999"},
		{"bool", "true"},
		{"bool", ""},
		{"date", "11/23/2026"},
		{"date", "Mon Nov 23 2026"},
		{"date", "2026-13-01"},
		{"date", "2026-02-30"},
		{"date", "2026-11-23 extra"},
		{"date", "26-11-23"},
		{"timestamp", "2026-11-23T10:15:00"},
		{"timestamp", "2026-11-23 10:15"},
		{"timestamp", "2026-11-23 25:00:00"},
		{"timestamp", "2026-11-23 10:15:00.1234567"},
		{"timestamp", "2026-11-23 10:15:00+00"},
		{"timestamp", "Mon Nov 23 10:15:00 2026"},
		{"timestamptz", "2026-11-23 10:15:00"},
		{"timestamptz", "2026-11-23 10:15:00 UTC"},
		{"timestamptz", "2026-11-23 10:15:00+5"},
		{"timestamptz", "2026-11-23 10:15:00+05:30:00:00"},
		{"timestamptz", "2026-11-23 10:15:00+05:3"},
		{"time", "15:04"},
		{"time", "24:00:01"},
		{"time", "15:04:05+00"},
		{"timetz", "15:04:05"},
		{"interval", "1 year 2 months"},
		{"interval", "@ 1 year"},
		{"interval", "P1Y"},
		{"interval", "1 day 1 year"},
		{"interval", "1"},
		{"interval", "1 day 00:60:00"},
		{"interval", "00:00:00 1 day"},
		{"interval", "1 day ago"},
		{"interval", ""},
		{"json", `{"a":`},
		{"jsonb", ""},
		{"bytea", `\x0`},
		{"bytea", `\xzz`},
		{"bytea", `\q`},
		{"bytea", `\400`},
		{"_int4", "{1,x}"},
		{"_int4", "{1,2"},
		{"_int4", "1,2"},
		{"_int4", "{1,,2}"},
		{"_int4", "{1}x"},
		{"_int4", "[1:2]{1,2}"},
		{"_text", `{"a}`},
		{"_text", `{a"b}`},
		{"_text", `{"a\`},
		{"_int4", "{{{{{{{1}}}}}}}"},
		{"_int4", ""},
		{"_int4", "{{0},{}}"},
		{"_int4", "{{1,2},{3}}"},
		{"_int4", "{1,{2}}"},
		{"_int4", "{{1},2}"},
	}
	for _, tt := range tests {
		t.Run(tt.typ+"/"+tt.text, func(t *testing.T) {
			got, err := Decode(col(tt.typ), []byte(tt.text))
			if err == nil {
				t.Fatalf("Decode(%s, %q) = %#v; want an error", tt.typ, tt.text, got.Data)
			}
			var de *Error
			if !errors.As(err, &de) || de.Column != "c" {
				t.Errorf("Decode(%s, %q) error %v is not an *Error naming the column", tt.typ, tt.text, err)
			}
		})
	}
}

// Errors quote at most a short excerpt: a long value must not end up in logs.
func TestDecodeErrorExcerpt(t *testing.T) {
	long := strings.Repeat("é", 100) + "SECRET"
	_, err := Decode(col("int4"), []byte(long))
	if err == nil {
		t.Fatal("Decode(int4, long text) succeeded")
	}
	if msg := err.Error(); strings.Contains(msg, "SECRET") || len(msg) > 120 {
		t.Errorf("error %q quotes too much of the value", msg)
	}
	if !strings.Contains(err.Error(), "int4") {
		t.Errorf("error %q does not name the type", err)
	}
}

// Decode must not retain its input: callers reuse their buffers.
func TestDecodeCopies(t *testing.T) {
	for _, typ := range []string{"text", "json", "bytea", "numeric", "_text", "date"} {
		var text []byte
		switch typ {
		case "bytea":
			text = []byte(`\x41`)
		case "_text":
			text = []byte(`{a}`)
		case "date":
			text = []byte(`2026-01-01`)
		default:
			text = []byte(`1`)
		}
		got, err := Decode(col(typ), text)
		if err != nil {
			t.Fatalf("Decode(%s): %v", typ, err)
		}
		before, _ := json.Marshal(got.Data)
		for i := range text {
			text[i] = 'Z'
		}
		after, _ := json.Marshal(got.Data)
		if string(before) != string(after) {
			t.Errorf("Decode(%s) result changed with its input: %s -> %s", typ, before, after)
		}
	}
}

func TestTypeName(t *testing.T) {
	tests := []struct {
		oid  uint32
		name string
		ok   bool
	}{
		{23, "int4", true},
		{1007, "_int4", true},
		{1700, "numeric", true},
		{3802, "jsonb", true},
		{790, "money", true},
		{16384, "", false},
	}
	for _, tt := range tests {
		name, ok := TypeName(tt.oid)
		if name != tt.name || ok != tt.ok {
			t.Errorf("TypeName(%d) = %q, %v; want %q, %v", tt.oid, name, ok, tt.name, tt.ok)
		}
	}
}
