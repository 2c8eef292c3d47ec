package pipeline

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/pipeline/decimal"
)

func TestWallInZone(t *testing.T) {
	tests := []struct {
		zone, wall, want string
	}{
		{"UTC", "2026-03-29T02:30:00", "2026-03-29T02:30:00Z"},
		{"Europe/Berlin", "2026-01-15T12:00:00", "2026-01-15T11:00:00Z"},
		{"Europe/Berlin", "2026-07-15T12:00:00", "2026-07-15T10:00:00Z"},
		// Gap: 02:00 -> 03:00 CEST; 02:30 moves forward to 03:30 CEST.
		{"Europe/Berlin", "2026-03-29T02:30:00", "2026-03-29T01:30:00Z"},
		// Overlap: 02:30 happens twice; the earlier (CEST, +02:00) is taken.
		{"Europe/Berlin", "2026-10-25T02:30:00", "2026-10-25T00:30:00Z"},
		{"America/New_York", "2026-03-08T02:15:00", "2026-03-08T07:15:00Z"},
		{"America/New_York", "2026-11-01T01:30:00", "2026-11-01T05:30:00Z"},
		// Lord Howe shifts by 30 minutes.
		{"Australia/Lord_Howe", "2026-10-04T02:10:00", "2026-10-03T15:40:00Z"},
		{"Australia/Lord_Howe", "2026-04-05T01:45:00", "2026-04-04T14:45:00Z"},
	}
	for _, tt := range tests {
		loc, err := time.LoadLocation(tt.zone)
		if err != nil {
			t.Fatal(err)
		}
		wall, _ := time.Parse("2006-01-02T15:04:05", tt.wall)
		got := wallInZone(wall, loc).UTC().Format(time.RFC3339)
		if got != tt.want {
			t.Errorf("wallInZone(%s, %s) = %s; want %s", tt.wall, tt.zone, got, tt.want)
		}
	}
}

func TestValueJSON(t *testing.T) {
	ts := time.Date(2026, 11, 23, 10, 15, 0, 123456789, time.UTC)
	tests := []struct {
		name     string
		v        capture.Value
		asString bool
		want     string
	}{
		{"null", capture.Value{Kind: capture.KindNull}, false, `null`},
		{"bigint", capture.Value{Kind: capture.KindValue, Data: int64(math.MaxInt64)}, false, `9223372036854775807`},
		{"bigint as string", capture.Value{Kind: capture.KindValue, Data: int64(-5)}, true, `"-5"`},
		{"numeric", capture.Value{Kind: capture.KindValue, Data: capture.Numeric("1234.5600")}, false, `"1234.5600"`},
		{"nan", capture.Value{Kind: capture.KindValue, Data: math.NaN()}, false, `"NaN"`},
		{"-inf", capture.Value{Kind: capture.KindValue, Data: math.Inf(-1)}, false, `"-Infinity"`},
		{"double", capture.Value{Kind: capture.KindValue, Data: 0.1}, false, `0.1`},
		{"text", capture.Value{Kind: capture.KindValue, Data: "a\"b\\c\n\x01\xff"}, false, `"a\"b\\c\n\u0001\ufffd"`},
		{"local time", capture.Value{Kind: capture.KindValue, Data: capture.LocalTime{Time: ts}}, false, `"2026-11-23T10:15:00.123456"`},
		{"timestamptz", capture.Value{Kind: capture.KindValue, Data: ts.In(time.FixedZone("x", 3600))}, false, `"2026-11-23T10:15:00.123456Z"`},
		{"jsonb raw", capture.Value{Kind: capture.KindValue, Data: json.RawMessage(`{"a": 1.50}`)}, false, `{"a":1.50}`},
		{"bytea", capture.Value{Kind: capture.KindValue, Data: []byte{0xde, 0xad}}, false, `"3q0="`},
		{"array", capture.Value{Kind: capture.KindValue, Data: []any{int64(1), nil, []any{"x"}}}, false, `[1,null,["x"]]`},
	}
	for _, tt := range tests {
		got, err := appendValueJSON(nil, tt.v, tt.asString)
		if err != nil || string(got) != tt.want {
			t.Errorf("%s: appendValueJSON = %s, %v; want %s", tt.name, got, err, tt.want)
		}
		if err == nil && !json.Valid(got) {
			t.Errorf("%s: %s is not valid JSON", tt.name, got)
		}
	}
	if _, err := appendValueJSON(nil, capture.Value{Kind: capture.KindValue, Data: json.RawMessage(`{`)}, false); err == nil {
		t.Error("appendValueJSON(invalid json) = nil error")
	}
}

func TestCELJSON(t *testing.T) {
	tests := []struct {
		name string
		v    ref.Val
		want string
	}{
		{"decimal", decimal.Val(decimal.MustParse("0.30")), `"0.30"`},
		{"map sorted", types.DefaultTypeAdapter.NativeToValue(map[string]any{"b": 1, "a": []any{true, nil}}), `{"a":[true,null],"b":1}`},
		{"timestamp", types.Timestamp{Time: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)}, `"2026-01-02T03:04:05.000006Z"`},
		{"duration", types.Duration{Duration: 90*time.Second + 500*time.Millisecond}, `"PT90.5S"`},
		{"uint", types.Uint(7), `7`},
		{"inf", types.Double(math.Inf(1)), `"Infinity"`},
		{"bytes", types.Bytes("hi"), `"aGk="`},
	}
	for _, tt := range tests {
		got, err := appendCELJSON(nil, tt.v, false, time.UTC)
		if err != nil || string(got) != tt.want {
			t.Errorf("%s: appendCELJSON = %s, %v; want %s", tt.name, got, err, tt.want)
		}
	}
	if _, err := appendCELJSON(nil, types.DefaultTypeAdapter.NativeToValue(map[int64]any{1: "x"}), false, time.UTC); err == nil {
		t.Error("appendCELJSON(map with int key) = nil error")
	}
}
