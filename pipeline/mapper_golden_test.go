package pipeline

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/capture"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func nan() float64         { return math.NaN() }
func inf(sign int) float64 { return math.Inf(sign) }

// goldenEvent is an Event as the golden files show it.
type goldenEvent struct {
	Error         string          `json:"error,omitempty"`
	ID            string          `json:"id,omitempty"`
	Source        string          `json:"source,omitempty"`
	Type          string          `json:"type,omitempty"`
	Version       int             `json:"version,omitempty"`
	AggregateType string          `json:"aggregate_type,omitempty"`
	AggregateID   string          `json:"aggregate_id,omitempty"`
	Position      Position        `json:"position,omitempty"`
	LSN           string          `json:"lsn,omitempty"`
	XID           uint32          `json:"xid,omitempty"`
	Time          string          `json:"time,omitempty"`
	Epoch         uint64          `json:"epoch,omitempty"`
	Control       ControlKind     `json:"control,omitempty"`
	DeadLetter    bool            `json:"dead_letter,omitempty"`
	Data          json.RawMessage `json:"data,omitempty"`
}

func toGolden(e Event) goldenEvent {
	return goldenEvent{
		ID: e.ID, Source: e.Source, Type: e.Type, Version: e.Version,
		AggregateType: e.AggregateType, AggregateID: e.AggregateID, Position: e.Position,
		LSN: e.LSN.String(), XID: e.XID, Time: e.Time.UTC().Format(time.RFC3339Nano), Epoch: e.Epoch,
		Control: e.Control, DeadLetter: e.DeadLetter, Data: e.Data,
	}
}

// loadMapping loads a mapping file from disk, failing the test on error.
func loadMapping(t testing.TB, path string, opts LoadOptions) *Mapping {
	t.Helper()
	m, err := Load(os.DirFS(filepath.Dir(path)), filepath.Base(path), opts)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	return m
}

// runStream feeds a stream to a new Mapper and returns what came out; a
// returned error is recorded and ends the run.
func runStream(t testing.TB, m *Mapping, s *stream, opts MapperOptions) []goldenEvent {
	t.Helper()
	mp, err := NewMapper(m, opts)
	if err != nil {
		t.Fatal(err)
	}
	var out []goldenEvent
	emit := func(e Event) {
		if !json.Valid(e.Data) {
			t.Errorf("event %s at %s: data is not valid JSON: %s", e.Type, e.Position, e.Data)
		}
		out = append(out, toGolden(e))
	}
	for _, msg := range s.msgs {
		var err error
		switch x := msg.(type) {
		case *capture.Connected:
			mp.Connected(x)
		case *capture.Begin:
			mp.Begin(x)
		case *capture.Change:
			err = mp.Change(x, emit)
		case *capture.Commit:
			err = mp.Commit(x, emit)
		case *capture.Marker:
			mp.Marker(x, emit)
		}
		if err != nil {
			out = append(out, goldenEvent{Error: err.Error()})
			break
		}
	}
	return out
}

// checkGolden compares got with the golden file, or rewrites it under -update.
func checkGolden(t *testing.T, path string, got any) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(b, want) {
		t.Errorf("%s differs from the output (a change to a released event version is breaking: bump its version; run go test -update to accept):\n%s", path, lineDiff(string(want), string(b)))
	}
}

// lineDiff shows the first differing lines of two texts.
func lineDiff(want, got string) string {
	wl, gl := bytes.Split([]byte(want), []byte("\n")), bytes.Split([]byte(got), []byte("\n"))
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g []byte
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if !bytes.Equal(w, g) {
			return "line " + itoa(i+1) + ":\n  want: " + string(w) + "\n   got: " + string(g)
		}
	}
	return "(equal lines)"
}

func itoa(i int) string { return string(appendInt(nil, i)) }

func appendInt(b []byte, i int) []byte {
	if i >= 10 {
		b = appendInt(b, i/10)
	}
	return append(b, byte('0'+i%10))
}

// TestGolden maps every recorded stream under testdata/golden/<case>/stream.json
// and compares the events with events.golden.json next to it.
func TestGolden(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "golden", "*", "stream.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no golden cases found")
	}
	for _, p := range paths {
		dir := filepath.Dir(p)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			s := readStream(t, p)
			m := loadMapping(t, s.mappingPath, LoadOptions{Timezone: s.timezone})
			got := runStream(t, m, s, MapperOptions{Validate: m.schemas != nil})
			checkOrder(t, got)
			checkGolden(t, filepath.Join(dir, "events.golden.json"), got)
		})
	}
}

// feed hands every message of s to mp, failing the test on an error.
func feed(t testing.TB, mp *Mapper, s *stream, emit func(Event)) {
	t.Helper()
	for _, msg := range s.msgs {
		var err error
		switch x := msg.(type) {
		case *capture.Connected:
			mp.Connected(x)
		case *capture.Begin:
			mp.Begin(x)
		case *capture.Change:
			err = mp.Change(x, emit)
		case *capture.Commit:
			err = mp.Commit(x, emit)
		case *capture.Marker:
			mp.Marker(x, emit)
		}
		if err != nil {
			t.Fatalf("map %T: %v", msg, err)
		}
	}
}

// checkOrder checks the ordering promise: one aggregate's events come out in
// position order, and no two events share an id.
func checkOrder(t *testing.T, events []goldenEvent) {
	t.Helper()
	last := map[string]Position{}
	ids := map[string]bool{}
	for _, e := range events {
		if e.Error != "" {
			continue
		}
		if ids[e.ID] {
			t.Errorf("event id %s given twice", e.ID)
		}
		ids[e.ID] = true
		if e.DeadLetter || e.Control != NotControl {
			continue
		}
		k := e.AggregateType + "/" + e.AggregateID
		if p, ok := last[k]; ok && e.Position < p {
			t.Errorf("aggregate %s: event %s at %s comes after %s", k, e.Type, e.Position, p)
		}
		last[k] = e.Position
	}
}
