package redisview

import "testing"

func TestGenerationOf(t *testing.T) {
	tests := []struct {
		key  string
		want int64
		ok   bool
	}{
		{"v:{p0}:g3:offsets", 3, true},
		{"v:{p12}:g104:offsets", 104, true},
		{"v:{p0}:g3:order:1", 0, false},
		{"w:{p0}:g3:offsets", 0, false},
		{"v:{p0}:g0:offsets", 0, false},
		{"v:{p0}:gx:offsets", 0, false},
		{"v:generation", 0, false},
	}
	for _, tt := range tests {
		if got, ok := generationOf("v:", tt.key); got != tt.want || ok != tt.ok {
			t.Errorf("generationOf(%q) = %d, %v; want %d, %v", tt.key, got, ok, tt.want, tt.ok)
		}
	}
}

// FuzzGenerationOf: no key panics, and a generation found prints back into
// the key's offsets form.
func FuzzGenerationOf(f *testing.F) {
	f.Add("v:{p0}:g3:offsets")
	f.Add("v:{p}:g:offsets")
	f.Fuzz(func(t *testing.T, key string) {
		if g, ok := generationOf("v:", key); ok && g <= 0 {
			t.Fatalf("generationOf(%q) = %d; want a positive generation", key, g)
		}
	})
}
