package query

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"
)

// stdJSON is what writeJSON writes for v: encoding/json without HTML
// escaping, with a final newline.
func stdJSON(t testing.TB, v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

var encodeStrings = []string{
	"", "1042", "plain text", `quote " and \ backslash`, "tab\tnew\nline\rcr\bbs\fff",
	"\x00\x01\x1f\x7f", "<html> & 'amp'", "é ü 日本語 🎉", "\u2028\u2029", "bad \xff utf8 \xc3",
	"\xed\xa0\x80 surrogate", "a/b/c", "émoji at end 🎉",
}

// TestAppendEntityMatchesEncodingJSON: the hand-written entity answer is,
// byte for byte, what encoding/json writes for the same map.
func TestAppendEntityMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2026, 11, 23, 10, 15, 2, 311000000, time.UTC)
	at2 := time.Date(2026, 11, 23, 10, 15, 2, 0, time.UTC)
	secs := []float64{0, 0.42, 1e-7, 123456.789, 1e21, 3e-10, 1.5e300, 0.000001}
	for i, s := range encodeStrings {
		fields := map[string]string{"status": s, s + "k": "v", "total": "129.90"}
		st := &secs[i%len(secs)]
		st2 := &secs[(i+3)%len(secs)]
		f := &freshness{Generation: int64(i) + 1, Partitions: []partFreshness{
			{Partition: 0, AppliedLSN: "0/16B3748", CommitTime: &at, StalenessSeconds: st},
			{Partition: 1, AppliedLSN: "0/0"},
			{Partition: 2, AppliedLSN: "16/B374D848", CommitTime: &at2, StalenessSeconds: st2},
		}, StalenessSeconds: st}
		if i%2 == 1 {
			f.WaitedSeconds = st2
		}
		want := stdJSON(t, map[string]any{"id": s, "fields": fields, "freshness": f})
		if got := string(appendEntity(nil, s, fields, f)); got != want {
			t.Errorf("appendEntity(%q) =\n%s\nwant\n%s", s, got, want)
		}
	}
	if got, want := string(appendEntity(nil, "x", nil, &freshness{})), stdJSON(t, map[string]any{"id": "x", "fields": map[string]string(nil), "freshness": &freshness{}}); got != want {
		t.Errorf("empty: %s; want %s", got, want)
	}
}

// TestAppendFloat: floats are written as encoding/json writes them.
func TestAppendFloat(t *testing.T) {
	for _, f := range []float64{0, -0.5, 1, 0.1, 1e-6, 9.99e-7, 1e20, 1e21, 123e-20, math.MaxFloat64, math.SmallestNonzeroFloat64, 2.5e-5} {
		want := stdJSON(t, f)
		if got := string(appendFloatPtr(nil, &f)) + "\n"; got != want {
			t.Errorf("appendFloatPtr(%v) = %q; want %q", f, got, want)
		}
	}
}
