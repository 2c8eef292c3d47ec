package pipeline

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/internal/jsonx"
	"github.com/cdcflow/cdcflow/pipeline/decimal"
)

// This file converts between the three shapes of a value: capture.Value (what
// PostgreSQL sent, typed by capture), CEL values (what rules compute with) and
// event JSON. The conversions follow DESIGN.md's table "How PostgreSQL values
// become event data".

// Formats of timestamps in event JSON: always six fractional digits, so that
// values sort as strings.
const (
	localTimeLayout = "2006-01-02T15:04:05.000000"
	utcTimeLayout   = "2006-01-02T15:04:05.000000Z"
)

// toCEL converts a captured value (Kind == KindValue or KindNull) to CEL.
// Timestamps without time zone are read in loc.
func toCEL(v capture.Value, loc *time.Location) ref.Val {
	if v.Kind == capture.KindNull {
		return types.NullValue
	}
	return dataToCEL(v.Data, loc)
}

func dataToCEL(d any, loc *time.Location) ref.Val {
	switch x := d.(type) {
	case nil:
		return types.NullValue
	case int64:
		return types.Int(x)
	case capture.Numeric:
		dec, err := decimal.Parse(string(x))
		if err != nil {
			return types.WrapErr(fmt.Errorf("numeric %q: %w", string(x), err))
		}
		return decimal.Val(dec)
	case float64:
		return types.Double(x)
	case bool:
		return types.Bool(x)
	case string:
		return types.String(x)
	case capture.LocalTime:
		return types.Timestamp{Time: wallInZone(x.Time, loc)}
	case time.Time:
		return types.Timestamp{Time: x}
	case json.RawMessage:
		var v any
		if err := json.Unmarshal(x, &v); err != nil {
			return types.WrapErr(fmt.Errorf("json value: %w", err))
		}
		return types.DefaultTypeAdapter.NativeToValue(v)
	case []byte:
		return types.Bytes(x)
	case []any:
		elems := make([]ref.Val, len(x))
		for i, e := range x {
			elems[i] = dataToCEL(e, loc)
		}
		return types.NewRefValList(types.DefaultTypeAdapter, elems)
	}
	return types.WrapErr(fmt.Errorf("unsupported captured value of Go type %T", d))
}

// wallInZone returns the instant at which clocks in loc show the wall-clock
// fields of wall (whose location is ignored). In a gap (clocks jump forward)
// the time moves forward by the gap, as PostgreSQL does; in an overlap (clocks
// go back) the earlier instant is taken.
func wallInZone(wall time.Time, loc *time.Location) time.Time {
	u := time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), wall.Second(), wall.Nanosecond(), time.UTC)
	if loc == time.UTC || loc == nil {
		return u
	}
	_, offBefore := u.Add(-24 * time.Hour).In(loc).Zone()
	_, offAfter := u.Add(24 * time.Hour).In(loc).Zone()
	t1 := u.Add(-time.Duration(offBefore) * time.Second)
	t2 := u.Add(-time.Duration(offAfter) * time.Second)
	ok1 := sameWall(t1.In(loc), u)
	ok2 := sameWall(t2.In(loc), u)
	switch {
	case ok1 && ok2:
		if t2.Before(t1) {
			return t2
		}
		return t1
	case ok1:
		return t1
	case ok2:
		return t2
	}
	// A gap: read with the offset in force before it, which lands past the gap.
	return t1
}

func sameWall(t, u time.Time) bool {
	y1, m1, d1 := t.Date()
	y2, m2, d2 := u.Date()
	return y1 == y2 && m1 == m2 && d1 == d2 && t.Hour() == u.Hour() && t.Minute() == u.Minute() &&
		t.Second() == u.Second() && t.Nanosecond() == u.Nanosecond()
}

// appendValueJSON appends the event JSON of a captured value passed through
// unchanged. asString writes numbers as strings (a bigint declared "as: string").
func appendValueJSON(b []byte, v capture.Value, asString bool) ([]byte, error) {
	if v.Kind == capture.KindNull {
		return append(b, "null"...), nil
	}
	return appendDataJSON(b, v.Data, asString)
}

func appendDataJSON(b []byte, d any, asString bool) ([]byte, error) {
	switch x := d.(type) {
	case nil:
		return append(b, "null"...), nil
	case int64:
		if asString {
			b = append(b, '"')
			b = strconv.AppendInt(b, x, 10)
			return append(b, '"'), nil
		}
		return strconv.AppendInt(b, x, 10), nil
	case capture.Numeric:
		return jsonx.AppendString(b, string(x)), nil
	case float64:
		return appendFloat(b, x, asString), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case string:
		return jsonx.AppendString(b, x), nil
	case capture.LocalTime:
		b = append(b, '"')
		b = x.Time.AppendFormat(b, localTimeLayout)
		return append(b, '"'), nil
	case time.Time:
		b = append(b, '"')
		b = x.UTC().AppendFormat(b, utcTimeLayout)
		return append(b, '"'), nil
	case json.RawMessage:
		// PostgreSQL prints jsonb with spaces ({"a": 1}); the event carries
		// it compacted, as the envelope writes it, so that EncodeEvent can
		// copy the data as it is.
		out, err := appendCompactJSON(b, x)
		if err != nil {
			return b, errors.New("json value is not valid JSON")
		}
		return out, nil
	case []byte:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, x)
		return append(b, '"'), nil
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendDataJSON(b, e, asString); err != nil {
				return b, err
			}
		}
		return append(b, ']'), nil
	}
	return b, fmt.Errorf("unsupported captured value of Go type %T", d)
}

func appendFloat(b []byte, f float64, asString bool) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(b, `"-Infinity"`...)
	}
	if asString {
		b = append(b, '"')
		b = strconv.AppendFloat(b, f, 'g', -1, 64)
		return append(b, '"')
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

// appendCELJSON appends the event JSON of a value a rule computed.
func appendCELJSON(b []byte, v ref.Val, asString bool, loc *time.Location) ([]byte, error) {
	switch x := v.(type) {
	case *types.Err:
		return b, x
	case types.Null:
		return append(b, "null"...), nil
	case types.Bool:
		return strconv.AppendBool(b, bool(x)), nil
	case types.Int:
		return appendDataJSON(b, int64(x), asString)
	case types.Uint:
		if asString {
			b = append(b, '"')
			b = strconv.AppendUint(b, uint64(x), 10)
			return append(b, '"'), nil
		}
		return strconv.AppendUint(b, uint64(x), 10), nil
	case types.Double:
		return appendFloat(b, float64(x), asString), nil
	case types.String:
		return jsonx.AppendString(b, string(x)), nil
	case types.Bytes:
		return appendDataJSON(b, []byte(x), false)
	case types.Timestamp:
		return appendDataJSON(b, x.Time, false)
	case types.Duration:
		return jsonx.AppendString(b, isoDuration(x.Duration)), nil
	case *rowVal:
		return x.appendJSON(b)
	}
	if d, ok := decimal.FromVal(v); ok {
		return jsonx.AppendString(b, d.String()), nil
	}
	if types.IsUnknown(v) {
		return b, errors.New("value is unknown")
	}
	switch x := v.(type) {
	case traits.Mapper:
		return appendMapJSON(b, x, asString, loc)
	case traits.Lister:
		b = append(b, '[')
		n, _ := x.Size().(types.Int)
		for i := types.Int(0); i < n; i++ {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendCELJSON(b, x.Get(i), asString, loc); err != nil {
				return b, err
			}
		}
		return append(b, ']'), nil
	}
	// Optional values and other types: fall back on their JSON conversion.
	native, err := v.ConvertToNative(reflect.TypeFor[any]())
	if err != nil {
		return b, fmt.Errorf("cannot write a %s as JSON", v.Type().TypeName())
	}
	j, err := json.Marshal(native)
	if err != nil {
		return b, fmt.Errorf("cannot write a %s as JSON: %w", v.Type().TypeName(), err)
	}
	return append(b, j...), nil
}

// appendMapJSON writes a CEL map with its keys sorted, so equal maps give equal
// bytes whatever the iteration order.
func appendMapJSON(b []byte, m traits.Mapper, asString bool, loc *time.Location) ([]byte, error) {
	var keys []string
	vals := map[string]ref.Val{}
	for it := m.Iterator(); it.HasNext() == types.True; {
		k := it.Next()
		ks, ok := k.(types.String)
		if !ok {
			s, err := k.ConvertToNative(reflect.TypeFor[string]())
			if err != nil {
				return b, fmt.Errorf("map key %v is not a string", k)
			}
			ks = types.String(s.(string))
		}
		keys = append(keys, string(ks))
		vals[string(ks)] = m.Get(k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonx.AppendString(b, k)
		b = append(b, ':')
		var err error
		if b, err = appendCELJSON(b, vals[k], asString, loc); err != nil {
			return b, err
		}
	}
	return append(b, '}'), nil
}

// isoDuration formats d as an ISO 8601 duration in seconds, e.g. "PT90.5S".
func isoDuration(d time.Duration) string {
	return "PT" + strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "S"
}
