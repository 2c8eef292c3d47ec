package kafka

import "testing"

// FuzzParseCursor: no input panics, and whatever parses prints back as it
// was read (the header is canonical: upper-case cursor, lower-case stream).
func FuzzParseCursor(f *testing.F) {
	f.Add([]byte("00000000016B3748-00000007/deadbeef"))
	f.Add([]byte("FFFFFFFFFFFFFFFF-FFFFFFFF/00000001"))
	f.Add([]byte("00000000016b3748-00000007/DEADBEEF"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, c, ok := parseCursor(b)
		if !ok {
			return
		}
		back := appendCursor(nil, s, c)
		s2, c2, ok := parseCursor(back)
		if !ok || s2 != s || c2 != c {
			t.Fatalf("parseCursor(%q) = %x, %v; printed %q, which parses as %x, %v, %v", b, s, c, back, s2, c2, ok)
		}
	})
}
