package changejson

import (
	"bufio"
	"encoding/json"
	"io"

	"github.com/cdcflow/cdcflow/capture"
)

// Printer writes capture messages to an io.Writer as `cdcflow tail` prints
// them: the Line of each message that has one, as a JSON object on a line
// of its own (HTML characters not escaped). It buffers up to 64 KiB and
// flushes at the end of every Print. A Printer is not safe for concurrent
// use: the capture handler calls it one chunk at a time.
type Printer struct {
	out  *bufio.Writer
	enc  *json.Encoder
	show func(*capture.Relation) bool
}

// NewPrinter returns a Printer writing to w the messages show accepts (see
// Line; show nil: every table).
func NewPrinter(w io.Writer, show func(*capture.Relation) bool) *Printer {
	out := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	return &Printer{out: out, enc: enc, show: show}
}

// Print writes the lines of msgs, in order, and flushes: once it returns
// nil, every line has reached the writer, so the caller may confirm msgs.
// It returns the writer's error unwrapped (the caller names the writer).
func (p *Printer) Print(msgs []capture.Message) error {
	for _, m := range msgs {
		line, ok := Line(m, p.show)
		if !ok {
			continue
		}
		if err := p.enc.Encode(line); err != nil {
			return err
		}
	}
	return p.out.Flush()
}
