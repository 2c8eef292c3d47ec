package benchkit

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/cdcflow/cdcflow/internal/loadgen"
)

// Options are the flags every benchmark command has.
type Options struct {
	// Changes is how many captured row changes the workload writes, at least.
	Changes int64
	// Runs is how many runs each reader gets; the median is reported.
	Runs int
	// CPUProfile, if set, is where a CPU profile of one cdcflow run goes.
	CPUProfile string
	// Keep keeps the working directory after the run.
	Keep bool
	// Workload is WorkloadReference or WorkloadWide.
	Workload string
	// Wide holds the wide workload's parameters (RowWidth, ToastShare,
	// Children); ReplicaFull sets REPLICA IDENTITY FULL on its hot table.
	Wide        loadgen.WideConfig
	ReplicaFull bool
}

// The workloads a benchmark can write.
const (
	// WorkloadReference is the reference order workload (loadgen.Generator).
	WorkloadReference = "reference"
	// WorkloadWide is the wide-row workload (loadgen.WideGenerator).
	WorkloadWide = "wide"
)

// Tables returns the captured tables of o's workload, as SQL spells them.
func (o Options) Tables() []string {
	if o.Workload == WorkloadWide {
		return loadgen.WideTables
	}
	return CapturedTables
}

// MappingFile returns the mapping of o's workload, relative to the module
// root.
func (o Options) MappingFile() string {
	if o.Workload == WorkloadWide {
		return loadgen.WideMappingDir + "/mapping.yaml"
	}
	return "deploy/examples/orders/mapping.yaml"
}

// Describe says which workload o writes, with its parameters.
func (o Options) Describe() string {
	if o.Workload != WorkloadWide {
		return "reference workload"
	}
	w := loadgen.WideDefaults(o.Wide)
	return fmt.Sprintf("wide workload: row width %d B, TOAST share %.2f, %d children per parent, REPLICA IDENTITY FULL %t",
		w.RowWidth, w.ToastShare, w.Children, o.ReplicaFull)
}

// AddFlags defines -changes, -runs, -cpuprofile and -keep on fs, with the
// defaults 100000 and 3; the last two say what they do in each command's
// words.
func (o *Options) AddFlags(fs *flag.FlagSet, cpuProfileUsage, keepUsage string) {
	fs.Int64Var(&o.Changes, "changes", 100000, "captured row changes the workload writes, at least")
	fs.IntVar(&o.Runs, "runs", 3, "runs per reader (the median is reported)")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", cpuProfileUsage)
	fs.BoolVar(&o.Keep, "keep", false, keepUsage)
	fs.StringVar(&o.Workload, "workload", WorkloadReference, "the workload: reference (orders) or wide (wide rows, issue 16)")
	fs.IntVar(&o.Wide.RowWidth, "row-width", 2048, "wide workload: bytes of a decoded parent row, about")
	fs.Float64Var(&o.Wide.ToastShare, "toast-share", 0.1, "wide workload: fraction of parent rows with a text value over 8 KB (TOASTed); 0: none")
	fs.IntVar(&o.Wide.Children, "children", 4, "wide workload: child rows inserted in each parent's transaction")
	fs.BoolVar(&o.ReplicaFull, "replica-full", true, "wide workload: REPLICA IDENTITY FULL on the hot table")
}

// Validate checks that there is something to measure.
func (o Options) Validate() error {
	if o.Runs < 1 || o.Changes < 1 {
		return errors.New("-runs and -changes must be positive")
	}
	switch o.Workload {
	case "", WorkloadReference:
		return nil
	case WorkloadWide:
	default:
		return fmt.Errorf("-workload %q: want reference or wide", o.Workload)
	}
	// The flags say 0 for none; WideConfig says a negative value.
	if o.Wide.ToastShare < 0 || o.Wide.ToastShare > 1 || o.Wide.Children < 0 || o.Wide.RowWidth < 256 {
		return errors.New("-toast-share must be in [0, 1], -children not negative, -row-width at least 256")
	}
	return nil
}

// Main runs a benchmark command: run gets a context that ends on SIGINT or
// SIGTERM; an error is printed on stderr after "bench <name>:" and exits
// with status 1.
func Main(name string, run func(ctx context.Context) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "bench %s: %s\n", name, strings.TrimSpace(err.Error()))
		stop()
		os.Exit(1)
	}
}

// Median returns the median of xs (the upper one of an even count), leaving
// xs as it is. xs must not be empty.
func Median(xs []float64) float64 {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	return xs[len(xs)/2]
}

// Table prints the line that opens a report (the workload and how many runs
// the medians are of) and returns a right-aligned table whose first row
// names the columns. The caller adds a row per reader and flushes it.
func Table(out io.Writer, w Workload, runs int, columns ...string) *tabwriter.Writer {
	if w.Kind != "" {
		fmt.Fprintf(out, "%s: ", w.Kind)
	}
	fmt.Fprintf(out, "%d captured row changes, %d transactions, %.1f MiB WAL; median of %d runs, alternating order\n\n",
		w.Changes, w.Transactions, w.MiB(), runs)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(columns, "\t")+"\t")
	return tw
}

// FormatSeconds formats each run's wall seconds for a table cell, in run
// order: "1.234 1.301 1.270".
func FormatSeconds(secs []float64) string {
	cells := make([]string, len(secs))
	for i, s := range secs {
		cells[i] = fmt.Sprintf("%.3f", s)
	}
	return strings.Join(cells, " ")
}
