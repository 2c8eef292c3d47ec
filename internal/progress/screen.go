package progress

import (
	"io"
	"sync"
)

// Screen is one output shared by a redrawn Line and everything else a
// command writes there, its log records first: without it a record written
// while a status line is drawn lands in the middle of that line, because
// the line is redrawn with "\r\x1b[K" and never ends.
//
// Write it as the logger's writer and give it to the Line as Config.Out.
// Each Write then clears the drawn status line, writes its bytes, and, once
// they end a line, redraws the last status text below them; a mutex keeps
// a Write and a redraw from interleaving. A Line on a Screen redraws when
// the Screen's output is a terminal (IsTerminal looks through a Screen) or
// Config.Redraw is set, and writes lines otherwise, exactly as on the
// output itself.
//
// Screen is safe for concurrent use. Errors of its own writes (the clear
// and the redraw) are ignored, as a Line ignores them: a broken terminal
// must not stop what it reports on.
type Screen struct {
	mu  sync.Mutex
	out io.Writer

	status  string // the text of the live status line, while live
	live    bool   // a Line's status is drawn and not ended
	visible bool   // status is the last thing on out, after "\r\x1b[K"
	partial bool   // the last Write left its line unfinished
}

// NewScreen returns a Screen writing to out, with no status line drawn.
func NewScreen(out io.Writer) *Screen { return &Screen{out: out} }

// Write writes p above the status line: it erases the line, writes p and,
// when p ends a line, redraws the status text after it. A write that
// leaves a line unfinished keeps the status line off the screen until a
// later Write ends it. Write returns what out's Write returned for p.
func (s *Screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.visible {
		s.write("\r\x1b[K")
		s.visible = false
	}
	n, err := s.out.Write(p)
	if len(p) > 0 {
		s.partial = p[len(p)-1] != '\n'
	}
	if err == nil && s.live && !s.partial {
		s.write(s.status)
		s.visible = true
	}
	return n, err
}

// draw redraws the status line in place with text.
func (s *Screen) draw(text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.partial {
		// Start below the unfinished line rather than erase it.
		s.write("\n")
		s.partial = false
	}
	s.write("\r\x1b[K" + text)
	s.status, s.live, s.visible = text, true, true
}

// end ends the status line, so that later output starts on a line of its
// own and is no longer followed by a redraw.
func (s *Screen) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.visible {
		s.write("\n")
	}
	s.status, s.live, s.visible = "", false, false
}

func (s *Screen) write(str string) { _, _ = io.WriteString(s.out, str) }
