package pipeline

import (
	"os"
	"strings"
	"testing"
)

func loadUpcastMapping(t *testing.T, edit func(string) string) (*Mapping, error) {
	t.Helper()
	src, err := os.ReadFile("testdata/upcast/mapping.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(src)
	if edit != nil {
		s = edit(s)
	}
	return Parse("mapping.yaml", []byte(s), os.DirFS("testdata/upcast"), LoadOptions{})
}

func TestUpcast(t *testing.T) {
	m, err := loadUpcastMapping(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		version int
		data    string
		want    string
		wantErr string
	}{
		{"v1", 1, `{"id": 9007199254740993, "amount_cents": 1234}`, `{"amount":"12.34","currency":"EUR","id":"9007199254740993"}`, ""},
		{"v1 negative", 1, `{"id":7,"amount_cents":-5}`, `{"amount":"-0.05","currency":"EUR","id":"7"}`, ""},
		{"v1 keeps unknown fields raw", 1, `{"id":1,"amount_cents":100,"extra":{"a":[1.50,2]}}`, `{"amount":"1","currency":"EUR","extra":{"a":[1.50,2]},"id":"1"}`, ""},
		{"v2", 2, `{"id":8,"amount":"0.10"}`, `{"amount":"0.10","currency":"EUR","id":"8"}`, ""},
		{"v3 unchanged", 3, `{"id":"8","amount":"0.10","currency":"USD"}`, `{"id":"8","amount":"0.10","currency":"USD"}`, ""},
		{"newer than current", 4, `{}`, "", "newer than the mapping's current 3"},
		{"not an object", 1, `[1]`, "", "data is not a JSON object"},
		{"bad field", 1, `{"id":1,"amount_cents":"x"}`, "", "field amount"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := Event{Type: "Moved", Version: tt.version, Data: []byte(tt.data)}
			got, err := m.Upcast(e)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Upcast(%s) = %v; want error containing %q", tt.data, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Upcast(%s) = %v", tt.data, err)
			}
			if got.Version != 3 || string(got.Data) != tt.want {
				t.Errorf("Upcast(%s) = v%d %s; want v3 %s", tt.data, got.Version, got.Data, tt.want)
			}
			if tt.version < 3 && !strings.Contains(tt.data, "extra") {
				if err := m.Validate(got); err != nil {
					t.Errorf("Validate(upcast) = %v", err)
				}
			}
		})
	}
	if _, err := m.Upcast(Event{Type: "Unknown", Version: 1, Data: []byte(`{}`)}); err == nil {
		t.Error("Upcast(unknown type) = nil error")
	}
	dl := Event{Type: DeadLetterType, Version: 1, DeadLetter: true, Data: []byte(`{}`)}
	if got, err := m.Upcast(dl); err != nil || got.Version != 1 {
		t.Errorf("Upcast(dead letter) = %v, %v; want it unchanged", got, err)
	}
}

func TestCheckUpcasts(t *testing.T) {
	m, err := loadUpcastMapping(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.CheckUpcasts(); err != nil {
		t.Errorf("CheckUpcasts() = %v; want nil", err)
	}
	// An upcaster that forgets the currency breaks the chain at version 3,
	// for the recorded and the generated instances alike.
	broken, err := loadUpcastMapping(t, func(s string) string {
		return strings.Replace(s, "      currency: '\"EUR\"'\n", "", 1)
	})
	if err != nil {
		t.Fatal(err)
	}
	err = broken.CheckUpcasts()
	if err == nil {
		t.Fatal("CheckUpcasts() with a broken upcaster = nil; want failures")
	}
	for _, want := range []string{
		"schemas/examples/Moved.v1.json upcast to version 3",
		"schemas/examples/Moved.v2.json upcast to version 3",
		"generated from schemas/Moved.v2.json upcast to version 3",
		"missing property 'currency'",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("CheckUpcasts() = %v; want it to contain %q", err, want)
		}
	}
	// An upcaster that leaves a removed field behind fails version 2.
	leaky, err := loadUpcastMapping(t, func(s string) string { return strings.Replace(s, "    remove: [amount_cents]\n", "", 1) })
	if err != nil {
		t.Fatal(err)
	}
	if err := leaky.CheckUpcasts(); err == nil || !strings.Contains(err.Error(), "upcast to version 2") {
		t.Errorf("CheckUpcasts() without remove = %v; want a version 2 failure", err)
	}
}

func TestCheckForward(t *testing.T) {
	m, err := loadUpcastMapping(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Every step of Moved changes a field's type: consumers of the previous
	// version cannot read the next one.
	err = m.CheckForward()
	if err == nil {
		t.Fatal("CheckForward() = nil; want Moved v2 and v3 reported")
	}
	for _, want := range []string{"Moved v2 is not forward compatible with version 1", "Moved v3 is not forward compatible with version 2"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("CheckForward() = %v; want it to contain %q", err, want)
		}
	}
}

func TestUpcasterLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(string) string
		want string
	}{
		{"missing upcaster", func(s string) string {
			return s[:strings.Index(s, "  - type: Moved\n    from: 2")]
		}, "Moved has schemas for versions 2 and 3 but no upcaster from 2"},
		{"bad expression", func(s string) string { return strings.Replace(s, "string(data.id)", "string(data.id", 1) }, "upcaster Moved v2->v3: field id: Syntax error"},
		{"uses row", func(s string) string { return strings.Replace(s, "string(data.id)", "string(row.id)", 1) }, "undeclared reference to 'row'"},
		{"no schema for emitted version", func(s string) string { return strings.Replace(s, "version: 3", "version: 4", 1) }, "no schema for Moved version 4: add Moved.v4.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadUpcastMapping(t, tt.edit)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("load = %v; want an error containing %q", err, tt.want)
			}
		})
	}
}
