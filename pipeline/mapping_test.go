package pipeline

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"

	"github.com/cdcflow/cdcflow/capture"
)

// ordersRel is a small orders table for the table tests.
func ordersRel(identity capture.ReplicaIdentity) *capture.Relation {
	return &capture.Relation{Schema: "public", Table: "orders", ReplicaIdentity: identity, Columns: []capture.Column{
		{Name: "id", TypeName: "int8", Key: true},
		{Name: "status", TypeName: "bpchar"},
		{Name: "total", TypeName: "numeric"},
		{Name: "card", TypeName: "text"},
	}}
}

const goodMapping = `version: 1
tables:
  - table: public.orders
    exclude: [card]
    aggregate:
      type: order
      id: string(row.id)
    events:
      - type: OrderPromised
        version: 1
        when: op == "update" && old.status == "N" && row.status == "C"
        data:
          id: row.id
          total: row.total
`

func TestLoadGood(t *testing.T) {
	m, err := Parse("m.yaml", []byte(goodMapping), nil, LoadOptions{Schema: SchemaOf(ordersRel(capture.IdentityFull))})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := m.Topic("order"); got != "order" {
		t.Errorf("Topic(order) = %q; want %q", got, "order")
	}
	if got := m.DeadLetterTopic(); got != "deadletter" {
		t.Errorf("DeadLetterTopic() = %q; want %q", got, "deadletter")
	}
}

// TestLoadErrors checks that each kind of bad mapping is reported with the
// file, the line and (where there is one) the rule.
func TestLoadErrors(t *testing.T) {
	full := SchemaOf(ordersRel(capture.IdentityFull))
	tests := []struct {
		name   string
		src    string
		schema Schema
		want   []string // substrings of the error, in order
	}{
		{"not yaml", "version: [1\n", nil, []string{"m.yaml: parse YAML"}},
		{"empty", "", nil, []string{"m.yaml: the file is empty"}},
		{"wrong version", "version: 2\ntables: []\n", nil, []string{"version must be 1, not 2"}},
		{"unknown top key", "version: 1\ntables: []\ntopic: x\n", nil, []string{"m.yaml:3:", `unknown key topic (did you mean topics?)`}},
		{"missing tables", "version: 1\n", nil, []string{`missing key "tables"`}},
		{"bad timezone", "version: 1\ntimezone: Mars/Olympus\ntables: []\n", nil, []string{"m.yaml:2:", `timezone "Mars/Olympus"`}},
		{"bad size", "version: 1\nlimits:\n  max_event_bytes: lots\ntables: []\n", nil, []string{"m.yaml:3:", `limits.max_event_bytes: "lots" is not a size in bytes`}},
		{"bad table name", strings.Replace(goodMapping, "public.orders", `public."orders`, 1), nil, []string{"m.yaml:3:", "unterminated quote"}},
		{"table twice", goodMapping + `  - table: orders
    aggregate: {type: order, id: string(row.id)}
`, nil, []string{"m.yaml:15:", "mapped twice"}},
		{"no aggregate", "version: 1\ntables:\n  - table: t\n    events:\n      - {type: A, version: 1, data: {a: row.a}}\n", nil, []string{"m.yaml:3:", "no aggregate"}},
		{"cel syntax", strings.Replace(goodMapping, `row.status == "C"`, `row.status == `, 1), nil,
			[]string{"m.yaml:11:", "rule public.orders/OrderPromised: when: Syntax error"}},
		{"cel undeclared", strings.Replace(goodMapping, "row.total", "rows.total", 1), nil,
			[]string{"m.yaml:14:", "rule public.orders/OrderPromised: field total: undeclared reference to 'rows'"}},
		{"when not bool", strings.Replace(goodMapping, `op == "update" && old.status == "N" && row.status == "C"`, `op`, 1), nil,
			[]string{"m.yaml:11:", "when must be of type bool, not string"}},
		{"changed not literal", strings.Replace(goodMapping, `op == "update" &&`, `changed(op) &&`, 1), nil,
			[]string{"m.yaml:11:", "changed() takes a column name in quotes"}},
		{"version zero", strings.Replace(goodMapping, "version: 1\n        when", "version: 0\n        when", 1), nil,
			[]string{"m.yaml:9:", "version must be 1 or more"}},
		{"unknown event key", strings.Replace(goodMapping, "        data:", "        dta: {}\n        data:", 1), nil,
			[]string{"m.yaml:12:", `unknown key tables[0].events[0].dta (did you mean data?)`}},
		{"bad as", strings.Replace(goodMapping, "id: row.id", "id: {value: row.id, as: int}", 1), nil,
			[]string{"m.yaml:13:", `as "int" is not supported`}},
		{"reserved field", strings.Replace(goodMapping, "id: row.id", "unchanged: row.id", 1), nil,
			[]string{"m.yaml:13:", `field name "unchanged" is reserved`}},
		{"uses excluded column", strings.Replace(goodMapping, "total: row.total", "total: row.card", 1), nil,
			[]string{"m.yaml:14:", `uses column "card", which the table entry excludes`}},
		{"unknown table", goodMapping, SchemaOf(&capture.Relation{Schema: "public", Table: "other"}),
			[]string{"m.yaml:3:", "table public.orders does not exist in the database"}},
		{"unknown column", strings.Replace(goodMapping, "row.total", "row.totl", 1), full,
			[]string{"m.yaml:14:", `rule public.orders/OrderPromised: table public.orders has no column "totl"`}},
		{"unknown column, a typo", strings.Replace(goodMapping, "row.total", "row.totla", 1), full,
			[]string{"m.yaml:14:", `has no column "totla" (did you mean "total"?)`}},
		{"unknown column by index", strings.Replace(goodMapping, "row.total", `row["totl"]`, 1), full,
			[]string{"m.yaml:14:", `table public.orders has no column "totl"`}},
		{"column case", strings.Replace(goodMapping, "row.total", "row.Total", 1), full,
			[]string{`no column "Total" (did you mean "total"?)`}},
		{"old without full identity", goodMapping, SchemaOf(ordersRel(capture.IdentityDefault)),
			[]string{"m.yaml:11:", `uses the old value of "status"`, "REPLICA IDENTITY FULL"}},
		{"reserved event type", strings.Replace(goodMapping, "type: OrderPromised", "type: cdcflow.Truncate", 1), nil,
			[]string{"m.yaml:9:", `the prefix "cdcflow." is reserved`}},
		{"aggregate on the dead-letter topic", strings.Replace(goodMapping, "type: order", "type: deadletter", 1), nil,
			[]string{"m.yaml:6:", `would share topic "deadletter" with the dead letters`}},
		{"bad aggregate type", strings.Replace(goodMapping, "type: order", "type: or der", 1), nil,
			[]string{"m.yaml:6:", `aggregate type "or der"`}},
		{"two versions of a type", goodMapping + `      - name: again
        type: OrderPromised
        version: 2
        data: {id: row.id}
`, nil, []string{"m.yaml:15:", "emitted at version 2 here and 1 elsewhere"}},
		{"gather own table", strings.Replace(goodMapping, "          total: row.total\n", "          total: row.total\n        gather:\n          - {field: x, table: orders, key: string(row.id), data: {a: row.id}}\n", 1), nil,
			[]string{"m.yaml:16:", "cannot gather rows of its own table"}},
		{"upcaster without from", goodMapping + "upcasters:\n  - type: OrderPromised\n", nil, []string{"m.yaml:16:", `upcasters[0]: missing key "from"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("m.yaml", []byte(tt.src), nil, LoadOptions{Schema: tt.schema})
			if err == nil {
				t.Fatalf("Parse = nil error; want %q", tt.want)
			}
			msg := err.Error()
			rest := msg
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("Parse error = %q; want it to contain %q (in order)", msg, w)
				}
				rest = rest[i+len(w):]
			}
			var me *MappingError
			if !errors.As(err, &me) {
				t.Errorf("Parse error %T is not a *MappingError", err)
			}
		})
	}
}

// TestLoadReportsEverything checks that one load reports every problem of the
// file, not just the first.
// TestLoadSyntaxErrorAlone: a syntax error is reported alone, without what
// the macros say about the parser's recovery guess.
func TestLoadSyntaxErrorAlone(t *testing.T) {
	src := strings.Replace(goodMapping, `op == "update" &&`, `changed("status" &&`, 1)
	_, err := Parse("m.yaml", []byte(src), nil, LoadOptions{})
	if err == nil {
		t.Fatal("Parse = nil error; want a syntax error")
	}
	msg := err.Error()
	if !strings.Contains(msg, "m.yaml:11:") || !strings.Contains(msg, "when: Syntax error: missing ')'") {
		t.Errorf("Parse error = %q; want the syntax error at m.yaml:11", msg)
	}
	if strings.Contains(msg, "takes a column name") {
		t.Errorf("Parse error = %q; want the syntax error alone", msg)
	}
}

func TestLoadReportsEverything(t *testing.T) {
	src := strings.NewReplacer("row.total", "row.totl", `row.status == "C"`, `row.stat == "C"`).Replace(goodMapping)
	_, err := Parse("m.yaml", []byte(src), nil, LoadOptions{Schema: SchemaOf(ordersRel(capture.IdentityFull))})
	var es MappingErrors
	if !errors.As(err, &es) || len(es) != 2 {
		t.Fatalf("Parse error = %v; want 2 problems", err)
	}
}

// TestAlterTable checks that a Relation that breaks a rule stops the mapper
// with an error naming rule and column, and that DeadLetterBrokenRules turns
// that into dead letters instead.
func TestAlterTable(t *testing.T) {
	m, err := Parse("m.yaml", []byte(goodMapping), nil, LoadOptions{Schema: SchemaOf(ordersRel(capture.IdentityFull))})
	if err != nil {
		t.Fatal(err)
	}
	dropped := ordersRel(capture.IdentityFull)
	dropped.Columns = dropped.Columns[:2] // total and card dropped
	retyped := ordersRel(capture.IdentityFull)
	retyped.Columns[1].TypeName = "int4"
	notFull := ordersRel(capture.IdentityDefault)
	droppedNotFull := ordersRel(capture.IdentityDefault)
	droppedNotFull.Columns = droppedNotFull.Columns[:2]
	widened := ordersRel(capture.IdentityFull)
	widened.Columns = append(widened.Columns, capture.Column{Name: "note", TypeName: "text"})
	tests := []struct {
		name string
		rel  *capture.Relation
		want string // "" for no error
	}{
		{"column added", widened, ""},
		{"used column dropped", dropped, `table public.orders changed: rule public.orders/OrderPromised uses column "total", which was dropped`},
		{"used column retyped", retyped, `rule public.orders/OrderPromised uses column "status", which changed type from bpchar to int4`},
		{"identity no longer full", notFull, `table public.orders lost REPLICA IDENTITY FULL (it was DEFAULT when the change was written): rule public.orders/OrderPromised uses the old value of "status"`},
		{"identity no longer full and column dropped", droppedNotFull, `uses column "total", which was dropped`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			change := &capture.Change{Op: capture.OpUpdate, FinalLSN: 0x100, Relation: tt.rel,
				New: make([]capture.Value, len(tt.rel.Columns)), Old: make([]capture.Value, len(tt.rel.Columns))}
			mp, err := NewMapper(m, MapperOptions{})
			if err != nil {
				t.Fatal(err)
			}
			mp.Begin(&capture.Begin{FinalLSN: 0x100})
			err = mp.Change(change, func(Event) {})
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Change = %v; want nil", err)
				}
				return
			}
			var rb *RuleBrokenError
			if !errors.As(err, &rb) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Change = %v; want a *RuleBrokenError containing %q", err, tt.want)
			}
			mp, _ = NewMapper(m, MapperOptions{DeadLetterBrokenRules: true})
			var got []Event
			if err := mp.Change(change, func(e Event) { got = append(got, e) }); err != nil {
				t.Fatalf("Change with DeadLetterBrokenRules = %v; want nil", err)
			}
			if len(got) != 1 || !got[0].DeadLetter {
				t.Fatalf("Change with DeadLetterBrokenRules emitted %d events; want one dead letter", len(got))
			}
			var dl DeadLetter
			if err := json.Unmarshal(got[0].Data, &dl); err != nil || !strings.Contains(dl.Reason, tt.want) {
				t.Fatalf("dead letter %s (%v); want a reason containing %q", got[0].Data, err, tt.want)
			}
		})
	}
}

// TestLostFullIdentityDeadLettersOnlyWhatLacksTheOldRow checks that, with
// DeadLetterBrokenRules, a table whose identity is no longer FULL dead-letters
// its updates and deletes (written without the old row its rules read) with
// the reason, and still maps its inserts and snapshot rows.
func TestLostFullIdentityDeadLettersOnlyWhatLacksTheOldRow(t *testing.T) {
	const mapping = `version: 1
tables:
  - table: public.orders
    aggregate:
      type: order
      id: string(row.id)
    state:
      type: OrderObserved
      version: 1
      data:
        id: row.id
    events:
      - type: OrderPlaced
        version: 1
        when: op == "insert"
        data:
          id: row.id
      - type: OrderPromised
        version: 1
        when: op == "update" && old.status == "N" && row.status == "C"
        data:
          id: row.id
      - type: OrderRemoved
        version: 1
        when: op == "delete"
        data:
          id: row.id
`
	m, err := Parse("m.yaml", []byte(mapping), nil, LoadOptions{Schema: SchemaOf(ordersRel(capture.IdentityFull))})
	if err != nil {
		t.Fatal(err)
	}
	rel := ordersRel(capture.IdentityDefault)
	row := []capture.Value{{Kind: capture.KindValue, Data: int64(7)}, {Kind: capture.KindValue, Data: "C"},
		{Kind: capture.KindNull}, {Kind: capture.KindNull}}
	keyOnly := []capture.Value{row[0], {}, {}, {}}
	tests := []struct {
		name     string
		change   capture.Change
		wantType string // the event's type, or "" for a dead letter
	}{
		{"insert", capture.Change{Op: capture.OpInsert, New: row}, "OrderPlaced"},
		{"snapshot row", capture.Change{Op: capture.OpRead, New: row, Epoch: 1}, "OrderObserved"},
		{"update", capture.Change{Op: capture.OpUpdate, New: row}, ""},
		{"delete", capture.Change{Op: capture.OpDelete, Old: keyOnly}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mp, err := NewMapper(m, MapperOptions{DeadLetterBrokenRules: true})
			if err != nil {
				t.Fatal(err)
			}
			c := tt.change
			c.Relation, c.FinalLSN = rel, 0x100
			var got []Event
			if c.Op != capture.OpRead {
				mp.Begin(&capture.Begin{FinalLSN: 0x100})
			}
			if err := mp.Change(&c, func(e Event) { got = append(got, e) }); err != nil {
				t.Fatalf("Change(%s) = %v; want nil", tt.name, err)
			}
			if c.Op != capture.OpRead {
				if err := mp.Commit(&capture.Commit{FinalLSN: 0x100, EndLSN: 0x101}, func(e Event) { got = append(got, e) }); err != nil {
					t.Fatalf("Commit = %v", err)
				}
			}
			if len(got) != 1 {
				t.Fatalf("Change(%s) emitted %d events; want 1", tt.name, len(got))
			}
			if tt.wantType != "" {
				if got[0].DeadLetter || got[0].Type != tt.wantType {
					t.Fatalf("Change(%s) emitted %s (dead letter %v); want %s", tt.name, got[0].Type, got[0].DeadLetter, tt.wantType)
				}
				return
			}
			var dl DeadLetter
			if err := json.Unmarshal(got[0].Data, &dl); err != nil || !got[0].DeadLetter || !strings.Contains(dl.Reason, "lost REPLICA IDENTITY FULL") {
				t.Fatalf("Change(%s) emitted %s %s; want a dead letter saying the table lost REPLICA IDENTITY FULL", tt.name, got[0].Type, got[0].Data)
			}
		})
	}
}

// TestAlterTableWithoutLoadSchema checks that, when Load had no live schema,
// the first relation seen is the reference later ones are compared with.
func TestAlterTableWithoutLoadSchema(t *testing.T) {
	m, err := Parse("m.yaml", []byte(goodMapping), nil, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mp, _ := NewMapper(m, MapperOptions{})
	first := ordersRel(capture.IdentityFull)
	vals := func(r *capture.Relation) []capture.Value { return make([]capture.Value, len(r.Columns)) }
	if err := mp.Change(&capture.Change{Op: capture.OpInsert, Relation: first, New: vals(first)}, func(Event) {}); err != nil {
		t.Fatalf("Change(first relation) = %v", err)
	}
	retyped := ordersRel(capture.IdentityFull)
	retyped.Columns[2].TypeName = "float8"
	err = mp.Change(&capture.Change{Op: capture.OpInsert, Relation: retyped, New: vals(retyped)}, func(Event) {})
	if err == nil || !strings.Contains(err.Error(), `"total", which changed type from numeric to float8`) {
		t.Fatalf("Change(retyped) = %v; want the retyped column named", err)
	}
}

func TestParseTableName(t *testing.T) {
	tests := []struct {
		in      string
		want    TableName
		wantErr bool
	}{
		{"orders", TableName{"public", "orders"}, false},
		{"Sales.Orders", TableName{"sales", "orders"}, false},
		{`public."OrderLines"`, TableName{"public", "OrderLines"}, false},
		{`"my schema"."a""b"`, TableName{"my schema", `a"b`}, false},
		{`"a.b".c`, TableName{"a.b", "c"}, false},
		{"a.b.c", TableName{}, true},
		{`"open`, TableName{}, true},
		{"a..b", TableName{}, true},
		{"", TableName{}, true},
		{"two words", TableName{}, true},
	}
	for _, tt := range tests {
		got, err := ParseTableName(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseTableName(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err == nil {
			back, err := ParseTableName(got.String())
			if err != nil || back != got {
				t.Errorf("ParseTableName(%q.String() = %q) = %v, %v; want %v", tt.in, got.String(), back, err, got)
			}
		}
	}
}

func TestLoadFromFS(t *testing.T) {
	fsys := fstest.MapFS{"conf/m.yaml": {Data: []byte(goodMapping)}}
	if _, err := Load(fsys, "conf/m.yaml", LoadOptions{}); err != nil {
		t.Fatalf("Load = %v", err)
	}
	if _, err := Load(fsys, "conf/missing.yaml", LoadOptions{}); err == nil {
		t.Fatal("Load(missing) = nil error")
	}
}

// TestDocsTutorial loads the tutorial mapping of docs/mapping.md against the
// table it describes, and checks the two-event update it promises.
func TestDocsTutorial(t *testing.T) {
	doc, err := os.ReadFile("../docs/mapping.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```yaml\n# tutorial: subscriptions\n")
	src, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/mapping.md has no tutorial mapping block")
	}
	rel := &capture.Relation{Schema: "public", Table: "Subscriptions", ReplicaIdentity: capture.IdentityFull, Columns: []capture.Column{
		{Name: "sub_id", TypeName: "int4", Key: true}, {Name: "cust_no", TypeName: "int4"}, {Name: "plan_code", TypeName: "bpchar"},
		{Name: "state", TypeName: "int2"}, {Name: "price", TypeName: "numeric"}, {Name: "iban", TypeName: "text"},
		{Name: "started", TypeName: "timestamp"}, {Name: "meta", TypeName: "jsonb"}}}
	m, err := Parse("tutorial.yaml", []byte(src), nil, LoadOptions{Schema: SchemaOf(rel)})
	if err != nil {
		t.Fatalf("tutorial mapping: %v", err)
	}
	v := func(d any) capture.Value { return capture.Value{Kind: capture.KindValue, Data: d} }
	row := func(state int64, price string) []capture.Value {
		return []capture.Value{v(int64(1)), v(int64(7)), v("PR"), v(state), v(capture.Numeric(price)), v("DE00"),
			v(capture.LocalTime{}), v(json.RawMessage(`{}`))}
	}
	mp, _ := NewMapper(m, MapperOptions{})
	var got []string
	err = mp.Change(&capture.Change{Op: capture.OpUpdate, Relation: rel, Old: row(0, "9.90"), New: row(1, "12.00")}, func(e Event) {
		got = append(got, e.Type+" "+string(e.Data))
	})
	want := []string{
		`SubscriptionConverted {"sub_id":1,"price":"12.00","yearly":"144.00"}`,
		`SubscriptionRepriced {"sub_id":1,"from":"9.90","to":"12.00","increase":true}`,
	}
	if err != nil || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("tutorial update = %q, %v; want %q", got, err, want)
	}
}

func TestOpFilter(t *testing.T) {
	bit := func(ops ...capture.Op) uint8 {
		var b uint8
		for _, o := range ops {
			b |= 1 << o
		}
		return b
	}
	tests := []struct {
		when string
		want uint8
	}{
		{`op == "update"`, bit(capture.OpUpdate)},
		{`"delete" == op`, bit(capture.OpDelete)},
		{`op == "update" && changed("status") && row.status == "C"`, bit(capture.OpUpdate)},
		{`(op == "insert" || op == "update") && row.status == "C"`, bit(capture.OpInsert, capture.OpUpdate)},
		{`(op == "update" && row.status == "X") || op == "delete"`, bit(capture.OpUpdate, capture.OpDelete)},
		{`op == "insert" && op == "update"`, opNone},
		{`op == "upsert"`, opNone},
		{`row.status == "C"`, 0},
		{`op == "insert" || row.status == "C"`, 0},
		{`op != "insert"`, 0},
	}
	compile := compileWhen(t)
	for _, tt := range tests {
		p := compile(tt.when)
		if p.ops != tt.want {
			t.Errorf("opFilter(%s) = %08b; want %08b", tt.when, p.ops, tt.want)
		}
	}
}

// TestRuleDecimals checks exact decimal arithmetic inside rules, on literals
// and on numeric columns, including comparisons with int literals.
func TestRuleDecimals(t *testing.T) {
	tests := []struct {
		when  string
		total string
		want  bool
	}{
		{`decimal("0.1") + decimal("0.2") == decimal("0.3")`, "0", true},
		{`decimal("1e30") + 1 != decimal("1e30")`, "0", true},
		{`row.total > 100`, "100.01", true},
		{`row.total > 100`, "100.00", false},
		{`100 <= row.total`, "100.00", true},
		{`row.total * 3 == decimal("0.3")`, "0.1", true},
		{`row.total == 1`, "1.000", true},
	}
	for _, tt := range tests {
		src := strings.Replace(goodMapping, `op == "update" && old.status == "N" && row.status == "C"`, tt.when, 1)
		m, err := Parse("m.yaml", []byte(src), nil, LoadOptions{})
		if err != nil {
			t.Fatalf("%s: %v", tt.when, err)
		}
		mp, _ := NewMapper(m, MapperOptions{})
		rel := ordersRel(capture.IdentityFull)
		v := func(d any) capture.Value { return capture.Value{Kind: capture.KindValue, Data: d} }
		n := 0
		err = mp.Change(&capture.Change{Op: capture.OpInsert, Relation: rel,
			New: []capture.Value{v(int64(1)), v("N"), v(capture.Numeric(tt.total)), v("4111")}}, func(e Event) {
			if e.DeadLetter {
				t.Errorf("%s with total %s: dead letter %s", tt.when, tt.total, e.Data)
			}
			n++
		})
		if err != nil || (n == 1) != tt.want {
			t.Errorf("when %s with total %s fired %d times (%v); want %v", tt.when, tt.total, n, err, tt.want)
		}
	}
}

// TestOpsOnly checks which conditions the mapper decides from the op alone,
// and that for those the answer is what CEL evaluates, for every op.
func TestOpsOnly(t *testing.T) {
	tests := []struct {
		when string
		only bool
	}{
		{`op == "update"`, true},
		{`"delete" == op`, true},
		{`op == "insert" || op == "update"`, true},
		{`(op == "insert" || op == "update") || "delete" == op`, true},
		{`op == "upsert"`, false},
		{`op == "insert" && op == "update"`, false},
		{`op == "update" && changed("status")`, false},
		{`op == "insert" || row.status == "C"`, false},
		{`op != "insert"`, false},
		{`true`, false},
	}
	compile := compileWhen(t)
	for _, tt := range tests {
		p := compile(tt.when)
		if p.opsOnly != tt.only {
			t.Errorf("%s: opsOnly %v; want %v", tt.when, p.opsOnly, tt.only)
		}
		if !p.opsOnly {
			continue
		}
		for op := capture.OpInsert; op <= capture.OpRead; op++ {
			a := &activation{op: types.String(op.String()), c: &capture.Change{Op: op}}
			got, err := evalBool(p, a)
			v, _, cerr := p.prg.Eval(a)
			if err != nil || cerr != nil || types.Bool(got) != v {
				t.Errorf("%s with op %s: mapper says %v (%v), CEL %v (%v)", tt.when, op, got, err, v, cerr)
			}
		}
	}
}

func TestMappingDigest(t *testing.T) {
	src := "version: 1\ntables: []\n"
	a, err := Parse("a.yaml", []byte(src), nil, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse("b.yaml", []byte(src), nil, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse("a.yaml", []byte(src+"# changed\n"), nil, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Digest()) != 16 || a.Digest() != b.Digest() || a.Digest() == c.Digest() {
		t.Errorf("digests %q %q %q: want 16 hex digits, equal for equal contents, different otherwise", a.Digest(), b.Digest(), c.Digest())
	}
}

// compileWhen returns a function that compiles a condition in the scope of
// goodMapping's rules.
func compileWhen(t *testing.T) func(when string) *program {
	t.Helper()
	m, err := Parse("m.yaml", []byte(goodMapping), nil, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return func(when string) *program {
		t.Helper()
		c := &compiler{m: m, p: &problems{file: "x"}, env: m.env}
		p := c.compileExpr(srcText{text: when, line: 1}, "r", "when", cel.BoolType)
		if p == nil {
			t.Fatalf("compile %q: %v", when, c.p.err())
		}
		return p
	}
}

// TestDecodeMergeKeys checks that rules may share a data block with an
// anchor, and that a "<<" merge takes the shared fields while the rule's own
// win.
func TestDecodeMergeKeys(t *testing.T) {
	const src = `version: 1
tables:
  - table: public.orders
    aggregate: {type: order, id: string(row.id)}
    events:
      - type: OrderPromised
        version: 1
        data: &common
          id: row.id
          total: row.total
      - type: OrderDeclined
        version: 1
        data:
          <<: *common
          total: row.total * 2
          status: row.status
`
	p := &problems{file: "m.yaml"}
	f := decodeFile([]byte(src), p)
	if err := p.err(); err != nil {
		t.Fatalf("decodeFile: %v", err)
	}
	var got []string
	for _, fd := range f.tables[0].events[1].data {
		got = append(got, fd.name+"="+fd.expr.text)
	}
	want := "id=row.id total=row.total * 2 status=row.status"
	if strings.Join(got, " ") != want {
		t.Errorf("merged data = %q; want %q", strings.Join(got, " "), want)
	}
}
