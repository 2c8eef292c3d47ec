package loadgen

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestPool(t *testing.T) {
	p := newPool()
	for i := range int64(10) {
		p.add(i)
	}
	p.add(3) // already there
	if p.len() != 10 {
		t.Fatalf("len = %d; want 10", p.len())
	}
	if !p.remove(4) || p.remove(4) {
		t.Fatal("remove(4) twice: want true, then false")
	}
	r := rand.New(rand.NewPCG(1, 2))
	var got []int64
	for p.len() > 0 {
		got = append(got, p.take(r))
	}
	slices.Sort(got)
	if want := []int64{0, 1, 2, 3, 5, 6, 7, 8, 9}; !slices.Equal(got, want) {
		t.Errorf("taken %v; want %v", got, want)
	}
}

func TestOrderLineCents(t *testing.T) {
	tests := []struct {
		l    orderLine
		want int64
	}{
		{orderLine{product{cents: 1999}, 1, 0}, 1999},
		{orderLine{product{cents: 1999}, 3, 0}, 5997},
		{orderLine{product{cents: 1999}, 1, 15}, 1699}, // 1699.15 rounds down
		{orderLine{product{cents: 1099}, 1, 5}, 1044},  // 1044.05 rounds down
		{orderLine{product{cents: 990}, 1, 5}, 941},    // 940.5 rounds half up
	}
	for _, tt := range tests {
		if got := tt.l.cents(); got != tt.want {
			t.Errorf("%+v.cents() = %d; want %d", tt.l, got, tt.want)
		}
	}
}

func TestBigText(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	if s := bigText(r, 9000); len(s) < 9000 {
		t.Errorf("bigText(9000) has %d bytes", len(s))
	}
}
