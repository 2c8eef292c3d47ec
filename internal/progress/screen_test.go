package progress

import (
	"bytes"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
)

func TestScreen(t *testing.T) {
	tests := []struct {
		name string
		run  func(s *Screen, l *Line)
		want string
	}{
		{
			name: "a record between two redraws is written above the status line",
			run: func(s *Screen, l *Line) {
				l.Show(report("status"))
				s.Write([]byte("record\n"))
				l.Show(report("status 2"))
				l.End()
			},
			want: "\r\x1b[Kstatus" + "\r\x1b[K" + "record\n" + "status" + "\r\x1b[Kstatus 2" + "\n",
		},
		{
			name: "records with no line drawn pass unchanged",
			run: func(s *Screen, l *Line) {
				s.Write([]byte("a\n"))
				s.Write([]byte("b\n"))
			},
			want: "a\nb\n",
		},
		{
			name: "after End a record is not followed by the old status",
			run: func(s *Screen, l *Line) {
				l.Show(report("status"))
				l.End()
				s.Write([]byte("record\n"))
			},
			want: "\r\x1b[Kstatus\n" + "record\n",
		},
		{
			name: "an unfinished line is completed before the status returns",
			run: func(s *Screen, l *Line) {
				l.Show(report("status"))
				s.Write([]byte("starting ..."))
				s.Write([]byte(" done\n"))
			},
			want: "\r\x1b[Kstatus" + "\r\x1b[K" + "starting ..." + " done\n" + "status",
		},
		{
			name: "a redraw after an unfinished line starts below it",
			run: func(s *Screen, l *Line) {
				s.Write([]byte("starting ..."))
				l.Show(report("status"))
				l.End()
			},
			want: "starting ..." + "\n" + "\r\x1b[Kstatus" + "\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			s := NewScreen(&out)
			l := New(Config{Out: s, Redraw: true})
			tt.run(s, l)
			if got := out.String(); got != tt.want {
				t.Errorf("out = %q; want %q", got, tt.want)
			}
		})
	}
}

// A Line on a Screen over anything but a terminal writes lines, as on the
// output itself.
func TestScreenNotATerminal(t *testing.T) {
	var out bytes.Buffer
	s := NewScreen(&out)
	if IsTerminal(s) {
		t.Errorf("IsTerminal(Screen on a buffer) = true; want false")
	}
	l := New(Config{Out: s})
	if l.Redraws() {
		t.Errorf("Redraws() = true on a Screen over a buffer; want false")
	}
	l.Show(report("a"))
	s.Write([]byte("record\n"))
	l.Finish(report("b"))
	if got, want := out.String(), "a\nrecord\nb\n"; got != want {
		t.Errorf("out = %q; want %q", got, want)
	}
}

// Log records from several goroutines and a Line redrawing from another
// never interleave: every line ended on the output is, after its last
// erase, one whole record, and each record is there once.
func TestScreenConcurrent(t *testing.T) {
	var out bytes.Buffer
	s := NewScreen(&out)
	log := slog.New(slog.NewTextHandler(s, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	l := New(Config{Out: s, Redraw: true})
	const writers, records, redraws = 4, 200, 500
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range records {
				log.Info("record", "writer", w, "i", i)
			}
		})
	}
	wg.Go(func() {
		for i := range redraws {
			l.Show(report(fmt.Sprintf("status %d of the flow", i)))
		}
	})
	wg.Wait()

	const erase = "\r\x1b[K"
	record := regexp.MustCompile(`^level=INFO msg=record writer=\d i=\d+$`)
	status := regexp.MustCompile(`^(status \d+ of the flow)?$`)
	seen := map[string]bool{}
	lines := strings.Split(out.String(), "\n")
	for _, line := range lines[:len(lines)-1] {
		rec := line
		if i := strings.LastIndex(line, erase); i >= 0 {
			rec = line[i+len(erase):]
		}
		if !record.MatchString(rec) {
			t.Fatalf("line %q does not end in one whole record", line)
		}
		if seen[rec] {
			t.Fatalf("record %q written twice", rec)
		}
		seen[rec] = true
		// What precedes it is status text, each erased before the next.
		for _, drawn := range strings.Split(line[:len(line)-len(rec)], erase) {
			if !status.MatchString(drawn) {
				t.Fatalf("line %q: %q before the record is not a status text", line, drawn)
			}
		}
	}
	if len(seen) != writers*records {
		t.Errorf("%d records on the output; want %d", len(seen), writers*records)
	}
	last := lines[len(lines)-1]
	for _, drawn := range strings.Split(last, erase) {
		if !status.MatchString(drawn) {
			t.Fatalf("the last line %q holds %q, not a status text", last, drawn)
		}
	}
}
