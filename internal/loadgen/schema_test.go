package loadgen

import (
	"os"
	"testing"
)

// TestSchemaCopy keeps deploy/examples/orders/schema.sql, the copy users
// read, equal to the embedded canonical one.
func TestSchemaCopy(t *testing.T) {
	b, err := os.ReadFile("../../deploy/examples/orders/schema.sql")
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != Schema {
		t.Fatal("deploy/examples/orders/schema.sql differs from internal/loadgen/schema.sql; copy the canonical one over it")
	}
}
