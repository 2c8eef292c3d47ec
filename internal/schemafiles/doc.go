// Package schemafiles writes the JSON Schema files of `cdcflow schemas`
// into a mapping's schemas directory: the drafts of the mapped events
// (WriteDrafts, from pipeline.Mapping.DraftSchemas over the column facts
// DraftInputs reads from the source) and the schemas of the events the CEP
// rules derive (WriteDerived, from cep.Rules.DerivedSchemas). It never
// overwrites a schema unless asked: a released version's schema never
// changes. It reports every file, in the command's words, on the writer it
// is given.
//
// It imports pipeline and cep for their schema types, and capture/snapshot
// (with a *pgx.Conn the caller opens and owns) to read the column facts;
// never the configuration or cmd. It starts no goroutines, keeps no state
// and exports no metrics.
package schemafiles
