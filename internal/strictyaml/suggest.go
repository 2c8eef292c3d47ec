package strictyaml

import (
	"slices"
	"strings"
)

// maxSuggestions is the most near names Suggest returns.
const maxSuggestions = 3

// Suggest returns the names in known that name is likely a typo of, nearest
// first (ties in the order of known), at most three. A name is near when its
// Damerau–Levenshtein distance to name, ignoring case, is at most 2, or at
// most 1 when name has 4 characters or fewer; a name that differs only in
// case is the nearest of all. Names equal to name are never suggested.
func Suggest(name string, known []string) []string {
	limit := 2
	if len([]rune(name)) <= 4 {
		limit = 1
	}
	lower := strings.ToLower(name)
	type near struct {
		name string
		dist int
	}
	var out []near
	for _, k := range known {
		if k == name || slices.ContainsFunc(out, func(n near) bool { return n.name == k }) {
			continue
		}
		if d := distance(lower, strings.ToLower(k)); d <= limit {
			out = append(out, near{k, d})
		}
	}
	slices.SortStableFunc(out, func(a, b near) int { return a.dist - b.dist })
	names := make([]string, 0, min(len(out), maxSuggestions))
	for _, n := range out[:min(len(out), maxSuggestions)] {
		names = append(names, n.name)
	}
	return names
}

// DidYouMean returns " (did you mean a, b or c?)" for the names Suggest
// finds for name, or "" when there are none.
func DidYouMean(name string, known []string) string {
	s := Suggest(name, known)
	switch len(s) {
	case 0:
		return ""
	case 1:
		return " (did you mean " + s[0] + "?)"
	}
	return " (did you mean " + strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1] + "?)"
}

// distance is the Damerau–Levenshtein distance between a and b in its
// optimal string alignment form (insertions, deletions, substitutions and
// transpositions of adjacent characters), counted in runes.
func distance(a, b string) int {
	s, t := []rune(a), []rune(b)
	// Three rows suffice: the transposition looks two rows back.
	prev2 := make([]int, len(t)+1)
	prev := make([]int, len(t)+1)
	cur := make([]int, len(t)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(s); i++ {
		cur[0] = i
		for j := 1; j <= len(t); j++ {
			cost := 1
			if s[i-1] == t[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && s[i-1] == t[j-2] && s[i-2] == t[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(t)]
}
