package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cdcflow/cdcflow/internal/testenv"
)

// The query API's contract tests: the reference views built by the real
// flow (PostgreSQL → cdcflow run → Kafka → cdcflow materialize → Redis),
// served by `cdcflow serve` as a Redis ACL user that may only read the
// views' keys; every answer is compared with redisview's Reader, which the
// views tests compare with SQL over the source tables.

// readOnlyUser creates, on every node of rdb, an ACL user that may only run
// read commands on keys under prefix (and, on a cluster, learn the slots),
// and returns the env that makes cdcflow log in as it.
func readOnlyUser(t *testing.T, rdb redis.UniversalClient, prefix string) []string {
	t.Helper()
	user := fmt.Sprintf("query%d", time.Now().UnixNano())
	rules := []any{"ACL", "SETUSER", user, "reset", "on", ">pw-" + user, "~" + prefix + "*", "resetchannels", "+@read"}
	each := func(fn func(context.Context, *redis.Client) error) error { return fn(t.Context(), rdb.(*redis.Client)) }
	if c, ok := rdb.(*redis.ClusterClient); ok {
		rules = append(rules, "+cluster|slots", "+cluster|shards", "+cluster|nodes", "+readonly")
		each = func(fn func(context.Context, *redis.Client) error) error { return c.ForEachShard(t.Context(), fn) }
	}
	if err := each(func(ctx context.Context, n *redis.Client) error { return n.Do(ctx, rules...).Err() }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = each(func(_ context.Context, n *redis.Client) error {
			return n.Do(context.Background(), "ACL", "DELUSER", user).Err()
		})
	})
	return []string{"CDCFLOW_VIEWS_REDIS_USERNAME=" + user, "CDCFLOW_VIEWS_REDIS_PASSWORD=pw-" + user}
}

// startServe starts `cdcflow serve` on env as a read-only user and returns
// its base URL once it answers.
func startServe(t *testing.T, env []string, rdb redis.UniversalClient, prefix string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	env = append(append(slices.Clone(env), readOnlyUser(t, rdb, prefix)...), "CDCFLOW_QUERY_ADDR="+addr)
	_, exited := startCdcflowCmd(t, env, "serve")
	base := "http://" + addr
	testenv.Await(t, 30*time.Second, "cdcflow serve answers", func() (bool, error) {
		select {
		case err := <-exited:
			t.Fatalf("cdcflow serve exited: %v", err)
		default:
		}
		resp, err := http.Get(base + "/v1/health")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	return base
}

// apiGet requests base+path and decodes the JSON answer.
func apiGet(t *testing.T, base, path string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("GET %s: %d, not JSON: %q", path, resp.StatusCode, b)
	}
	return resp.StatusCode, body
}

func apiMust(t *testing.T, base, path string) map[string]any {
	t.Helper()
	code, body := apiGet(t, base, path)
	if code != http.StatusOK {
		t.Fatalf("GET %s = %d %v; want 200", path, code, body)
	}
	return body
}

// TestIntegrationServe: the API contract on a single Redis.
func TestIntegrationServe(t *testing.T) { serveContract(t, false) }

// TestIntegrationServeCluster: the same on a three-master Redis Cluster.
func TestIntegrationServeCluster(t *testing.T) { serveContract(t, true) }

func serveContract(t *testing.T, cluster bool) {
	s := newViewsE2E(t, viewsE2EOptions{cluster: cluster})
	s.awaitEqual(90*time.Second, "after the snapshot")
	s.loadWithPromised(80, 1)
	s.awaitEqual(90*time.Second, "after the load")
	base := startServe(t, s.env, s.rdb, s.envValue("CDCFLOW_VIEWS_PREFIX"))
	ctx := t.Context()
	snap, err := s.reader.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}

	body := apiMust(t, base, "/v1/views")
	var names []string
	for _, v := range body["views"].([]any) {
		names = append(names, v.(map[string]any)["name"].(string))
	}
	if want := []string{"order", "pending", "orders_by_customer", "per_status", "revenue_per_day", "history"}; !slices.Equal(names, want) {
		t.Errorf("views = %v; want %v", names, want)
	}
	fr := body["freshness"].(map[string]any)
	if fr["generation"] != float64(snap.Generation()) || len(fr["partitions"].([]any)) != 3 {
		t.Errorf("freshness %v; want generation %d over 3 partitions", fr, snap.Generation())
	}

	ids, err := s.column(`SELECT order_id::text FROM orders ORDER BY order_id LIMIT 15`)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		want, err := snap.Entity(ctx, "order", id)
		if err != nil {
			t.Fatal(err)
		}
		got := apiMust(t, base, "/v1/views/order/entities/"+id)["fields"].(map[string]any)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("order %s = %v; want %v", id, got, want)
		}
		hist, err := snap.History(ctx, "history", id)
		if err != nil {
			t.Fatal(err)
		}
		evs := apiMust(t, base, "/v1/views/history/history/"+id)["events"].([]any)
		if len(evs) != len(hist) {
			t.Errorf("history %s: %d events; want %d", id, len(evs), len(hist))
		}
	}
	if code, _ := apiGet(t, base, "/v1/views/order/entities/999999999"); code != http.StatusNotFound {
		t.Errorf("absent order: %d; want 404", code)
	}

	pageAll := func(path string) []string {
		var out []string
		cur := ""
		for range 1000 {
			u := path + "&limit=7"
			if cur != "" {
				u += "&cursor=" + url.QueryEscape(cur)
			}
			b := apiMust(t, base, u)
			for _, it := range b["items"].([]any) {
				out = append(out, it.(map[string]any)["id"].(string))
			}
			next, _ := b["next_cursor"].(string)
			if next == "" {
				return out
			}
			cur = next
		}
		t.Fatalf("%s: more than 1000 pages", path)
		return nil
	}
	entries, err := snap.Index(ctx, "pending", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, e := range entries {
		want = append(want, e.ID)
	}
	if got := pageAll("/v1/views/pending/index?order=asc"); !slices.Equal(got, want) || len(want) == 0 {
		t.Errorf("pending pages = %v; want %v (not empty)", got, want)
	}
	customer, err := s.column(`SELECT customer_id::text FROM orders GROUP BY customer_id ORDER BY count(*) DESC LIMIT 1`)
	if err != nil {
		t.Fatal(err)
	}
	byc, err := snap.Index(ctx, "orders_by_customer", customer[0], 0)
	if err != nil {
		t.Fatal(err)
	}
	want = want[:0]
	for _, e := range byc {
		want = append(want, e.ID)
	}
	slices.Reverse(want)
	if got := pageAll("/v1/views/orders_by_customer/index?order=desc&key=" + customer[0]); !slices.Equal(got, want) {
		t.Errorf("orders of customer %s, newest first = %v; want %v", customer[0], got, want)
	}

	for _, tc := range []struct{ view, by string }{{"per_status", "count"}, {"revenue_per_day", "revenue"}, {"revenue_per_day", "count"}} {
		agg, err := snap.Aggregate(ctx, tc.view)
		if err != nil {
			t.Fatal(err)
		}
		keys := make([]string, 0, len(agg))
		for k := range agg {
			keys = append(keys, k)
		}
		value := func(k string) string {
			if tc.by == "count" {
				return fmt.Sprintf("%020d", agg[k].Count)
			}
			return fmt.Sprintf("%030s", agg[k].Sums[tc.by].String())
		}
		slices.SortFunc(keys, func(a, b string) int {
			if c := strings.Compare(value(b), value(a)); c != 0 {
				return c
			}
			return strings.Compare(a, b)
		})
		if len(keys) > 5 {
			keys = keys[:5]
		}
		b := apiMust(t, base, fmt.Sprintf("/v1/views/%s/groups?by=%s&limit=5", tc.view, tc.by))
		var got []string
		for _, g := range b["groups"].([]any) {
			gm := g.(map[string]any)
			k := gm["key"].(string)
			got = append(got, k)
			if gm["count"] != float64(agg[k].Count) {
				t.Errorf("%s group %s count %v; want %d", tc.view, k, gm["count"], agg[k].Count)
			}
			if tc.view == "revenue_per_day" && gm["sums"].(map[string]any)["revenue"] != agg[k].Sums["revenue"].String() {
				t.Errorf("%s group %s revenue %v; want %s", tc.view, k, gm["sums"], agg[k].Sums["revenue"])
			}
		}
		if !slices.Equal(got, keys) || len(keys) == 0 {
			t.Errorf("top 5 of %s by %s = %v; want %v", tc.view, tc.by, got, keys)
		}
	}
	if code, b := apiGet(t, base, "/v1/views/orders/entities/1"); code != http.StatusNotFound || !strings.Contains(fmt.Sprint(b), "orders_by_customer") {
		t.Errorf("unknown view: %d %v; want 404 listing the views", code, b)
	}
}
