package redisview

import (
	"slices"
	"strings"
	"testing"
)

func TestGroupKey(t *testing.T) {
	tests := []struct {
		name  string
		parts []string
		want  string
	}{
		{"day and currency", []string{"2026-11-23", "EUR"}, "2026-11-23|EUR"},
		{"one part", []string{"EUR"}, "EUR"},
		{"empty parts", []string{"", ""}, "|"},
		{"separator escaped", []string{"a|b", "c"}, "a%7Cb|c"},
		{"separator escaped, other split", []string{"a", "b|c"}, "a|b%7Cc"},
		{"escape character escaped", []string{"%7C", "x"}, "%257C|x"},
		{"colon kept", []string{"2026-11-23", "a:b"}, "2026-11-23|a:b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := GroupKey(tt.parts...)
			if got != tt.want {
				t.Errorf("GroupKey(%q) = %q; want %q", tt.parts, got, tt.want)
			}
			back, err := splitGroupKey(got, len(tt.parts))
			if err != nil || !slices.Equal(back, tt.parts) {
				t.Errorf("splitGroupKey(%q, %d) = %q, %v; want %q", got, len(tt.parts), back, err, tt.parts)
			}
		})
	}
}

func TestSplitGroupKeyRefuses(t *testing.T) {
	tests := []struct {
		name string
		key  string
		n    int
		want string
	}{
		{"too few parts", "2026-11-23", 2, "1 parts, want 2"},
		{"too many parts", "a|b|c", 2, "3 parts, want 2"},
		{"bad escape", "a%7D|b", 2, "bad escape"},
		{"lower-case escape", "a%7c|b", 2, "bad escape"},
		{"truncated escape", "a|b%2", 2, "bad escape"},
		{"bare percent", "a%|b", 2, "bad escape"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := splitGroupKey(tt.key, tt.n)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("splitGroupKey(%q, %d) = %q, %v; want an error containing %q", tt.key, tt.n, got, err, tt.want)
			}
		})
	}
}

// FuzzGroupKey checks that the encoding is injective: parts survive a round
// trip, and a key that decodes is the encoding of what it decodes to (so no
// two lists of parts share a key).
func FuzzGroupKey(f *testing.F) {
	f.Add("2026-11-23", "EUR", "a|b%7C")
	f.Add("", "|", "%")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		for _, parts := range [][]string{{a}, {a, b}, {a, b, c}} {
			key := GroupKey(parts...)
			back, err := splitGroupKey(key, len(parts))
			if err != nil || !slices.Equal(back, parts) {
				t.Fatalf("splitGroupKey(GroupKey(%q)) = %q, %v", parts, back, err)
			}
		}
		for n := 1; n <= 3; n++ {
			if parts, err := splitGroupKey(a, n); err == nil {
				if got := GroupKey(parts...); got != a {
					t.Fatalf("GroupKey(splitGroupKey(%q, %d) = %q) = %q; want the key back", a, n, parts, got)
				}
			}
		}
	})
}
