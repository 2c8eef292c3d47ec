package strictyaml

import (
	"slices"
	"testing"
)

func TestSuggest(t *testing.T) {
	known := []string{"brokers", "client_id", "compression", "tables", "data", "type", "name", "hosts", "sec"}
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"one deletion", "brokrs", []string{"brokers"}},
		{"transposition counts one", "borkers", []string{"brokers"}},
		{"two edits on a long name", "compresion_", []string{"compression"}},
		{"three edits are too many", "adress", nil},
		{"case only", "Tables", []string{"tables"}},
		{"short name takes one edit", "dta", []string{"data"}},
		{"short name refuses two", "ty", nil},
		{"five characters take two", "typ_x", []string{"type"}},
		{"four characters take one edit", "nmae", []string{"name"}},
		{"several, nearest first", "tyoe", []string{"type"}},
		{"up to three", "aaaa", nil},
		{"exact name is not suggested", "sec", nil},
		{"near a short key", "secc", []string{"sec"}},
		{"empty", "", nil},
		{"unicode counts runes", "bröker", []string{"brokers"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Suggest(tt.in, known); !slices.Equal(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
				t.Errorf("Suggest(%q) = %q; want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestSuggestAtMostThree(t *testing.T) {
	known := []string{"ab1", "ab2", "ab3", "ab4", "abc"}
	got := Suggest("abx", known)
	if want := []string{"ab1", "ab2", "ab3"}; !slices.Equal(got, want) {
		t.Errorf("Suggest(abx) = %q; want %q", got, want)
	}
}

func TestDidYouMean(t *testing.T) {
	tests := []struct {
		in    string
		known []string
		want  string
	}{
		{"x", nil, ""},
		{"hostz", []string{"hosts"}, " (did you mean hosts?)"},
		{"abx", []string{"ab1", "ab2"}, " (did you mean ab1 or ab2?)"},
		{"abx", []string{"ab1", "ab2", "ab3"}, " (did you mean ab1, ab2 or ab3?)"},
	}
	for _, tt := range tests {
		if got := DidYouMean(tt.in, tt.known); got != tt.want {
			t.Errorf("DidYouMean(%q, %q) = %q; want %q", tt.in, tt.known, got, tt.want)
		}
	}
}

func TestDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"a", "", 1},
		{"", "abc", 3},
		{"kitten", "sitting", 3},
		{"ab", "ba", 1},
		{"abcd", "acbd", 1},
		{"ca", "abc", 3}, // optimal string alignment: no edit of a transposed pair
		{"héllo", "hello", 1},
	}
	for _, tt := range tests {
		if got := distance(tt.a, tt.b); got != tt.want {
			t.Errorf("distance(%q, %q) = %d; want %d", tt.a, tt.b, got, tt.want)
		}
		if got := distance(tt.b, tt.a); got != tt.want {
			t.Errorf("distance(%q, %q) = %d; want %d", tt.b, tt.a, got, tt.want)
		}
	}
}

func FuzzSuggest(f *testing.F) {
	f.Add("brokrs", "brokers")
	f.Add("", "")
	f.Add("Ab", "ba")
	f.Add("\xff\xfe", "é")
	f.Fuzz(func(t *testing.T, name, known string) {
		got := Suggest(name, []string{known, name})
		if len(got) > maxSuggestions {
			t.Fatalf("Suggest(%q) = %q; more than %d", name, got, maxSuggestions)
		}
		if slices.Contains(got, name) {
			t.Fatalf("Suggest(%q) suggests the name itself", name)
		}
		if d := distance(name, known); d != distance(known, name) {
			t.Fatalf("distance(%q, %q) = %d is not symmetric", name, known, d)
		}
	})
}
