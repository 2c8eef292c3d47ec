package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/cdcflow/cdcflow/internal/config"
)

func init() {
	register(command{name: "config", summary: "print the effective configuration: the file, the CDCFLOW_* variables and the defaults, secrets redacted", run: runConfig,
		usage: "config print [flags]", example: "cdcflow config print --config cdcflow.yaml"})
}

// runConfig dispatches "cdcflow config <subcommand>". The only one is
// print: the configuration as loaded (file, environment, defaults), with
// secrets redacted, so what cdcflow will do can be checked before it does it.
func runConfig(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("config", stderr)
	path := configFlag(fs)
	if len(args) == 0 || args[0] != "print" {
		fs.Usage()
		if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
			return flag.ErrHelp
		}
		return fmt.Errorf("%w: unknown subcommand %q", errUsage, args[0])
	}
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	cfg, err := config.Load(*path, os.Environ())
	if err != nil {
		return err
	}
	out, err := config.Marshal(cfg)
	if err != nil {
		return err
	}
	_, err = stdout.Write(out)
	return err
}
