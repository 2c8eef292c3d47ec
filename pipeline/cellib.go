package pipeline

import (
	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/ext"

	"github.com/cdcflow/cdcflow/pipeline/decimal"
)

// CELFunctions is the function library every cdcflow CEL expression sees,
// in the mapping and in the views alike, so that an expression that works in
// one works in the other: exact decimals (decimal(), + - * / and comparisons,
// also with int literals) and the string extensions of cel-go's ext.Strings
// (join, split, replace, substring, trim, lowerAscii, upperAscii, indexOf,
// format …). Variables and the functions tied to one context (changed() in
// the mapping, datetime() in the views) are declared by each environment.
func CELFunctions() cel.EnvOption {
	return cel.Lib(celFunctions{})
}

type celFunctions struct{}

// CompileOptions implements cel.Library.
func (celFunctions) CompileOptions() []cel.EnvOption {
	return []cel.EnvOption{decimal.Library(), ext.Strings()}
}

// ProgramOptions implements cel.Library.
func (celFunctions) ProgramOptions() []cel.ProgramOption { return nil }
