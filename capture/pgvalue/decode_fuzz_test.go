package pgvalue

import (
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/capture"
)

var genCorpus = flag.Bool("gencorpus", false, "rewrite the seed corpus in testdata/fuzz/FuzzDecode")

// fuzzSeeds are typical and awkward PostgreSQL outputs for each decoder.
var fuzzSeeds = []struct {
	oid  uint32
	name string
	text string
}{
	{23, "", "-2147483648"},
	{20, "", "9223372036854775807"},
	{26, "", "4294967295"},
	{1700, "", "-1234.5600"},
	{1700, "", "NaN"},
	{790, "", "-$92,233,720,368,547,758.08"},
	{700, "", "3.4028235e+38"},
	{701, "", "-Infinity"},
	{16, "", "t"},
	{25, "", "héllo"},
	{1082, "", "4713-01-01 BC"},
	{1082, "", "2024-02-29"},
	{1114, "", "2026-11-23 10:15:00.123456"},
	{1114, "", "294276-12-31 23:59:59.999999"},
	{1184, "", "1800-01-01 05:53:28+05:53:28"},
	{1184, "", "4713-01-01 00:00:00+00 BC"},
	{1083, "", "24:00:00"},
	{1266, "", "15:04:05.1+05:30"},
	{1186, "", "-1 years -2 mons +3 days -04:05:06"},
	{1186, "", "2562047788:00:54.775807"},
	{1186, "", "1 day -00:00:00.000001"},
	{114, "", `{"b":1, "a":[1,2]}`},
	{3802, "", `[1, "x", null]`},
	{17, "", `\x00ff`},
	{17, "", `a\\b\001`},
	{1007, "", "{{1,2},{3,NULL}}"},
	{1009, "", `[0:1]={"a b","c\"d",NULL,"NULL",""}`},
	{1020, "", "{(1,1),(0,0);(2,2),(1,1)}"},
	{1185, "", `{"2026-01-01 00:00:00+00",infinity}`},
	{1187, "", `{"1 day","-00:00:01"}`},
	{16390, "numeric", "12.50"},
	{16392, "_mood", `{happy,"very sad",NULL}`},
	{16394, "", "(1,2)"},
}

// FuzzDecode checks that Decode never panics, that it reports failures as
// *Error, and that successfully decoded timestamps survive a round trip.
func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s.oid, s.name, []byte(s.text))
	}
	f.Fuzz(func(t *testing.T, oid uint32, name string, text []byte) {
		c := capture.Column{Name: "c", TypeOID: oid, TypeName: name}
		v, err := Decode(c, text)
		if err != nil {
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("Decode(%d %q, %q) error %v is not an *Error", oid, name, text, err)
			}
			return
		}
		if v.Kind != capture.KindValue {
			t.Fatalf("Decode(%d %q, %q).Kind = %v", oid, name, text, v.Kind)
		}
		switch d := v.Data.(type) {
		case capture.LocalTime:
			back, err := Decode(c, []byte(d.Format("2006-01-02 15:04:05.999999")))
			if err != nil || back.Data.(capture.LocalTime) != d {
				t.Fatalf("timestamp %q -> %v does not round-trip: %v, %v", text, d, back.Data, err)
			}
		case time.Time:
			if d.Location() != time.UTC {
				t.Fatalf("timestamptz %q -> %v not in UTC", text, d)
			}
			back, err := Decode(c, []byte(d.Format("2006-01-02 15:04:05.999999-07")))
			if err != nil || !back.Data.(time.Time).Equal(d) {
				t.Fatalf("timestamptz %q -> %v does not round-trip: %v, %v", text, d, back.Data, err)
			}
		}
	})
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
	for _, s := range fuzzSeeds {
		body := fmt.Sprintf("go test fuzz v1\nuint32(%d)\nstring(%s)\n[]byte(%s)\n", s.oid, strconv.Quote(s.name), strconv.Quote(s.text))
		name := fmt.Sprintf("seed-%x", sha256.Sum256([]byte(body)))[:21]
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
