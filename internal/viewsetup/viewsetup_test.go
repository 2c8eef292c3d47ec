package viewsetup

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/cdcflow/cdcflow/cep"
	"github.com/cdcflow/cdcflow/pipeline"
)

const orders = "../../deploy/examples/orders/"

func loadOrders(t *testing.T) (*pipeline.Mapping, *cep.Rules) {
	t.Helper()
	m, err := pipeline.Load(os.DirFS(orders), "mapping.yaml", pipeline.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(orders + "cep.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := cep.ParseRules(orders+"cep.yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	return m, rs
}

const (
	requested = `version: 1
views:
  - name: requested
    kind: entity
    aggregate: order
    on:
      - type: OrderRequested
        set: {total: data.total}
`
	overdue = `version: 1
views:
  - name: overdue
    kind: entity
    aggregate: order
    on:
      - type: OrderOverdue
        set: {due: data.due}
    delete_on: [OrderOverdueResolved]
`
	mixed = `version: 1
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
)

// TestNewDerivedTopics: with rules, views that fold only derived events
// read the derived events' topic and not the mapping's; views of the
// mapping's events read the mapping's topics as before; an aggregate type
// whose views fold both is refused, saying why and what to do.
func TestNewDerivedTopics(t *testing.T) {
	mapping, rules := loadOrders(t)
	tests := []struct {
		name, views  string
		rules        *cep.Rules
		derivedTopic string
		topics       []string
		source       []string
		err          []string
	}{
		{name: "mapped events", views: requested, rules: rules, topics: []string{"shop.order"}, source: []string{"shop.order"}},
		{name: "derived events", views: overdue, rules: rules, topics: []string{"shop.cep"}},
		{name: "derived events on cep.topic", views: overdue, rules: rules, derivedTopic: "shop.cep.replay", topics: []string{"shop.cep.replay"}},
		{name: "no rules", views: requested, topics: []string{"shop.order"}, source: []string{"shop.order"}},
		{name: "both on one aggregate", views: mixed, rules: rules, err: []string{"views.yaml (rules cep.yaml)", "fold both the mapping's events and derived ones", "views file of their own"}},
		{name: "unknown aggregate", views: strings.Replace(requested, "aggregate: order", "aggregate: invoice", 1),
			err: []string{`views.yaml: the views follow aggregate "invoice", which the mapping mapping.yaml does not produce`}},
		{name: "broken definitions", views: "version: 1\nviews: 3\n", err: []string{"views.yaml: "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{File: "views.yaml", MappingFile: "mapping.yaml", Rules: tt.rules, RulesFile: "cep.yaml", DerivedTopic: tt.derivedTopic}
			s, err := New(cfg, []byte(tt.views), mapping)
			if tt.err != nil {
				for _, want := range tt.err {
					if err == nil || !strings.Contains(err.Error(), want) {
						t.Fatalf("New() error = %v; want one containing %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s.Topics(), tt.topics) || !slices.Equal(s.SourceTopics(), tt.source) {
				t.Errorf("topics %v, source topics %v; want %v, %v", s.Topics(), s.SourceTopics(), tt.topics, tt.source)
			}
		})
	}
}

// TestDerivedTypesUpcast: the views' configuration upcasts the derived
// types only when views fold them.
func TestDerivedTypesUpcast(t *testing.T) {
	mapping, rules := loadOrders(t)
	known := func(views string) bool {
		s, err := New(Config{File: "views.yaml", Rules: rules}, []byte(views), mapping)
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(s.mapping.EventTypes(), func(et pipeline.EventType) bool { return et.Type == "OrderOverdue" })
	}
	if !known(overdue) {
		t.Error("views folding OrderOverdue: the setup's mapping does not know the derived type")
	}
	if known(requested) {
		t.Error("views of the mapping's events only: the setup's mapping knows the derived types")
	}
}

func TestConfigs(t *testing.T) {
	mapping, _ := loadOrders(t)
	cfg := Config{File: "views.yaml", Prefix: "p:", Group: "g", InstanceID: "i", MaxPollRecords: 7}
	s, err := New(cfg, []byte(requested), mapping)
	if err != nil {
		t.Fatal(err)
	}
	vc := s.ViewsConfig(nil)
	if vc.Prefix != "p:" || !slices.Equal(vc.Topics, []string{"shop.order"}) || vc.Upcast == nil {
		t.Errorf("ViewsConfig() = prefix %q, topics %v, upcast set %v; want p:, [shop.order], true", vc.Prefix, vc.Topics, vc.Upcast != nil)
	}
	cc := s.ConsumerConfig([]string{"b:9092"})
	if cc.Group != "g" || cc.InstanceID != "i" || cc.MaxPollRecords != 7 || !slices.Equal(cc.Topics, []string{"shop.order"}) || !slices.Equal(cc.Brokers, []string{"b:9092"}) {
		t.Errorf("ConsumerConfig() = %+v", cc)
	}
	if got, want := s.DeadLetterTopic(), mapping.DeadLetterTopic(); got != want {
		t.Errorf("DeadLetterTopic() = %q; want the mapping's %q", got, want)
	}
	cfg.DeadLetterTopic = "views.dead"
	if s, err = New(cfg, []byte(requested), mapping); err != nil || s.DeadLetterTopic() != "views.dead" {
		t.Errorf("DeadLetterTopic() with views.dead_letter_topic = %q, %v; want views.dead", s.DeadLetterTopic(), err)
	}
}
