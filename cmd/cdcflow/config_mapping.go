package main

// MappingConfig says how row changes become domain events.
type MappingConfig struct {
	// File is the mapping file (YAML). Required by commands that map.
	File string `yaml:"file"`
}
