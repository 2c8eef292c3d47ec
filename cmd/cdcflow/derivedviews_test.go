package main

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/cdcflow/cdcflow/internal/config"
)

// TestViewSetupDerivedTopics: with cep.file set, views that fold only
// derived events read the derived events' topic and not the mapping's;
// views of the mapping's events read the mapping's topics as before; an
// aggregate type whose views fold both is refused, saying why and what to
// do.
func TestViewSetupDerivedTopics(t *testing.T) {
	const dir = "../../deploy/examples/orders/"
	cfg, err := config.Load("", []string{
		"CDCFLOW_MAPPING_FILE=" + dir + "mapping.yaml",
		"CDCFLOW_CEP_FILE=" + dir + "cep.yaml",
		"CDCFLOW_VIEWS_FILE=views.yaml",
	})
	if err != nil {
		t.Fatal(err)
	}
	mapping, err := config.LoadMappingFile(cfg.Mapping.File, nil, cfg.Source.Timezone)
	if err != nil {
		t.Fatal(err)
	}
	const mixed = `version: 1
views:
  - name: order_and_overdue
    kind: entity
    aggregate: order
    on:
      - type: OrderRequested
        set: {total: data.total}
      - type: OrderOverdue
        set: {due: data.due}
`
	tests := []struct {
		name, views string
		topics      []string
		source      []string
		err         string
	}{
		{name: "mapped events", views: `version: 1
views:
  - name: requested
    kind: entity
    aggregate: order
    on:
      - type: OrderRequested
        set: {total: data.total}
`, topics: []string{"shop.order"}, source: []string{"shop.order"}},
		{name: "derived events", views: `version: 1
views:
  - name: overdue
    kind: entity
    aggregate: order
    on:
      - type: OrderOverdue
        set: {due: data.due}
    delete_on: [OrderOverdueResolved]
`, topics: []string{"shop.cep"}},
		{name: "both on one aggregate", views: mixed, err: "fold both the mapping's events and derived ones"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := newViewSetupFrom(cfg, mapping, slog.New(slog.DiscardHandler), []byte(tt.views))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "views file of their own") {
					t.Fatalf("err = %v; want one containing %q and what to do", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.rdb.Close()
			if strings.Join(s.topics, ",") != strings.Join(tt.topics, ",") || strings.Join(s.sourceTopics, ",") != strings.Join(tt.source, ",") {
				t.Errorf("topics %v, source topics %v; want %v, %v", s.topics, s.sourceTopics, tt.topics, tt.source)
			}
		})
	}
}
