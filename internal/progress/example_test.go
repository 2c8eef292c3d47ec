package progress_test

import (
	"os"

	"github.com/cdcflow/cdcflow/internal/progress"
)

// A live status line, as the flow shows it: on a terminal each report
// rewrites the line in place and Finish ends it; on any other output (here a
// pipe, as under go test) each report is a line of its own.
func ExampleLine() {
	l := progress.New(progress.Config{Out: os.Stdout})
	l.Show(progress.Report{Text: "changes 10  events 12  acked 12"})
	l.Finish(progress.Report{Text: "changes 20  events 24  acked 24"})
	// Output:
	// changes 10  events 12  acked 12
	// changes 20  events 24  acked 24
}

func ExampleBar() {
	os.Stdout.WriteString(progress.Bar(37, 100, 20) + "\n")
	os.Stdout.WriteString(progress.Bar(5, 0, 20) + " (no estimate)\n")
	// Output:
	// [#######.............]
	// [????????????????????] (no estimate)
}
