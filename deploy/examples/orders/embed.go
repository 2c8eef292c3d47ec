// Package orders ships the reference legacy order example: its mapping and
// event schemas, embedded so that "cdcflow quickstart" runs the whole flow
// from the binary alone. schema.sql and README.md beside this file describe
// the database.
package orders

import "embed"

// Files holds mapping.yaml, the schemas/ directory it names, and views.yaml.
//
//go:embed mapping.yaml schemas views.yaml
var Files embed.FS

// MappingFile is the name of the reference mapping in Files.
const MappingFile = "mapping.yaml"

// ViewsFile is the name of the reference Redis view definitions in Files.
const ViewsFile = "views.yaml"
