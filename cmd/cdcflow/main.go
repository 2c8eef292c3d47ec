// Command cdcflow captures a PostgreSQL database's changes as versioned domain
// events, publishes them to Kafka and materializes them into Redis views.
//
// Run "cdcflow help" for the list of commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	// The container image is FROM scratch, with no time-zone database;
	// source.timezone and the views' timezone need one.
	_ "time/tzdata"

	"github.com/cdcflow/cdcflow/internal/config"
)

// command is one subcommand. Each lives in its own file and registers itself
// from an init function, so adding a command touches no other file.
type command struct {
	name    string
	summary string
	// usage is the command line's shape after "cdcflow", e.g.
	// "run [flags]"; empty means "<name> [flags]".
	usage string
	// description says more than summary, when there is more to say.
	description string
	// example is one or more example command lines, one per line.
	example string
	// run executes the command with the arguments that follow its name. It
	// returns when ctx is cancelled (SIGINT/SIGTERM) or the work is done.
	run func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{}

func register(c command) {
	if _, dup := commands[c.name]; dup {
		panic("cdcflow: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

// errUsage marks an error caused by the command line; main prints usage hints.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 2 && args[0] == "help" {
		// "cdcflow help run" is "cdcflow run -h", on stdout.
		if c, ok := commands[args[1]]; ok {
			args, stderr = []string{c.name, "-h"}, stdout
		}
	}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "cdcflow: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	err := c.run(ctx, args[1:], stdout, stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return 0 // stopped by a signal after a clean shutdown
	case errors.Is(err, errUsage), errors.Is(err, config.ErrNoMappingFile):
		fmt.Fprintf(stderr, "cdcflow %s: %v\n", c.name, err)
		return 2
	default:
		fmt.Fprintf(stderr, "cdcflow %s: %v\n", c.name, err)
		return 1
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: cdcflow <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "cdcflow help <command>" (or "cdcflow <command> -h") for what a command does, an example and its flags.`)
}

// newFlagSet returns the flag set of the command name: errors and -h go to
// stderr, and -h prints the command's summary, usage, example and flags.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { commandUsage(fs, name) }
	return fs
}

// commandUsage prints the help of the command name, whose flags are fs's.
func commandUsage(fs *flag.FlagSet, name string) {
	w := fs.Output()
	c := commands[name]
	use := c.usage
	if use == "" {
		use = name + " [flags]"
	}
	fmt.Fprintf(w, "usage: cdcflow %s\n\n%s.\n", use, upperFirst(c.summary))
	if c.description != "" {
		fmt.Fprintf(w, "\n%s\n", c.description)
	}
	if c.example != "" {
		fmt.Fprintln(w, "\nexample:")
		for _, line := range strings.Split(c.example, "\n") {
			fmt.Fprintln(w, "  "+line)
		}
	}
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintln(w, "\nflags:")
		fs.PrintDefaults()
	}
	fmt.Fprintln(w, "\nEvery configuration key can also be set by its CDCFLOW_* variable (docs/configuration.md).")
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// parseFlags parses a command's arguments with fs: -h returns flag.ErrHelp
// (exit status 0), and a bad flag or a positional argument is a usage error
// (exit status 2).
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return nil
}

// configFlag defines the --config flag every command takes. Its default is
// $CDCFLOW_CONFIG, so a container can name the file once.
func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", os.Getenv(config.EnvConfig), "configuration `file` (YAML); default $"+config.EnvConfig+"; none means environment only")
}
