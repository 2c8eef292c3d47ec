package redisview

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	"github.com/cdcflow/cdcflow/pipeline"
	"github.com/cdcflow/cdcflow/pipeline/decimal"
)

func TestScaled(t *testing.T) {
	tests := []struct {
		in      ref.Val
		scale   int
		want    int64
		wantErr bool
	}{
		{decimal.Val(decimal.MustParse("12.34")), 2, 1234, false},
		{decimal.Val(decimal.MustParse("12.3")), 2, 1230, false},
		{decimal.Val(decimal.MustParse("-0.05")), 2, -5, false},
		{decimal.Val(decimal.MustParse("12.3400")), 2, 1234, false},
		{decimal.Val(decimal.MustParse("12.345")), 2, 0, true},
		{decimal.Val(decimal.MustParse("NaN")), 2, 0, true},
		{decimal.Val(decimal.MustParse("99999999999999999999")), 2, 0, true},
		{types.Int(7), 3, 7000, false},
		{types.Double(1.5), 2, 0, true},
	}
	for _, tt := range tests {
		got, err := scaled(tt.in, tt.scale)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("scaled(%v, %d) = %d, %v; want %d, error %v", tt.in, tt.scale, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestUnscale(t *testing.T) {
	tests := []struct {
		n     int64
		scale int
		want  string
	}{{1234, 2, "12.34"}, {5, 2, "0.05"}, {-5, 2, "-0.05"}, {0, 2, "0.00"}, {7, 0, "7"}, {-1230, 3, "-1.230"}}
	for _, tt := range tests {
		got, err := unscale(tt.n, tt.scale)
		if err != nil || got.String() != tt.want {
			t.Errorf("unscale(%d, %d) = %v, %v; want %s", tt.n, tt.scale, got, err, tt.want)
		}
	}
}

func TestDayOf(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in      ref.Val
		want    string
		wantErr bool
	}{
		{types.String("2026-11-23T22:30:00Z"), "2026-11-23", false},  // 23:30 in Berlin
		{types.String("2026-11-23T23:30:00Z"), "2026-11-24", false},  // 00:30 next day
		{types.String("2026-11-23T23:30:00.5"), "2026-11-23", false}, // local date-time, read in Berlin
		{types.String("2026-11-23"), "2026-11-23", false},
		{types.Timestamp{Time: time.Date(2026, 6, 30, 22, 0, 0, 0, time.UTC)}, "2026-07-01", false}, // summer time
		{types.String("yesterday"), "", true},
		{types.Int(1), "", true},
	}
	for _, tt := range tests {
		got, err := dayOf(tt.in, berlin)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("dayOf(%v) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestFieldText(t *testing.T) {
	tests := []struct {
		in   ref.Val
		want string
		ok   bool
	}{
		{types.String("x"), "x", true},
		{types.Int(-3), "-3", true},
		{types.Bool(true), "true", true},
		{decimal.Val(decimal.MustParse("1.50")), "1.50", true},
		{types.Timestamp{Time: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.FixedZone("x", 3600))}, "2026-01-02T02:04:05.000006Z", true},
		{types.NullValue, "", false},
	}
	for _, tt := range tests {
		got, ok, err := fieldText(tt.in)
		if err != nil || ok != tt.ok || got != tt.want {
			t.Errorf("fieldText(%v) = %q, %v, %v; want %q, %v", tt.in, got, ok, err, tt.want, tt.ok)
		}
	}
	if _, _, err := fieldText(types.NewStringList(types.DefaultTypeAdapter, []string{"a"})); err == nil {
		t.Error("fieldText(list) = nil error; want an error")
	}
}

func TestEncodeHistoryMatchesMarshal(t *testing.T) {
	at := time.Date(2026, 11, 23, 23, 30, 0, 123000, time.FixedZone("x", 3600))
	for _, ev := range []pipeline.Event{
		{Type: "OrderRequested", Version: 2, ID: "e1", Position: "0000/01", Time: at, Data: []byte(`{"a": 1, "b": "x y"}`)},
		{Type: "OrderAccepted", ID: "e2", Position: "p", Time: at.UTC()},
		{Type: "Odd<type>", ID: "e\"3", Position: "p", Time: at, Data: []byte(`{"html":"<b>&amp;</b>"}`)},
		{Type: "T", ID: "é", Position: "p", Time: at, Data: []byte("\n[1,\n2]\n")},
		{Type: "T", ID: "i", Position: "p", Time: time.Time{}, Data: []byte(`"\u2028"`)},
	} {
		want, werr := json.Marshal(historyEntry{Type: ev.Type, Version: ev.Version, ID: ev.ID, Position: string(ev.Position), Time: ev.Time, Data: ev.Data})
		got, gerr := encodeHistory(ev)
		if string(got) != string(want) || (werr == nil) != (gerr == nil) {
			t.Errorf("encodeHistory(%+v) = %s, %v; json.Marshal: %s, %v", ev, got, gerr, want, werr)
		}
	}
	if _, err := encodeHistory(pipeline.Event{Type: "T", Data: []byte(`{bad`)}); err == nil {
		t.Error("encodeHistory accepted invalid data")
	}
}

func TestStateRefs(t *testing.T) {
	envs, err := newCELEnvs(time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		src    string
		fields []string
		all    bool
	}{
		{`state.status == "requested"`, []string{"status"}, false},
		{`has(state.total) ? decimal(state.total) : decimal("0")`, []string{"total"}, false},
		{`state["ordered_at"] + state.customer_id`, []string{"ordered_at", "customer_id"}, false},
		{`size(state) > 2`, nil, true},
		{`state[state.k] == "x"`, []string{"k"}, true},
		{`"constant"`, nil, false},
	} {
		p, err := envs.compile(tt.src, exprField)
		if err != nil {
			t.Fatalf("%s: %v", tt.src, err)
		}
		if !slices.Equal(p.refs.fields, tt.fields) || p.refs.all != tt.all {
			t.Errorf("%s: refs %v all=%v, want %v all=%v", tt.src, p.refs.fields, p.refs.all, tt.fields, tt.all)
		}
	}
	r := stateRefs{fields: []string{"a"}}
	if !r.same(map[string]string{"a": "1", "b": "2"}, map[string]string{"a": "1"}) || r.same(map[string]string{"a": "1"}, map[string]string{}) || r.same(nil, map[string]string{}) || !r.same(nil, nil) {
		t.Error("stateRefs.same")
	}
}

func TestDeriveGroupKeys(t *testing.T) {
	src, err := os.ReadFile("testdata/groupday.views.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseDefinitions(src)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name              string
		state             map[string]string
		wantDay, wantComp string // "": not in the view
	}{
		{"UTC morning", map[string]string{"status": "accepted", "total": "1.00", "currency": "EUR", "ordered_at": "2026-11-23T10:00:00Z"},
			"2026-11-23", "2026-11-23|EUR"},
		{"UTC late evening is the next Berlin day", map[string]string{"status": "accepted", "total": "1.00", "currency": "USD", "ordered_at": "2026-11-23T23:30:00Z"},
			"2026-11-24", "2026-11-24|USD"},
		{"local date-time read in Berlin", map[string]string{"status": "accepted", "total": "1.00", "currency": "USD", "ordered_at": "2026-11-23T23:30:00"},
			"2026-11-23", "2026-11-23|USD"},
		{"separator in a part is escaped", map[string]string{"status": "accepted", "total": "1.00", "currency": "E|R%", "ordered_at": "2026-11-23T10:00:00Z"},
			"2026-11-23", "2026-11-23|E%7CR%25"},
		{"not accepted", map[string]string{"status": "requested", "total": "1.00", "currency": "EUR", "ordered_at": "2026-11-23T10:00:00Z"},
			"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			der, err := d.deriveAll("order", map[string]map[string]string{"order": tt.state}, nil, nil)
			if err != nil {
				t.Fatalf("deriveAll(%v): %v", tt.state, err)
			}
			for view, want := range map[string]string{"revenue_per_day": tt.wantDay, "revenue_per_day_currency": tt.wantComp} {
				m := der[view]
				if m.in != (want != "") || m.key != want {
					t.Errorf("deriveAll(%v)[%s] = in %v, key %q; want key %q", tt.state, view, m.in, m.key, want)
				}
			}
		})
	}
	// A part that does not evaluate makes the event poison, naming the part.
	_, err = d.deriveAll("order", map[string]map[string]string{"order": {"status": "accepted", "total": "1", "ordered_at": "2026-11-23"}}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "group.currency") {
		t.Errorf("deriveAll without a currency = %v; want an error naming group.currency", err)
	}
}
