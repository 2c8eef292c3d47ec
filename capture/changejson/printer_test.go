package changejson

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/capture"
)

// failWriter fails every write.
type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

func TestPrinter(t *testing.T) {
	at := time.Date(2026, 11, 23, 10, 15, 0, 0, time.UTC)
	shown := &capture.Relation{Schema: "Sales", Table: "Order<Lines>", Columns: []capture.Column{{Name: "note"}}}
	hidden := &capture.Relation{Schema: "public", Table: "other", Columns: []capture.Column{{Name: "note"}}}
	msgs := []capture.Message{
		&capture.Begin{FinalLSN: 0x10, XID: 7, CommitTime: at},
		&capture.Marker{Kind: capture.MarkerHeartbeat, LSN: 0x11},
		&capture.Change{Op: capture.OpInsert, FinalLSN: 0x10, XID: 7, CommitTime: at, Relation: hidden,
			New: []capture.Value{{Kind: capture.KindValue, Data: "x"}}},
		&capture.Change{Op: capture.OpInsert, FinalLSN: 0x10, Index: 1, XID: 7, CommitTime: at, Relation: shown,
			New: []capture.Value{{Kind: capture.KindValue, Data: "a <b> & c"}}},
		&capture.Commit{FinalLSN: 0x10, EndLSN: 0x20, XID: 7, CommitTime: at},
	}
	show := func(rel *capture.Relation) bool { return rel.Schema == "Sales" }
	var buf bytes.Buffer
	p := NewPrinter(&buf, show)
	if err := p.Print(msgs[:2]); err != nil {
		t.Fatal(err)
	}
	begin := `{"commit_time":"2026-11-23T10:15:00.000000Z","lsn":"0/10","type":"begin","xid":7}` + "\n"
	if buf.String() != begin {
		t.Errorf("after the first Print, the writer holds %q; want the begin line, flushed", buf.String())
	}
	if err := p.Print(msgs[2:]); err != nil {
		t.Fatal(err)
	}
	want := begin +
		`{"commit_time":"2026-11-23T10:15:00.000000Z","index":1,"lsn":"0/10","new":{"note":"a <b> & c"},"table":"\"Sales\".\"Order<Lines>\"","type":"insert","xid":7}` + "\n" +
		`{"commit_time":"2026-11-23T10:15:00.000000Z","end_lsn":"0/20","lsn":"0/10","type":"commit","xid":7}` + "\n"
	if buf.String() != want {
		t.Errorf("Printer wrote\n%s\nwant\n%s", buf.String(), want)
	}

	// More than the buffer holds still comes out whole and in order.
	buf.Reset()
	big := &capture.Change{Op: capture.OpInsert, FinalLSN: 0x10, Relation: shown,
		New: []capture.Value{{Kind: capture.KindValue, Data: strings.Repeat("x", 100<<10)}}}
	if err := NewPrinter(&buf, nil).Print([]capture.Message{big, msgs[4]}); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n"); len(lines) != 2 || !strings.Contains(lines[0], strings.Repeat("x", 100<<10)) {
		t.Errorf("a line larger than the buffer: got %d lines of %d bytes; want the change, then the commit", len(lines), buf.Len())
	}

	boom := errors.New("disk full")
	if err := NewPrinter(failWriter{boom}, nil).Print(msgs[:1]); !errors.Is(err, boom) {
		t.Errorf("Print to a failing writer = %v; want %v", err, boom)
	}
	if err := NewPrinter(failWriter{boom}, nil).Print([]capture.Message{big}); !errors.Is(err, boom) {
		t.Errorf("Print of a line larger than the buffer to a failing writer = %v; want %v", err, boom)
	}
}
