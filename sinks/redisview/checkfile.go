package redisview

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cdcflow/cdcflow/pipeline"
)

// CheckFile parses the view definitions src, named file, and checks them
// against the mapping (ParseDefinitions, then Definitions.Check). Its
// error lists the problems one per line as file:line: view "name":
// problem, so that editors can jump to them. It does no I/O.
func CheckFile(file string, src []byte, m *pipeline.Mapping) (*Definitions, error) {
	defs, err := ParseDefinitions(src)
	if err == nil {
		err = defs.Check(m)
	}
	if err != nil {
		return nil, problemLines(file, err)
	}
	return defs, nil
}

// problemLines writes the DefinitionErrors in err one per line, each
// prefixed with file and its line; other errors prefixed with file.
func problemLines(file string, err error) error {
	var errs DefinitionErrors
	if !errors.As(err, &errs) {
		return fmt.Errorf("%s: %w", file, err)
	}
	lines := make([]string, 0, len(errs))
	for _, e := range errs {
		where := file
		if e.Line > 0 {
			where = fmt.Sprintf("%s:%d", file, e.Line)
		}
		msg := e.Msg
		if e.View != "" {
			msg = fmt.Sprintf("view %q: %s", e.View, e.Msg)
		}
		lines = append(lines, where+": "+msg)
	}
	return errors.New(strings.Join(lines, "\n"))
}
