package schemafiles

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/cdcflow/cdcflow/cep"
	"github.com/cdcflow/cdcflow/pipeline"
)

// Dir is the directory the schemas of the mapping in mappingFile go to:
// out when it is given, else the mapping's schemas directory (schemasDir,
// relative to the mapping file), else schemas/ next to the mapping file.
func Dir(mappingFile, schemasDir, out string) string {
	if out != "" {
		return out
	}
	if schemasDir != "" {
		return filepath.Join(filepath.Dir(mappingFile), schemasDir)
	}
	return filepath.Join(filepath.Dir(mappingFile), "schemas")
}

// WriteDrafts writes each draft into dir (created if missing) and reports
// each file on w: "wrote" with the fields of unknown type to edit, or
// "kept" for a file that exists when force is false (force overwrites it).
// It returns how many files it kept, and stops at the first file it cannot
// write.
func WriteDrafts(w io.Writer, dir string, drafts []pipeline.DraftSchema, force bool) (kept int, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, fmt.Errorf("schemas draft: %w", err)
	}
	for _, d := range drafts {
		file := filepath.Join(dir, d.File)
		flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
		if force {
			flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
		}
		f, err := os.OpenFile(file, flags, 0o644)
		if errors.Is(err, os.ErrExist) {
			fmt.Fprintf(w, "kept   %s (it exists; --force overwrites it)\n", file)
			kept++
			continue
		}
		if err == nil {
			_, err = f.Write(d.JSON)
			err = errors.Join(err, f.Close())
		}
		if err != nil {
			return kept, fmt.Errorf("schemas draft: write %s: %w", file, err)
		}
		fmt.Fprintf(w, "wrote  %s\n", file)
		for _, u := range d.Unknown {
			fmt.Fprintf(w, "       field %s: its type is not known (a CEL expression): the draft accepts any value; edit it\n", u)
		}
	}
	return kept, nil
}

// WriteDraftSummary writes what follows the drafts written into dir: the
// counts, the schemas line to add to mappingFile when the mapping's
// schemas directory (schemasDir) does not already name dir, and the check
// command to run next (checkCommand, e.g. "cdcflow check --config f.yaml").
func WriteDraftSummary(w io.Writer, mappingFile, schemasDir, dir string, drafted, kept int, checkCommand string) {
	rel, err := filepath.Rel(filepath.Dir(mappingFile), dir)
	if err != nil {
		rel = dir
	}
	rel = filepath.ToSlash(rel)
	fmt.Fprintf(w, "\n%d schema(s) drafted, %d written, %d kept.\n", drafted, drafted-kept, kept)
	if schemasDir != rel {
		fmt.Fprintf(w, "Add to %s (the schemas directory, relative to the mapping):\n\n  schemas: %s\n\n", mappingFile, rel)
	} else {
		fmt.Fprintf(w, "%s already names them (schemas: %s).\n", mappingFile, rel)
	}
	fmt.Fprintf(w, "Review the drafts, then run: %s\n", checkCommand)
}

// WriteDerived writes the schema of each derived event type and version
// into dir (created if missing) and reports each file on w: "same" for a
// file that holds it already, "wrote" for a new one (with the fields of
// unknown type to edit), "DIFFERS" for one that holds another schema, which
// is left as it is unless force is set. After writing the others it
// returns an error naming every file that differs.
func WriteDerived(w io.Writer, dir string, ds []cep.DerivedSchema, force bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("schemas derived: %w", err)
	}
	var differ []string
	for _, d := range ds {
		file := filepath.Join(dir, d.File)
		old, err := os.ReadFile(file)
		switch {
		case err == nil && bytes.Equal(old, d.JSON):
			fmt.Fprintf(w, "same   %s\n", file)
			continue
		case err == nil && !force:
			fmt.Fprintf(w, "DIFFERS %s (rule %s): a released version's schema never changes: give the rule's emit a new version (--force overwrites)\n", file, d.Rule)
			differ = append(differ, d.File)
			continue
		case err != nil && !errors.Is(err, os.ErrNotExist):
			return fmt.Errorf("schemas derived: %w", err)
		}
		if err := os.WriteFile(file, d.JSON, 0o644); err != nil {
			return fmt.Errorf("schemas derived: write %s: %w", file, err)
		}
		fmt.Fprintf(w, "wrote  %s (rule %s)\n", file, d.Rule)
		for _, u := range d.Unknown {
			fmt.Fprintf(w, "       field %s: its type is not known (a CEL expression): the schema accepts any value; edit it\n", u)
		}
	}
	if len(differ) > 0 {
		return fmt.Errorf("schemas derived: %d schema(s) differ from what the rules derive: %s", len(differ), strings.Join(differ, ", "))
	}
	return nil
}
