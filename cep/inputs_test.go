package cep

import (
	"os"
	"slices"
	"testing"
)

func TestInputAndDerivedTypes(t *testing.T) {
	src, err := os.ReadFile("../deploy/examples/orders/cep.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rs := mustRules(t, string(src))
	if got, want := rs.InputTypes(), []string{"OrderDeclared", "OrderDeclined", "OrderPromised", "OrderRequested", "OrderRevoked"}; !slices.Equal(got, want) {
		t.Errorf("InputTypes() = %q; want %q", got, want)
	}
	if got, want := rs.DerivedTypes(), []string{"CustomerAtRisk", "CustomerOrderDeclined", "OrderOverdue", "OrderOverdueResolved"}; !slices.Equal(got, want) {
		t.Errorf("DerivedTypes() = %q; want %q", got, want)
	}
}
