package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/pipeline"
)

func TestBrokenRuleError(t *testing.T) {
	lostFull := &pipeline.RuleBrokenError{Table: "public.orders", Rule: "public.orders/OrderPromised", Column: "status",
		Reason: "needs the old value", OldRowMissing: true, Identity: capture.IdentityDefault}
	dropped := &pipeline.RuleBrokenError{Table: "public.orders", Rule: "public.orders/OrderPromised", Column: "total", Reason: "was dropped"}
	other := errors.New("broker gone")
	tests := []struct {
		name string
		err  error
		want []string // substrings, in order; nil: err unchanged
	}{
		{"lost full", fmt.Errorf("map changes: %w", lostFull), []string{
			"map changes: table public.orders lost REPLICA IDENTITY FULL (it was DEFAULT when the change was written)",
			"ALTER TABLE public.orders REPLICA IDENTITY FULL",
			"CDCFLOW_MAPPING_ON_BROKEN_RULE=dead_letter", "go to shop.deadletter", "then restart without it",
			"SELECT pg_drop_replication_slot('cdcflow_shop')",
		}},
		{"dropped column", fmt.Errorf("map changes: %w", dropped), nil},
		{"other error", other, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := brokenRuleError(tt.err, "cdcflow_shop", "shop.deadletter")
			if tt.want == nil {
				if got != tt.err {
					t.Fatalf("brokenRuleError(%v) = %v; want it unchanged", tt.err, got)
				}
				return
			}
			if !errors.Is(got, tt.err) {
				t.Errorf("brokenRuleError(%v) does not wrap it", tt.err)
			}
			rest := got.Error()
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("brokenRuleError(%v) = %q; want %q (in order)", tt.err, got, w)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}
