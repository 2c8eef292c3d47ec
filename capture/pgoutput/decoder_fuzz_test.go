package pgoutput

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/cdcflow/cdcflow/capture"
)

var genCorpus = flag.Bool("gencorpus", false, "rewrite the seed corpus in testdata/fuzz/FuzzDecode")

// fuzzSetup is decoded before every fuzz input: two relations, a type, and an
// open transaction, so that inputs can reach the row-change decoders.
var fuzzSetup = [][]byte{
	encType(16500, "public", "mood"),
	ordersRel,
	encRelation(16401, "sales", "Order Lines", 'f',
		relCol{key: true, name: "order_id", oid: 20, typmod: -1},
		relCol{name: "mood", oid: 16500, typmod: -1},
		relCol{name: "tags", oid: 1009, typmod: -1},
		relCol{name: "at", oid: 1184, typmod: -1},
	),
	encBegin(0x100, t0, 5),
}

// frame joins messages into one fuzz input: each message is preceded by its
// length as a big-endian uint16.
func frame(msgs ...[]byte) []byte {
	var b []byte
	for _, m := range msgs {
		b = binary.BigEndian.AppendUint16(b, uint16(len(m)))
		b = append(b, m...)
	}
	return b
}

// unframe splits a fuzz input into messages; a short tail is one last message.
func unframe(b []byte) [][]byte {
	var msgs [][]byte
	for len(b) >= 2 {
		n := int(binary.BigEndian.Uint16(b))
		b = b[2:]
		if n > len(b) {
			n = len(b)
		}
		msgs = append(msgs, b[:n])
		b = b[n:]
	}
	return msgs
}

// fuzzSeeds returns the seed inputs: each kind of message alone, and the
// synthetic and the real recordings, each as one sequence.
func fuzzSeeds(t testing.TB) [][]byte {
	seeds := [][]byte{
		frame(encInsert(16400, txt("1"), txt("x"), txt("1.5"), txt(`{"a":1}`))),
		frame(encInsert(16401, txt("1"), txt("happy"), txt(`{a,NULL}`), txt("2026-11-23 10:15:00+00"))),
		frame(encUpdate(16401, 'O', []tv{txt("1"), null, null, txt("infinity")}, []tv{txt("1"), unchanged, null, unchanged})),
		frame(encUpdate(16400, 'K', []tv{txt("1"), null, null, null}, []tv{txt("2"), null, null, unchanged})),
		frame(encDelete(16400, 'K', txt("1"), null, null, null)),
		frame(encTruncate(truncCascade|truncRestartIdentity, 16400, 16401)),
		frame(encCommit(0x100, 0x110, t0), encBegin(0x200, t0, 6), encCommit(0x200, 0x210, t0)),
		frame(encMessage(false, 0x500, "cdcflow.heartbeat", "2026-11-23T10:15:00Z")),
		frame(encOrigin(0x42, "o"), encType(16502, "", "numeric")),
		frame(encRelation(16400, "public", "orders", 'd', relCol{key: true, name: "id", oid: 20}), encInsert(16400, txt("1"))),
	}
	for _, rec := range [][]recorded{syntheticRecording(), readRecording(t, filepath.Join("testdata", "realwal.pgoutput"))} {
		// The recordings begin their own transactions: commit the setup's first.
		all := [][]byte{encCommit(0x100, 0x110, t0)}
		for _, m := range rec {
			all = append(all, m.data)
		}
		seeds = append(seeds, frame(all...))
	}
	return seeds
}

func newFuzzDecoder(t *testing.T) *Decoder {
	return newFuzzDecoderWith(t, Config{HeartbeatPrefix: "cdcflow.heartbeat"})
}

func newFuzzDecoderWith(t *testing.T, cfg Config) *Decoder {
	d := NewDecoder(cfg)
	for _, m := range fuzzSetup {
		if _, err := d.Decode(1, m); err != nil {
			t.Fatalf("decode setup: %v", err)
		}
	}
	return d
}

// FuzzDecode feeds sequences of messages to a decoder. It must never panic,
// must report every failure as a *DecodeError, must hand out changes whose
// tuples match their relation, and must fail on every strict prefix of the
// last message when that message decoded. A second decoder deferring
// decoding must decode whatever the first decodes, to values that decode to
// the first's, from its own copy of the bytes.
func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		msgs := unframe(input)
		d := newFuzzDecoder(t)
		lazy := newFuzzDecoderWith(t, Config{HeartbeatPrefix: "cdcflow.heartbeat", DeferDecoding: true})
		for i, m := range msgs {
			got, err := d.Decode(capture.LSN(i), m)
			mc := slices.Clone(m)
			lgot, lerr := lazy.Decode(capture.LSN(i), mc)
			clear(mc) // deferred values must not alias the message
			if lerr != nil && err == nil {
				t.Fatalf("Decode(%x) with deferred decoding: %v; without: no error", m, lerr)
			}
			if err == nil {
				sameDecoded(t, got, lgot)
			}
			if err != nil {
				var de *DecodeError
				if !errors.As(err, &de) {
					t.Fatalf("Decode(%x) error %T is not a *DecodeError: %v", m, err, err)
				}
				if de.Offset < 0 || de.Offset > len(m) {
					t.Fatalf("Decode(%x) error offset %d outside the message", m, de.Offset)
				}
				return // the session is over after an error
			}
			if c, ok := got.(*capture.Change); ok {
				checkChange(t, c)
			}
			if i == len(msgs)-1 {
				checkPrefixes(t, msgs)
			}
		}
	})
}

// sameDecoded checks that lazy, decoded with deferred decoding, equals
// eager once its encoded values are decoded.
func sameDecoded(t *testing.T, eager, lazy capture.Message) {
	t.Helper()
	lc, ok := lazy.(*capture.Change)
	if !ok {
		if !reflect.DeepEqual(eager, lazy) {
			t.Fatalf("deferred decoding gave %#v; eager %#v", lazy, eager)
		}
		return
	}
	checkChange(t, lc)
	dc := *lc
	for _, tuple := range []*[]capture.Value{&dc.Old, &dc.New} {
		if *tuple == nil {
			continue
		}
		vals := make([]capture.Value, len(*tuple))
		for i, v := range *tuple {
			if v.Kind == capture.KindValue {
				t.Fatalf("deferred decoding decoded value %d: %+v", i, v)
			}
			d, err := v.Decoded()
			if err != nil {
				t.Fatalf("deferred value %d of a change that decodes eagerly: %v", i, err)
			}
			vals[i] = d
		}
		*tuple = vals
	}
	ec, ok := eager.(*capture.Change)
	if !ok {
		t.Fatalf("deferred decoding gave a change; eager %T", eager)
	}
	// The values compare as rendered text (NaN is not DeepEqual to itself).
	if g, w := renderValues(dc.Old), renderValues(ec.Old); g != w {
		t.Fatalf("deferred decoding gave old %s once decoded; eager %s", g, w)
	}
	if g, w := renderValues(dc.New), renderValues(ec.New); g != w {
		t.Fatalf("deferred decoding gave new %s once decoded; eager %s", g, w)
	}
	e := *ec
	dc.Old, dc.New, e.Old, e.New = nil, nil, nil, nil
	if !reflect.DeepEqual(&e, &dc) {
		t.Fatalf("deferred decoding gave %#v; eager %#v", &dc, &e)
	}
}

func checkChange(t *testing.T, c *capture.Change) {
	t.Helper()
	if c.Relation == nil {
		t.Fatalf("change %+v without a relation", c)
	}
	for _, tuple := range [][]capture.Value{c.Old, c.New} {
		if tuple != nil && len(tuple) != len(c.Relation.Columns) {
			t.Fatalf("change has %d values for %d columns", len(tuple), len(c.Relation.Columns))
		}
		for _, v := range tuple {
			if v.Kind > capture.KindEncoded || (v.Kind == capture.KindValue || v.Kind == capture.KindEncoded) != (v.Data != nil) {
				t.Fatalf("bad value %+v", v)
			}
			if _, ok := v.Data.(capture.Encoded); ok != (v.Kind == capture.KindEncoded) {
				t.Fatalf("bad value %+v", v)
			}
		}
	}
	if c.Op == capture.OpInsert && (c.New == nil || c.Old != nil) ||
		c.Op == capture.OpDelete && (c.Old == nil || c.New != nil) ||
		c.Op == capture.OpUpdate && c.New == nil ||
		c.Op == capture.OpTruncate && len(c.Truncated) == 0 {
		t.Fatalf("%s change with old %v, new %v, truncated %d", c.Op, c.Old != nil, c.New != nil, len(c.Truncated))
	}
}

// checkPrefixes replays msgs but the last on a fresh decoder, then checks that
// each strict prefix of the last message fails.
func checkPrefixes(t *testing.T, msgs [][]byte) {
	t.Helper()
	last := msgs[len(msgs)-1]
	for n := range len(last) {
		d := newFuzzDecoder(t)
		for _, m := range msgs[:len(msgs)-1] {
			if _, err := d.Decode(0, m); err != nil {
				t.Fatalf("replay: %v", err)
			}
		}
		if got, err := d.Decode(0, last[:n]); err == nil {
			t.Fatalf("Decode(%x), a %d-byte prefix of %x, = %v; want an error", last[:n], n, last, got)
		}
	}
}

// TestGenCorpus writes fuzzSeeds to testdata/fuzz/FuzzDecode when run with
// -gencorpus, so that the committed corpus and the seeds stay in step.
func TestGenCorpus(t *testing.T) {
	if !*genCorpus {
		t.Skip("run with -gencorpus to rewrite the seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range fuzzSeeds(t) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(s)))
		name := fmt.Sprintf("seed-%x", sha256.Sum256([]byte(body)))[:21]
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
