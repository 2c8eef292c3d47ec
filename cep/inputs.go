package cep

import "slices"

// InputTypes returns, sorted, the event types the rules listen to that no
// rule of the file derives: the types a caller must read from the event
// topics. Derived types that later rules match are handed to them inside the
// engine and are never read back.
func (rs *Rules) InputTypes() []string {
	derived := map[string]bool{}
	for _, r := range rs.rules {
		if r.emit != nil {
			derived[r.emit.typ] = true
		}
		if r.resolve != nil {
			derived[r.resolve.typ] = true
		}
	}
	seen := map[string]bool{}
	var out []string
	for _, r := range rs.rules {
		for _, s := range r.steps {
			for t := range s.types {
				if !derived[t] && !seen[t] {
					seen[t] = true
					out = append(out, t)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// DerivedTypes returns, sorted, the event types the rules derive (emit and
// resolve).
func (rs *Rules) DerivedTypes() []string {
	var out []string
	for _, r := range rs.rules {
		for _, e := range []*emitSpec{r.emit, r.resolve} {
			if e != nil && !slices.Contains(out, e.typ) {
				out = append(out, e.typ)
			}
		}
	}
	slices.Sort(out)
	return out
}
