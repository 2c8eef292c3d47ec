package status

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Render writes s as one screen: the positions side by side in flow
// order, then every line with its verdict and threshold.
func Render(w io.Writer, s *Status) error {
	var b strings.Builder
	fmt.Fprintf(&b, "cdcflow status  %s  %s\n\n", s.Time.UTC().Format("2006-01-02 15:04:05 MST"), strings.ToUpper(string(s.Verdict)))
	if len(s.Positions) > 0 {
		b.WriteString("positions (PostgreSQL → slot → Kafka → views)\n")
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		for _, p := range s.Positions {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", p.Stage, where(p), orDash(p.LSN), behind(p))
		}
		tw.Flush()
		b.WriteString("\n")
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, l := range s.Lines {
		th := ""
		if l.Threshold != "" {
			th = "(" + l.Threshold + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", l.Verdict, l.Stage, l.Name, l.Value, th)
	}
	tw.Flush()
	// tabwriter pads the last cell too: no trailing blanks.
	lines := strings.Split(b.String(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	_, err := io.WriteString(w, strings.Join(lines, "\n"))
	return err
}

// where names a position's place: its topic, partition and generation.
func where(p Position) string {
	switch {
	case p.Partition != nil:
		return fmt.Sprintf("%s[%d] g%d", p.Topic, *p.Partition, p.Generation)
	case p.Topic != "":
		return p.Topic
	}
	return ""
}

func behind(p Position) string {
	var parts []string
	if p.Offset != nil {
		if p.Stage == "kafka" {
			parts = append(parts, fmt.Sprintf("%d records", *p.Offset))
		} else {
			parts = append(parts, fmt.Sprintf("offset %d", *p.Offset))
		}
	}
	if p.BehindBytes != nil {
		parts = append(parts, bytesText(*p.BehindBytes)+" behind")
	}
	if p.BehindSeconds != nil {
		parts = append(parts, durText(seconds(*p.BehindSeconds))+" behind")
	}
	if p.BehindRecords != nil {
		parts = append(parts, fmt.Sprintf("%d records behind", *p.BehindRecords))
	}
	return strings.Join(parts, ", ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// RenderJSON writes s as indented JSON.
func RenderJSON(w io.Writer, s *Status) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

// Watch gathers and renders every interval until ctx is done, clearing the
// screen before each rendering when clear is set (a terminal). It returns
// ctx's error, or the first error of render.
func Watch(ctx context.Context, cfg Config, interval time.Duration, w io.Writer, clear bool, render func(io.Writer, *Status) error) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s, err := Gather(ctx, cfg)
		if err != nil {
			return err
		}
		var b strings.Builder
		if clear {
			b.WriteString("\x1b[H\x1b[2J")
		}
		if err := render(&b, s); err != nil {
			return err
		}
		if _, err := io.WriteString(w, b.String()); err != nil {
			return fmt.Errorf("write status: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
