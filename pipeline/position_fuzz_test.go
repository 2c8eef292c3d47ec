package pipeline

import "testing"

// FuzzParsePosition checks that ParsePosition never panics and that whatever
// it accepts is exactly what MakePosition writes for the parsed fields.
func FuzzParsePosition(f *testing.F) {
	for _, s := range []string{
		"00000016B374D848-00000003-0001",
		"FFFFFFFFFFFFFFFF-FFFFFFFF-FFFF",
		"0000000000000000-00000000-0000",
		"00000016b374d848-00000003-0001",
		"16/B374D848",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lsn, index, ordinal, err := ParsePosition(s)
		if err != nil {
			return
		}
		if got := MakePosition(lsn, index, ordinal); string(got) != s {
			t.Fatalf("ParsePosition(%q) = %d, %d, %d; MakePosition gives %s", s, lsn, index, ordinal, got)
		}
	})
}
