package testenv

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestIntegrationRedisPrefix(t *testing.T) {
	r := Redis(t)
	if again := Redis(t); again != r {
		t.Fatalf("Redis returned %p, then %p; want one shared server", r, again)
	}
	c := r.Client(t)
	var prefix string
	t.Run("writer", func(t *testing.T) {
		prefix = r.Prefix(t)
		if other := r.Prefix(t); other == prefix {
			t.Fatalf("two prefixes are both %q", prefix)
		}
		if !strings.HasPrefix(prefix, "cdcflowtest:") {
			t.Errorf("Prefix = %q; want it under cdcflowtest:", prefix)
		}
		for i := range 1200 { // more than one UNLINK batch
			if err := c.Set(t.Context(), fmt.Sprintf("%sk%d", prefix, i), i, 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
	})
	keys, err := c.Keys(t.Context(), prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 0 {
		t.Errorf("%d keys under %q left after the test; want none", len(keys), prefix)
	}
}

func TestIntegrationNewRedisKillRestart(t *testing.T) {
	r := NewRedis(t, "--appendonly", "yes")
	c := r.Client(t)
	if err := c.Set(t.Context(), "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := r.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := r.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	Await(t, 10*time.Second, "k readable after kill -9 and restart", func() (bool, error) {
		v, err := c.Get(t.Context(), "k").Result()
		return v == "v", err
	})
}
