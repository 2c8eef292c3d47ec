package progress

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestIsTerminal(t *testing.T) {
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	file, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	tests := []struct {
		name string
		w    io.Writer
	}{
		{"/dev/null (a character device, not a terminal)", devNull},
		{"a regular file", file},
		{"a pipe", pw},
		{"a buffer", &bytes.Buffer{}},
	}
	for _, tt := range tests {
		if IsTerminal(tt.w) {
			t.Errorf("IsTerminal(%s) = true; want false", tt.name)
		}
	}
}

// clock is a manual clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func report(s string) Report {
	return Report{Text: s, Msg: "progress", Attrs: []slog.Attr{slog.String("at", s)}}
}

func TestLineModes(t *testing.T) {
	tests := []struct {
		name    string
		cfg     func(out *bytes.Buffer, log *slog.Logger) Config
		redraws bool
		want    string // what Out gets
		logs    []string
	}{
		{
			name:    "redrawn in place (as on a terminal)",
			cfg:     func(out *bytes.Buffer, _ *slog.Logger) Config { return Config{Out: out, Redraw: true} },
			redraws: true,
			want:    "\r\x1b[K1s\r\x1b[K1.3s\r\x1b[K3s\r\x1b[Kend\n",
		},
		{
			name: "lines on a writer that is not a terminal",
			cfg:  func(out *bytes.Buffer, _ *slog.Logger) Config { return Config{Out: out, Interval: time.Second} },
			want: "1s\n3s\nend\n",
		},
		{
			name: "logged without a writer; the end is the caller's to log",
			cfg:  func(_ *bytes.Buffer, log *slog.Logger) Config { return Config{Log: log, Interval: time.Second} },
			logs: []string{"1s", "3s"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, logs bytes.Buffer
			c := &clock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
			cfg := tt.cfg(&out, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{
				ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
					if a.Key == slog.TimeKey {
						return slog.Attr{}
					}
					return a
				},
			})))
			cfg.Now = c.now
			l := New(cfg)
			if l.Redraws() != tt.redraws {
				t.Errorf("Redraws() = %v; want %v", l.Redraws(), tt.redraws)
			}
			// Terminal interval 200ms, otherwise 1s here.
			c.advance(100 * time.Millisecond)
			l.Update(report("0.1s")) // too soon in every mode
			c.advance(900 * time.Millisecond)
			l.Update(report("1s"))
			c.advance(300 * time.Millisecond)
			l.Update(report("1.3s")) // shown only when redrawn
			c.advance(1700 * time.Millisecond)
			l.Update(report("3s"))
			l.Finish(report("end"))
			l.End() // already ended: nothing more
			if got := out.String(); got != tt.want {
				t.Errorf("out = %q; want %q", got, tt.want)
			}
			var logged []string
			for line := range strings.Lines(logs.String()) {
				logged = append(logged, line)
			}
			if len(logged) != len(tt.logs) {
				t.Fatalf("logged %q; want records at %v", logged, tt.logs)
			}
			for i, at := range tt.logs {
				if want := "level=INFO msg=progress at=" + at + "\n"; logged[i] != want {
					t.Errorf("record %d = %q; want %q", i, logged[i], want)
				}
			}
		})
	}
}

func TestLineShowAndRestart(t *testing.T) {
	var out bytes.Buffer
	c := &clock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	l := New(Config{Out: &out, Interval: 10 * time.Second, Now: c.now})
	if l.Interval() != 10*time.Second {
		t.Errorf("Interval() = %v; want 10s", l.Interval())
	}
	l.Show(report("a")) // at once, whatever the interval
	c.advance(9 * time.Second)
	l.Restart()
	c.advance(9 * time.Second)
	l.Update(report("b")) // 9s after the restart: too soon
	c.advance(time.Second)
	l.Update(report("c"))
	if got := out.String(); got != "a\nc\n" {
		t.Errorf("out = %q; want %q", got, "a\nc\n")
	}
}

func TestLineEndsOnlyADrawnLine(t *testing.T) {
	var out bytes.Buffer
	l := New(Config{Out: &out, Redraw: true})
	l.End()
	if out.Len() != 0 {
		t.Errorf("End() of a line never drawn wrote %q", out.String())
	}
	l.Show(report("x"))
	l.End()
	if got := out.String(); got != "\r\x1b[Kx\n" {
		t.Errorf("out = %q; want the line and its end", got)
	}
	if l.Interval() != DefaultTerminalInterval {
		t.Errorf("Interval() = %v; want %v when redrawn", l.Interval(), DefaultTerminalInterval)
	}
}

func TestBar(t *testing.T) {
	tests := []struct {
		done, total int64
		want        string
	}{
		{0, 10, "[..........]"},
		{5, 10, "[#####.....]"},
		{1, 3, "[###.......]"},
		{10, 10, "[##########]"},
		{30, 20, "[##########]"}, // past a stale estimate
		{7, 0, "[??????????]"},   // unknown total
		{-1, 10, "[..........]"},
	}
	for _, tt := range tests {
		if got := Bar(tt.done, tt.total, 10); got != tt.want {
			t.Errorf("Bar(%d, %d, 10) = %q; want %q", tt.done, tt.total, got, tt.want)
		}
	}
}
