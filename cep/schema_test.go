package cep

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	orders "github.com/cdcflow/cdcflow/deploy/examples/orders"
	"github.com/cdcflow/cdcflow/pipeline"
)

var update = flag.Bool("update", false, "rewrite the golden derived schemas (cep/testdata/derived and the reference example's)")

// TestDerivedSchemasGolden infers the derived schemas of a rule file that
// uses every way a field's type is found, against the reference mapping.
func TestDerivedSchemasGolden(t *testing.T) {
	src, err := os.ReadFile("testdata/derived/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := ParseRules("rules.yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	m := loadMapping(t)
	if err := rs.Check(m); err != nil {
		t.Fatalf("Check: %v", err)
	}
	ds, err := rs.DerivedSchemas(m)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range ds {
		names = append(names, d.File)
		golden(t, filepath.Join("testdata/derived", d.File), d.JSON)
	}
	want := []string{"LateOrder.v2.json", "LateOrderResolved.v1.json", "Declined.v1.json", "AtRisk.v1.json", "BigSpender.v1.json"}
	if !slices.Equal(names, want) {
		t.Errorf("DerivedSchemas files = %v; want %v", names, want)
	}
	mappingWith(t, ds) // every schema compiles
	if got := ds[0].Unknown; !slices.Equal(got, []string{"first_line"}) {
		t.Errorf("LateOrder Unknown = %v; want [first_line]", got)
	}
	for _, d := range ds[1:] {
		if len(d.Unknown) > 0 {
			t.Errorf("%s Unknown = %v; want none", d.File, d.Unknown)
		}
	}
}

// TestReferenceDerivedSchemas checks that the reference example's schemas
// directory holds the schemas its rules derive, byte for byte, so that the
// mapping loaded with them validates and catalogues derived events.
func TestReferenceDerivedSchemas(t *testing.T) {
	src, err := readReference()
	if err != nil {
		t.Fatal(err)
	}
	rs, err := ParseRules("cep.yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := rs.DerivedSchemas(loadMapping(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 4 {
		t.Fatalf("DerivedSchemas gave %d schemas; want 4 (OrderOverdue, OrderOverdueResolved, CustomerOrderDeclined, CustomerAtRisk)", len(ds))
	}
	for _, d := range ds {
		if len(d.Unknown) > 0 {
			t.Errorf("%s: fields of unknown type %v: the reference rules should give every field a type", d.File, d.Unknown)
		}
		golden(t, filepath.Join("../deploy/examples/orders/schemas", d.File), d.JSON)
	}
}

// TestDerivedEventsValidate runs the reference rules and validates every
// derived event against its schema, as the mapping does for mapped events
// when the schemas are in its directory.
func TestDerivedEventsValidate(t *testing.T) {
	src, err := readReference()
	if err != nil {
		t.Fatal(err)
	}
	rs := mustRules(t, string(src))
	ds, err := rs.DerivedSchemas(loadMapping(t))
	if err != nil {
		t.Fatal(err)
	}
	m := mappingWith(t, ds)

	req := func(order, customer int) string {
		return `{"order_id":` + itoa(order) + `,"customer_id":` + itoa(customer) + `,"total":"12.50","currency":"EUR"}`
	}
	state := func(order int, total string) string {
		return `{"order_id":` + itoa(order) + `,"from":"N","total":"` + total + `","currency":"EUR","at":"2026-03-01T08:00:00Z"}`
	}
	e := mustEngine(t, rs, 1)
	var inputs []Input
	lsn := uint64(16)
	next := func(typ string, order int, at time.Duration, data string) {
		lsn += 16
		inputs = append(inputs, in(0, lsn, typ, itoa(order), at, data))
	}
	for o := 1; o <= 3; o++ {
		next("OrderRequested", o, time.Duration(o)*time.Minute, req(o, 7))
		next("OrderDeclined", o, time.Duration(o)*time.Minute+time.Second, state(o, "12.50"))
	}
	next("OrderPromised", 4, 10*time.Minute, state(4, "99.90"))
	next("OrderPromised", 5, 10*time.Minute, state(5, "5"))
	next("OrderDeclared", 5, time.Hour, state(5, "5")) // in time: cancels
	lsn += 16
	inputs = append(inputs, progress(0, lsn, 25*time.Hour)) // order 4 overdue
	next("OrderDeclared", 4, 26*time.Hour, state(4, "99.90"))

	got := run(t, e, inputs...)
	var typs []string
	for _, d := range got {
		typs = append(typs, d.Type)
		if err := m.Validate(d); err != nil {
			t.Errorf("derived %s %s: %v", d.Type, d.Data, err)
		}
	}
	want := []string{"CustomerOrderDeclined", "CustomerOrderDeclined", "CustomerOrderDeclined", "CustomerAtRisk", "OrderOverdue", "OrderOverdueResolved"}
	if !slices.Equal(typs, want) {
		t.Fatalf("derived %v; want %v", typs, want)
	}
	// A derived event that breaks its schema is refused.
	bad := got[len(got)-1]
	bad.Data = []byte(`{"order_id":"4","resolved_at":"x","resolved_by":"OrderDeclared"}`)
	if err := m.Validate(bad); err == nil {
		t.Errorf("Validate(%s) = nil; want an error", bad.Data)
	}
}

func TestDerivedSchemasConflict(t *testing.T) {
	rs := mustRules(t, "version: 1\nrules:\n"+
		"  - {name: a, version: 1, kind: count, aggregate: c, on: {type: OrderRequested}, window: 1h, at_least: 2, emit: {type: X, version: 1, data: {n: count}}}\n"+
		"  - {name: b, version: 1, kind: count, aggregate: c, on: {type: OrderRequested}, window: 2h, at_least: 2, emit: {type: X, version: 1, data: {n: key}}}\n"+
		"  - {name: c, version: 1, kind: count, aggregate: c, on: {type: OrderRequested}, window: 3h, at_least: 2, emit: {type: X, version: 1, data: {n: count}}}\n")
	_, err := rs.DerivedSchemas(loadMapping(t))
	if err == nil || !strings.Contains(err.Error(), `X v1: rules "a" and "b" derive it with different data`) {
		t.Fatalf("DerivedSchemas = %v; want a conflict of rules a and b", err)
	}
}

// mappingWith loads the reference mapping with the derived schemas ds as
// generated in its schemas directory (so a test does not depend on the
// example being up to date): the mapping compiles every schema there.
func mappingWith(t *testing.T, ds []DerivedSchema) *pipeline.Mapping {
	t.Helper()
	fsys := fstest.MapFS{}
	b, err := orders.Files.ReadFile(orders.MappingFile)
	if err != nil {
		t.Fatal(err)
	}
	fsys[orders.MappingFile] = &fstest.MapFile{Data: b}
	entries, err := orders.Files.ReadDir("schemas")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := orders.Files.ReadFile("schemas/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		fsys["schemas/"+e.Name()] = &fstest.MapFile{Data: b}
	}
	for _, d := range ds {
		fsys["schemas/"+d.File] = &fstest.MapFile{Data: d.JSON}
	}
	m, err := pipeline.Load(fsys, orders.MappingFile, pipeline.LoadOptions{})
	if err != nil {
		t.Fatalf("load the mapping with the derived schemas: %v", err)
	}
	return m
}

// golden compares got with the file, or writes it under -update.
func golden(t *testing.T, file string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test ./cep/ -run DerivedSchemas -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("derived schema differs from %s:\n%s\nwant:\n%s", file, got, want)
	}
	if !json.Valid(got) {
		t.Errorf("%s is not valid JSON", file)
	}
}
