package progress

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// IsTerminal reports whether w is an *os.File open on a terminal, or a
// Screen writing to one. Anything else, /dev/null (a character device too)
// and pipes included, is not.
func IsTerminal(w io.Writer) bool {
	if s, ok := w.(*Screen); ok {
		w = s.out
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Default intervals between two reports that Line.Update shows.
const (
	DefaultTerminalInterval = 200 * time.Millisecond
	DefaultInterval         = 10 * time.Second
)

// Config configures a Line. The zero value logs nothing and draws nothing.
type Config struct {
	// Out receives the display: a line redrawn in place when it is a
	// terminal (or Redraw is set), a line per report otherwise. When nil,
	// reports are logged to Log instead. A *Screen as Out shares the output
	// with log records written through the same Screen: they never land
	// inside the redrawn line.
	Out io.Writer
	// Redraw redraws the line in place on Out even when Out is not a
	// terminal: for a flag that forces a bar on.
	Redraw bool
	// Log receives the reports as Info records when Out is nil. Nil discards.
	Log *slog.Logger
	// TerminalInterval is the least time between two reports Update shows
	// when the line is redrawn. Default DefaultTerminalInterval (200ms).
	TerminalInterval time.Duration
	// Interval is the least time between two reports Update shows when they
	// are written as lines or logged. Default DefaultInterval (10s).
	Interval time.Duration
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// Report is one progress report, in the two forms a Line may need: Text for
// a person, Msg and Attrs for a log record. A Line writing to Out ignores Msg
// and Attrs; a logging one ignores Text.
type Report struct {
	Text  string
	Msg   string
	Attrs []slog.Attr
}

// Line is one live progress display. Create it with New.
type Line struct {
	out      io.Writer
	screen   *Screen // out, when it is one: the redrawn line goes through it
	redraw   bool
	log      *slog.Logger
	interval time.Duration
	now      func() time.Time

	last  time.Time // the last report shown, or the (re)start
	drawn bool      // a redrawn line is on the screen and not ended
}

// New returns a Line; Update counts its first interval from now.
func New(cfg Config) *Line {
	l := &Line{out: cfg.Out, log: cfg.Log, now: cfg.Now}
	l.screen, _ = l.out.(*Screen)
	l.redraw = l.out != nil && (cfg.Redraw || IsTerminal(l.out))
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.now == nil {
		l.now = time.Now
	}
	l.interval = cfg.Interval
	if l.interval <= 0 {
		l.interval = DefaultInterval
	}
	if l.redraw {
		l.interval = cfg.TerminalInterval
		if l.interval <= 0 {
			l.interval = DefaultTerminalInterval
		}
	}
	l.last = l.now()
	return l
}

// Redraws reports whether the line is redrawn in place (a terminal, or
// Config.Redraw), so that callers can choose a bar over a log-style line.
func (l *Line) Redraws() bool { return l.redraw }

// Interval returns the least time between two reports Update shows.
func (l *Line) Interval() time.Duration { return l.interval }

// Restart counts Update's interval from now, as at a new table or round.
func (l *Line) Restart() { l.last = l.now() }

// Update shows r if the interval has passed since the last report shown (or
// since New or Restart), and otherwise drops it.
func (l *Line) Update(r Report) {
	if now := l.now(); now.Sub(l.last) >= l.interval {
		l.show(now, r)
	}
}

// Show shows r now: it redraws the line, writes it, or logs it.
func (l *Line) Show(r Report) { l.show(l.now(), r) }

// Finish shows the final report r of a run and ends a redrawn line. A
// logging Line logs nothing: the caller logs its own record of the end.
func (l *Line) Finish(r Report) {
	if l.out == nil {
		return
	}
	l.show(l.now(), r)
	l.End()
}

// End ends a redrawn line that is on the screen, so that later output starts
// on a line of its own. It does nothing otherwise.
func (l *Line) End() {
	if !l.drawn {
		return
	}
	l.drawn = false
	if l.screen != nil {
		l.screen.end()
		return
	}
	l.write("\n")
}

func (l *Line) show(now time.Time, r Report) {
	l.last = now
	switch {
	case l.out == nil:
		l.log.LogAttrs(context.Background(), slog.LevelInfo, r.Msg, r.Attrs...)
	case l.redraw && l.screen != nil:
		l.screen.draw(r.Text)
		l.drawn = true
	case l.redraw:
		l.write("\r\x1b[K" + r.Text)
		l.drawn = true
	default:
		l.write(r.Text + "\n")
	}
}

// write is best effort: a broken terminal must not stop what it reports on.
func (l *Line) write(s string) { _, _ = io.WriteString(l.out, s) }

// Bar renders done of total as width cells between brackets: '#' for done,
// '.' for the rest ("[######..........]"); done past total fills the bar.
// An unknown total (0 or less) renders as width '?' cells.
func Bar(done, total int64, width int) string {
	var b strings.Builder
	b.Grow(width + 2)
	b.WriteByte('[')
	if total <= 0 {
		b.WriteString(strings.Repeat("?", width))
	} else {
		filled := int(min(max(done, 0), total) * int64(width) / total)
		b.WriteString(strings.Repeat("#", filled))
		b.WriteString(strings.Repeat(".", width-filled))
	}
	b.WriteByte(']')
	return b.String()
}
