// Command gen writes the Prometheus rule file and the PrometheusRule
// resource from the embedded thresholds file. `go generate
// ./internal/thresholds` runs it; -root names the repository root.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/cdcflow/cdcflow/internal/thresholds"
)

func main() {
	root := flag.String("root", ".", "the repository root")
	flag.Parse()
	if err := run(*root); err != nil {
		fmt.Fprintln(os.Stderr, "thresholds gen:", err)
		os.Exit(1)
	}
}

func run(root string) error {
	files, err := thresholds.Default().Files()
	if err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		path := filepath.Join(root, filepath.FromSlash(name))
		if err := os.WriteFile(path, files[name], 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}
