package redisview

import (
	"testing"
	"time"
)

func TestValidStreamID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"0-0", true}, {"0", true}, {"1796568798462-12", true},
		{"", false}, {"$", false}, {"-1", false}, {"1-", false}, {"a-b", false}, {"1-2-3", false}, {"18446744073709551616-0", false},
	}
	for _, tc := range tests {
		if got := validStreamID(tc.id); got != tc.want {
			t.Errorf("validStreamID(%q) = %v; want %v", tc.id, got, tc.want)
		}
	}
	if compareStreamIDs("10-2", "9-5") <= 0 || compareStreamIDs("10-2", "10-11") >= 0 || compareStreamIDs("7", "7-0") != 0 {
		t.Error("compareStreamIDs does not order by milliseconds, then sequence")
	}
}

func TestParseApplied(t *testing.T) {
	lsn, at, err := parseApplied("00000000016B3790", "1795429202000")
	if err != nil || lsn != 0x16B3790 || !at.Equal(time.UnixMilli(1795429202000)) {
		t.Errorf("parseApplied = %X, %v, %v", lsn, at, err)
	}
	for _, bad := range [][2]string{{"16B3790", "0"}, {"00000000016B379G", "0"}, {"00000000016B3790", "x"}} {
		if _, _, err := parseApplied(bad[0], bad[1]); err == nil {
			t.Errorf("parseApplied(%q, %q) accepted", bad[0], bad[1])
		}
	}
}

// FuzzStreamID: stream IDs come from clients (resume positions); checking
// and ordering them never panics, and valid ones order consistently.
func FuzzStreamID(f *testing.F) {
	for _, s := range []string{"0-0", "1-2", "$", "", "99999999999999999999-1", "5-", "-"} {
		f.Add(s, "1-1")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if !validStreamID(a) || !validStreamID(b) {
			return
		}
		if compareStreamIDs(a, b) != -compareStreamIDs(b, a) {
			t.Fatalf("compareStreamIDs(%q, %q) is not antisymmetric", a, b)
		}
		if compareStreamIDs(a, a) != 0 {
			t.Fatalf("compareStreamIDs(%q, itself) != 0", a)
		}
	})
}
