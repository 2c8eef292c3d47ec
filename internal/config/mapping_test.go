package config

import (
	"strings"
	"testing"

	"github.com/cdcflow/cdcflow/pipeline"
)

func TestMappingConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     MappingConfig
		want    pipeline.MapperOptions
		wantErr string
	}{
		{"defaults", MappingConfig{}, pipeline.MapperOptions{Validate: true}, ""},
		{"no validation, dead letters", MappingConfig{NoValidation: true, OnBrokenRule: "dead_letter"}, pipeline.MapperOptions{DeadLetterBrokenRules: true}, ""},
		{"bad on_broken_rule", MappingConfig{OnBrokenRule: "ignore"}, pipeline.MapperOptions{}, `on_broken_rule: "ignore" is not one of stop, dead_letter`},
		{"workers", MappingConfig{Workers: 8}, pipeline.MapperOptions{Validate: true}, ""},
		{"negative workers", MappingConfig{Workers: -1}, pipeline.MapperOptions{}, `workers: -1 is not between 1 and 256`},
		{"too many workers", MappingConfig{Workers: 257}, pipeline.MapperOptions{}, `workers: 257 is not between 1 and 256`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cfg
			c.setDefaults()
			err := c.validate()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("validate() = %v; want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("validate() = %v", err)
			}
			if got := c.MapperOptions(); got != tt.want {
				t.Errorf("MapperOptions() = %+v; want %+v", got, tt.want)
			}
		})
	}
	if _, err := LoadMappingFile("", nil, ""); err == nil || !strings.Contains(err.Error(), "no mapping file") {
		t.Errorf("LoadMappingFile(\"\") = %v; want a usage error", err)
	}
	m, err := LoadMappingFile("../../deploy/examples/orders/mapping.yaml", nil, "Europe/Berlin")
	if err != nil {
		t.Fatalf("LoadMappingFile(reference) = %v", err)
	}
	if m.Location().String() != "Europe/Berlin" {
		t.Errorf("mapping time zone = %s; want source.timezone Europe/Berlin", m.Location())
	}
}
