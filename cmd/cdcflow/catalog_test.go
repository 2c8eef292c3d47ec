package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCatalogCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "asyncapi.json")
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"catalog", "--mapping", "../../deploy/examples/orders/mapping.yaml", "--out", out, "--title", "shop"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("cdcflow catalog exit %d: %s", code, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		AsyncAPI string `json:"asyncapi"`
		Info     struct{ Title string }
	}
	if err := json.Unmarshal(b, &doc); err != nil || doc.AsyncAPI != "3.0.0" || doc.Info.Title != "shop" {
		t.Fatalf("catalogue = %.200s (%v); want an AsyncAPI 3.0.0 document titled shop", b, err)
	}

	bad := filepath.Join(t.TempDir(), "m.yaml")
	if err := os.WriteFile(bad, []byte("version: 1\ntables:\n  - table: t\n    aggregate: {type: x, id: row.}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stderr.Reset()
	if code := run(t.Context(), []string{"catalog", "--mapping", bad}, &stdout, &stderr); code != 1 {
		t.Fatalf("cdcflow catalog with a bad mapping exit %d; want 1", code)
	}
	if !strings.Contains(stderr.String(), "m.yaml:4: rule public.t/aggregate: aggregate.id: Syntax error") {
		t.Errorf("stderr = %q; want the problem with file, line and rule", stderr.String())
	}
}

// TestCatalogCommandRules: with --rules the catalogue lists the derived
// events on the derived topic's channel, with their inferred schemas.
func TestCatalogCommandRules(t *testing.T) {
	const orders = "../../deploy/examples/orders/"
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"catalog", "--mapping", orders + "mapping.yaml", "--rules", orders + "cep.yaml"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("cdcflow catalog --rules exit %d: %s", code, stderr.String())
	}
	var doc struct {
		Channels map[string]struct {
			Address  string         `json:"address"`
			Messages map[string]any `json:"messages"`
		} `json:"channels"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	ch := doc.Channels["derived.shop.cep"]
	if ch.Address != "shop.cep" {
		t.Fatalf("channel derived.shop.cep address = %q; want shop.cep", ch.Address)
	}
	for _, id := range []string{"OrderOverdue.v1", "OrderOverdueResolved.v1", "CustomerOrderDeclined.v1", "CustomerAtRisk.v1"} {
		if _, ok := ch.Messages[id]; !ok {
			t.Errorf("channel derived.shop.cep has no message %s", id)
		}
	}
	if !strings.Contains(stdout.String(), `"resolved_by"`) {
		t.Error("the catalogue lacks OrderOverdueResolved's data schema")
	}
}
