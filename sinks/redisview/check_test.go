package redisview

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/cdcflow/cdcflow/pipeline"
)

// checkMapping produces OrderRequested (with nested customer and lines),
// OrderNoted (no schema: open) for order, and CustomerRegistered for customer.
const checkMapping = `version: 1
schemas: schemas
tables:
  - table: public.orders
    aggregate: {type: order, id: string(row.id)}
    events:
      - type: OrderRequested
        version: 1
        when: op == "insert"
        data: {order_id: row.id, amount: row.amount, status: row.status}
      - type: OrderPaid
        version: 1
        when: op == "update"
        data: {order_id: row.id, amount: row.amount, paid_at: row.paid_at}
  - table: public.customers
    aggregate: {type: customer, id: string(row.id)}
    events:
      - type: CustomerRegistered
        version: 1
        data: {customer_id: row.id}
`

var checkSchemas = map[string]string{
	"OrderRequested": `{"type":"object","properties":{
		"order_id":{"type":"integer"},"amount":{"type":"string"},"status":{"type":"string"},
		"customer":{"type":"object","properties":{"name":{"type":"string"},"address":{"type":"object"}}},
		"lines":{"type":"array"}}}`,
	"OrderPaid":          `{"type":"object","properties":{"order_id":{"type":"integer"},"amount":{"type":"string"},"paid_at":{"type":"string"}}}`,
	"CustomerRegistered": `{"type":"object","additionalProperties":true,"properties":{"customer_id":{"type":"integer"}}}`,
}

func loadCheckMapping(t *testing.T) *pipeline.Mapping {
	t.Helper()
	fsys := fstest.MapFS{}
	for typ, s := range checkSchemas {
		fsys["schemas/"+typ+".v1.json"] = &fstest.MapFile{Data: []byte(s)}
	}
	m, err := pipeline.Parse("mapping.yaml", []byte(checkMapping), fsys, pipeline.LoadOptions{})
	if err != nil {
		t.Fatalf("Parse mapping: %v", err)
	}
	return m
}

func TestCheck(t *testing.T) {
	m := loadCheckMapping(t)
	const head = "version: 1\nviews:\n"
	tests := []struct {
		name  string
		views string
		want  []string // one substring per problem, in order; none: Check passes
	}{
		{"good", `  - name: order
    kind: entity
    aggregate: order
    on:
      - type: [OrderRequested, OrderPaid]
        set:
          amount: data.amount
          status: 'has(data.status) ? data.status : "paid"'
          paid_at: 'has(data.paid_at) ? data.paid_at : ""'
          customer: data.customer.name
          city: data["customer"].address.city
          lines: size(data.lines)
    delete_on: OrderPaid
  - name: customer
    kind: entity
    aggregate: customer
    on: [{type: CustomerRegistered, set: {anything: data.nickname}}]
  - name: by_status
    kind: aggregate
    entity: order
    group: state.status
  - name: history
    kind: history
    aggregate: order
    types: [OrderRequested, OrderPaid]
`, nil},
		{"misspelt field", `  - name: order
    kind: entity
    aggregate: order
    on:
      - type: OrderRequested
        set:
          total: data.amout
`, []string{`line 9: view "order": on.set.total: data.amout: no such field in OrderRequested v1 (did you mean amount?)`}},
		{"field in neither type", `  - name: order
    kind: entity
    aggregate: order
    on:
      - type: [OrderPaid, OrderRequested]
        set: {paid: 'has(data.payd_at) ? 1 : 0'}
`, []string{`line 8: view "order": on.set.paid: data.payd_at: no such field in OrderPaid v1, OrderRequested v1 (did you mean paid_at?)`}},
		{"nested field", `  - name: order
    kind: entity
    aggregate: order
    on: [{type: OrderRequested, set: {name: data.customer.nmae}}]
`, []string{`line 6: view "order": on.set.name: data.customer.nmae: no such field in OrderRequested v1 (did you mean name?)`}},
		{"field of a scalar", `  - name: order
    kind: entity
    aggregate: order
    on: [{type: OrderRequested, set: {n: data.amount.units, l: data.lines.first}}]
`, []string{
			`on.set.n: data.amount is a string: it has no field "units" in OrderRequested v1`,
			`on.set.l: data.lines is an array: it has no field "first" in OrderRequested v1`}},
		{"unknown event types", `  - name: order
    kind: entity
    aggregate: order
    on: [{type: OrderRequestd, set: {a: data.amount}}]
    delete_on: [OrderDeleted]
  - name: history
    kind: history
    aggregate: order
    types: [CustomerRegistered]
`, []string{
			`line 6: view "order": on: event type "OrderRequestd": the mapping mapping.yaml produces no such event type (did you mean OrderRequested?)`,
			`line 7: view "order": delete_on: event type "OrderDeleted": the mapping mapping.yaml produces no such event type`,
			`line 11: view "history": types: event type "CustomerRegistered" belongs to aggregate "customer", not "order"`}},
		{"state field no rule sets", `  - name: order
    kind: entity
    aggregate: order
    on: [{type: OrderRequested, set: {status: data.status, prev: 'has(state.sttus) ? state.sttus : ""'}}]
  - name: pending
    kind: index
    entity: order
    when: has(state.stauts) && state.stauts == "requested"
    score: 1
  - name: by_status
    kind: aggregate
    entity: order
    group: state.status
    sums: [{name: n, expr: 'int(state.count)', scale: 0}]
`, []string{
			`line 6: view "order": on.set.prev: state.sttus: no rule of this view sets it (did you mean status?)`,
			`line 10: view "pending": when: state.stauts: no rule of entity view "order" sets it (did you mean status?)`,
			`line 16: view "by_status": sums.n: state.count: no rule of entity view "order" sets it`}},
		{"composite group part reads an unset field", `  - name: order
    kind: entity
    aggregate: order
    on: [{type: OrderRequested, set: {status: data.status}}]
  - name: by_status_day
    kind: aggregate
    entity: order
    group: [{name: status, expr: state.status}, {name: kind, expr: state.stauts}]
`, []string{`view "by_status_day": group.kind: state.stauts: no rule of entity view "order" sets it (did you mean status?)`}},
		{"unknown aggregate", `  - name: order
    kind: entity
    aggregate: ordr
    on: [{type: OrderRequested, set: {a: data.amout}}]
`, []string{`line 5: view "order": aggregate "ordr": the mapping mapping.yaml produces no such aggregate type (did you mean order?)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ParseDefinitions([]byte(head + tt.views))
			if err != nil {
				t.Fatalf("ParseDefinitions: %v", err)
			}
			err = d.Check(m)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Check = %v; want nil", err)
				}
				return
			}
			var errs DefinitionErrors
			if !errors.As(err, &errs) {
				t.Fatalf("Check = %v; want DefinitionErrors", err)
			}
			if len(errs) != len(tt.want) {
				t.Fatalf("Check = %v; want %d problems", err, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(errs[i].Error(), w) {
					t.Errorf("Check problem %d = %q; want it to contain %q", i, errs[i].Error(), w)
				}
			}
		})
	}
}

// TestCheckReference checks that the reference views pass against the
// reference mapping.
func TestCheckReference(t *testing.T) {
	const dir = "../../deploy/examples/orders"
	m, err := pipeline.Load(os.DirFS(dir), "mapping.yaml", pipeline.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(dir, "views.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseDefinitions(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Check(m); err != nil {
		t.Errorf("Check(reference views) = %v; want nil", err)
	}
}
