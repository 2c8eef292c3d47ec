package pipeline

import (
	"maps"
	"slices"
	"strings"
)

// WithDerived returns a copy of m that also knows the event types derived
// (the events CEP rules derive from m's, cep.Rules.DerivedSchemas), whose
// schemas are files of m's schemas directory like the mapped events': its
// EventTypes and AggregateTypes include them, and DataShape, Validate,
// Upcast and CheckUpcasts treat them as types the mapping emits at the
// given Version. View definitions over derived events are then checked
// like those over mapped ones. A type m produces itself keeps m's
// definition. m is not changed; the copy shares everything else with it.
func (m *Mapping) WithDerived(derived []EventType) *Mapping {
	c := *m
	c.versions = maps.Clone(m.versions)
	c.derived = slices.Clone(m.derived)
	for _, d := range derived {
		if _, ok := c.versions[d.Type]; ok {
			continue
		}
		c.versions[d.Type] = d.Version
		c.derived = append(c.derived, EventType{Type: d.Type, AggregateType: d.AggregateType, Version: d.Version})
	}
	return &c
}

// derivedTypes returns the derived event types with their schema versions.
func (m *Mapping) derivedTypes() []EventType {
	out := make([]EventType, 0, len(m.derived))
	for _, d := range m.derived {
		if m.schemas != nil {
			d.Versions = m.schemas.versions(d.Type)
		}
		out = append(out, d)
	}
	return out
}

// sortEventTypes sorts by aggregate type, then type.
func sortEventTypes(ets []EventType) {
	slices.SortFunc(ets, func(a, b EventType) int {
		if c := strings.Compare(a.AggregateType, b.AggregateType); c != 0 {
			return c
		}
		return strings.Compare(a.Type, b.Type)
	})
}
