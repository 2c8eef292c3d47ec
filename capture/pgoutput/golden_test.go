package pgoutput

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/capture"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata and the synthetic recording")

// A recording (testdata/*.pgoutput) holds one pgoutput message a line: the WAL
// start of its XLogData message, a space and the payload in hex. Lines starting
// with '#' are comments. Each recording's decoded messages are compared with
// its .golden.json.

type recorded struct {
	walStart capture.LSN
	data     []byte
}

func readRecording(t testing.TB, path string) []recorded {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []recorded
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if text == "" || text[0] == '#' {
			continue
		}
		lsnText, hexText, ok := strings.Cut(text, " ")
		lsn, err := capture.ParseLSN(lsnText)
		if !ok || err != nil {
			t.Fatalf("%s:%d: want \"LSN hex\"", path, line)
		}
		data, err := hex.DecodeString(hexText)
		if err != nil {
			t.Fatalf("%s:%d: %v", path, line, err)
		}
		out = append(out, recorded{lsn, data})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func writeRecording(t *testing.T, path, comment string, msgs []recorded) {
	t.Helper()
	var b bytes.Buffer
	for _, line := range strings.Split(comment, "\n") {
		fmt.Fprintf(&b, "# %s\n", line)
	}
	for _, m := range msgs {
		fmt.Fprintf(&b, "%s %x\n", m.walStart, m.data)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// syntheticRecording is a session built with the test encoder: every message
// type, each tuple state, TOAST under both identities, a key change, a
// multi-table truncate, ALTER TABLE mid-stream and heartbeats.
func syntheticRecording() []recorded {
	msgs := [][]byte{
		encType(16500, "public", "mood"),
		encType(16501, "", "numeric"), // a domain over numeric
		ordersRel,
		encRelation(16401, "sales", "Order Lines", 'f',
			relCol{key: true, name: "order_id", oid: 20, typmod: -1},
			relCol{key: true, name: "line", oid: 23, typmod: -1},
			relCol{name: "mood", oid: 16500, typmod: -1},
			relCol{name: "price", oid: 16501, typmod: -1},
			relCol{name: "tags", oid: 1009, typmod: -1},
			relCol{name: "at", oid: 1184, typmod: -1},
			relCol{name: "blob", oid: 17, typmod: -1},
		),
		encMessage(false, 0x16B3740010, "cdcflow.heartbeat", "2026-11-23T10:14:59Z"),
		encBegin(0x16B374D848, t0, 770),
		encInsert(16400, txt("1"), txt("first"), txt("12.50"), txt(`{"a": [1, 2.5e3]}`)),
		encInsert(16401, txt("1"), txt("1"), txt("happy"), txt("9.90"), txt(`{a,"b c",NULL}`), txt("2026-11-23 10:15:00.123456+00"), txt(`\x00ff`)),
		encUpdate(16400, 0, nil, []tv{txt("1"), txt("second"), txt("12.50"), unchanged}),
		encUpdate(16400, 'K', []tv{txt("1"), null, null, null}, []tv{txt("2"), txt("second"), null, unchanged}),
		encUpdate(16401, 'O',
			[]tv{txt("1"), txt("1"), txt("happy"), txt("9.90"), txt(`{a,"b c",NULL}`), txt("2026-11-23 10:15:00.123456+00"), txt(`\x00ff`)},
			[]tv{txt("1"), txt("1"), txt("sad"), txt("9.90"), txt(`{}`), txt("infinity"), unchanged}),
		encMessage(true, 0x16B374D000, "cdcflow.heartbeat", "transactional: ignored"),
		encDelete(16400, 'K', txt("2"), null, null, null),
		encDelete(16401, 'O', txt("1"), txt("1"), txt("sad"), txt("9.90"), txt(`{}`), txt("infinity"), txt(`\x00ff`)),
		encCommit(0x16B374D848, 0x16B374D8A0, t0),
		encMessage(false, 0x16B374D900, "other.prefix", "ignored"),
		// ALTER TABLE orders ADD COLUMN qty int4, DROP COLUMN doc
		encRelation(16400, "public", "orders", 'd',
			relCol{key: true, name: "id", oid: 20, typmod: -1},
			relCol{name: "note", oid: 25, typmod: -1},
			relCol{name: "amount", oid: 1700, typmod: 655366},
			relCol{name: "qty", oid: 23, typmod: -1},
		),
		encBegin(0x16B3750000, t0.Add(time.Second), 771),
		encOrigin(0x42, "upstream"),
		encInsert(16400, txt("3"), null, txt("-0.001"), txt("7")),
		encTruncate(truncCascade|truncRestartIdentity, 16400, 16401),
		encCommit(0x16B3750000, 0x16B3750058, t0.Add(time.Second)),
		encMessage(false, 0x16B3750100, "cdcflow.heartbeat", "2026-11-23T10:15:02Z"),
	}
	out := make([]recorded, len(msgs))
	lsn := capture.LSN(0x16B3740000)
	for i, m := range msgs {
		out[i] = recorded{lsn, m}
		lsn += capture.LSN(len(m))
	}
	return out
}

func TestGolden(t *testing.T) {
	synthetic := filepath.Join("testdata", "synthetic.pgoutput")
	if *update {
		writeRecording(t, synthetic, "Written by TestGolden -update from syntheticRecording (decoder_test encoder).", syntheticRecording())
	}
	paths, err := filepath.Glob(filepath.Join("testdata", "*.pgoutput"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no recordings in testdata (%v): run with -update", err)
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			d := NewDecoder(Config{HeartbeatPrefix: "cdcflow.heartbeat"})
			var got []capture.Message
			for _, m := range readRecording(t, path) {
				msg, err := d.Decode(m.walStart, m.data)
				if err != nil {
					t.Fatalf("Decode(%s): %v", m.walStart, err)
				}
				if msg != nil {
					got = append(got, msg)
				}
			}
			out := []byte(render(got))
			golden := strings.TrimSuffix(path, ".pgoutput") + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, out, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if !bytes.Equal(out, want) {
				t.Errorf("decoded %s differs from %s (run with -update after checking):\n%s", path, golden, out)
			}
		})
	}
}

// render prints messages as JSON lines, one a message, with each relation
// printed in full before the first message that uses it, so that a golden diff
// shows a relation's change.
func render(msgs []capture.Message) string { return renderMode(msgs, false) }

// renderStable is render without what differs between two runs of the same
// workload on a fresh server: LSNs, XIDs, times and the OIDs of tables and
// user-defined types.
func renderStable(msgs []capture.Message) string { return renderMode(msgs, true) }

func renderMode(msgs []capture.Message, stable bool) string {
	var b strings.Builder
	seen := map[*capture.Relation]int{}
	relName := func(r *capture.Relation) string {
		if _, ok := seen[r]; !ok {
			seen[r] = len(seen) + 1
			rel := map[string]any{"msg": "relation", "ref": seen[r], "oid": r.OID, "schema": r.Schema, "table": r.Table,
				"identity": string(rune(r.ReplicaIdentity)), "columns": r.Columns}
			if stable {
				delete(rel, "oid")
				cols := append([]capture.Column(nil), r.Columns...)
				for i := range cols {
					if cols[i].TypeOID >= 10000 {
						cols[i].TypeOID = 0
					}
				}
				rel["columns"] = cols
			}
			line(&b, rel)
		}
		return fmt.Sprintf("%s#%d", r.QualifiedName(), seen[r])
	}
	for _, m := range msgs {
		if stable {
			switch m := m.(type) {
			case *capture.Begin:
				line(&b, map[string]any{"msg": "begin"})
				continue
			case *capture.Commit:
				line(&b, map[string]any{"msg": "commit"})
				continue
			case *capture.Marker:
				line(&b, map[string]any{"msg": "marker", "kind": m.Kind.String()})
				continue
			}
		}
		switch m := m.(type) {
		case *capture.Begin:
			line(&b, map[string]any{"msg": "begin", "final_lsn": m.FinalLSN.String(), "xid": m.XID, "commit_time": m.CommitTime})
		case *capture.Commit:
			line(&b, map[string]any{"msg": "commit", "final_lsn": m.FinalLSN.String(), "end_lsn": m.EndLSN.String(), "xid": m.XID, "commit_time": m.CommitTime})
		case *capture.Marker:
			line(&b, map[string]any{"msg": "marker", "kind": m.Kind.String(), "lsn": m.LSN.String(), "time": m.Time})
		case *capture.Change:
			var rel string
			var truncated []string
			if m.Relation != nil {
				rel = relName(m.Relation)
			}
			for _, r := range m.Truncated {
				truncated = append(truncated, relName(r))
			}
			out := map[string]any{"msg": "change", "op": m.Op.String(), "final_lsn": m.FinalLSN.String(), "index": m.Index,
				"xid": m.XID, "commit_time": m.CommitTime, "relation": rel}
			if stable {
				delete(out, "final_lsn")
				delete(out, "xid")
				delete(out, "commit_time")
			}
			if m.Op == capture.OpTruncate {
				out["truncated"], out["cascade"], out["restart_identity"] = truncated, m.Cascade, m.RestartIdentity
			}
			if m.Old != nil {
				out["old"] = valuesJSON(m.Old)
			}
			if m.New != nil {
				out["new"] = valuesJSON(m.New)
			}
			line(&b, out)
		default:
			line(&b, map[string]any{"msg": fmt.Sprintf("%T", m)})
		}
	}
	return b.String()
}

func renderValues(vals []capture.Value) string {
	var b strings.Builder
	line(&b, valuesJSON(vals))
	return b.String()
}

// line writes v as one line of JSON, without escaping <, > and &.
func line(b *strings.Builder, v any) {
	e := json.NewEncoder(b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		fmt.Fprintf(b, "%q\n", err.Error())
	}
}

func valuesJSON(vals []capture.Value) []any {
	if vals == nil {
		return nil
	}
	out := make([]any, len(vals))
	for i, v := range vals {
		switch v.Kind {
		case capture.KindAbsent:
			out[i] = "<absent>"
		case capture.KindNull:
			out[i] = "<null>"
		case capture.KindUnchangedTOAST:
			out[i] = "<unchanged-toast>"
		default:
			out[i] = dataJSON(v.Data)
		}
	}
	return out
}

// dataJSON renders a decoded value with its Go type, so a golden file pins the
// types too.
func dataJSON(d any) any {
	var s any
	switch d := d.(type) {
	case nil:
		return nil
	case float64:
		switch {
		case math.IsNaN(d) || math.IsInf(d, 0):
			s = strconv.FormatFloat(d, 'g', -1, 64)
		default:
			s = d
		}
	case time.Time:
		s = d.Format(time.RFC3339Nano)
	case capture.LocalTime:
		s = d.Format("2006-01-02T15:04:05.999999")
	case json.RawMessage:
		s = abbrev(string(d))
	case string:
		s = abbrev(d)
	case []byte:
		if len(d) > 64 {
			s = abbrev(string(d))
		} else {
			s = d
		}
	case []any:
		elems := make([]any, len(d))
		for i, e := range d {
			elems[i] = dataJSON(e)
		}
		s = elems
	default:
		s = d
	}
	return map[string]any{fmt.Sprintf("%T", d): s}
}

// abbrev shortens long values (TOAST tests write kilobytes) to a prefix, their
// length and a hash, so golden files stay readable but still pin the value.
func abbrev(s string) string {
	if len(s) <= 100 {
		return s
	}
	return fmt.Sprintf("%s...(%d bytes, sha256 %x)", s[:20], len(s), sha256.Sum256([]byte(s)))
}
