// Package orders ships the reference legacy order example: its mapping and
// event schemas, embedded so that "cdcflow quickstart" runs the whole flow
// from the binary alone. schema.sql and README.md beside this file describe
// the database.
package orders

import "embed"

// Files holds mapping.yaml and the schemas/ directory it names.
//
//go:embed mapping.yaml schemas
var Files embed.FS

// MappingFile is the name of the reference mapping in Files.
const MappingFile = "mapping.yaml"
