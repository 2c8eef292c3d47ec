package query

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cdcflow/cdcflow/sinks/redisview"
)

// loadOrders applies n orders spread over the partitions: order i is
// requested by customer c<i%4>; every third is then accepted.
func (f *fixture) loadOrders(n int) {
	for i := range n {
		id := fmt.Sprintf("o%02d", i)
		p := int32(i % f.parts)
		at := time.Date(2026, 11, 20+i%3, 10, i, 0, 0, time.UTC).Format(time.RFC3339)
		f.apply(1, p, f.order(id, "OrderRequested", requested(fmt.Sprintf("c%d", i%4), fmt.Sprintf("%d.%02d", 10+i, i), at)))
		if i%3 == 0 {
			f.apply(1, p, f.order(id, "OrderAccepted", nil))
		}
	}
}

// TestIntegrationAPI reads every kind of view through the API, with the
// answers checked against redisview's own Reader, and the errors.
func TestIntegrationAPI(t *testing.T) {
	f := newFixture(t, 3, Config{PageSize: 5, MaxPageSize: 100})
	f.loadOrders(30)
	ctx := t.Context()
	reader, err := redisview.NewReader(f.defs, f.rdb, f.prefix, f.parts)
	if err != nil {
		t.Fatal(err)
	}
	snap := reader.At(1)

	t.Run("views", func(t *testing.T) {
		body := f.must("/v1/views")
		views := body["views"].([]any)
		var names []string
		for _, v := range views {
			names = append(names, v.(map[string]any)["name"].(string))
		}
		if want := f.defs.Names(); !slices.Equal(names, want) {
			t.Errorf("views = %v; want %v", names, want)
		}
		fr := body["freshness"].(map[string]any)
		if fr["generation"] != 1.0 || len(fr["partitions"].([]any)) != 3 {
			t.Errorf("freshness = %v; want generation 1 and 3 partitions", fr)
		}
		for _, p := range fr["partitions"].([]any) {
			pm := p.(map[string]any)
			if pm["applied_lsn"] == "0/0" || pm["commit_time"] == nil {
				t.Errorf("partition freshness %v: want an applied position and a commit time", pm)
			}
		}
		if fr["staleness_seconds"] == nil {
			t.Error("no staleness_seconds")
		}
		v := f.must("/v1/views/per_status")["view"].(map[string]any)
		sums := v["definition"].(map[string]any)["sums"].([]any)
		if len(sums) != 1 || sums[0].(map[string]any)["scale"] != 2.0 {
			t.Errorf("per_status definition sums = %v; want total at scale 2", sums)
		}
	})

	t.Run("entity", func(t *testing.T) {
		body := f.must("/v1/views/order/entities/o03")
		fields := body["fields"].(map[string]any)
		if fields["status"] != "accepted" || fields["total"] != "13.03" || body["id"] != "o03" {
			t.Errorf("entity o03 = %v", body)
		}
		if code, body := f.get("/v1/views/order/entities/nope"); code != http.StatusNotFound || errCode(body) != "not_found" {
			t.Errorf("absent entity: %d %v; want 404 not_found", code, body)
		}
	})

	t.Run("index pages", func(t *testing.T) {
		all, err := snap.Index(ctx, "pending", "", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 20 {
			t.Fatalf("pending holds %d; want 20", len(all))
		}
		for _, order := range []string{"asc", "desc"} {
			var got []string
			cur := ""
			pages := 0
			for {
				q := url.Values{"limit": {"7"}, "order": {order}}
				if cur != "" {
					q.Set("cursor", cur)
				}
				body := f.must("/v1/views/pending/index?" + q.Encode())
				for _, it := range body["items"].([]any) {
					got = append(got, it.(map[string]any)["id"].(string))
				}
				pages++
				next, _ := body["next_cursor"].(string)
				if next == "" {
					break
				}
				cur = next
			}
			var want []string
			for _, e := range all {
				want = append(want, e.ID)
			}
			if order == "desc" {
				slices.Reverse(want)
			}
			if !slices.Equal(got, want) || pages != 3 {
				t.Errorf("%s pages (%d) = %v; want %v in 3", order, pages, got, want)
			}
		}
		// A score range, inclusive.
		lo, hi := all[3].Score, all[10].Score
		q := url.Values{"min": {fmt.Sprint(lo)}, "max": {fmt.Sprint(hi)}, "limit": {"100"}}
		body := f.must("/v1/views/pending/index?" + q.Encode())
		n := 0
		for _, e := range all {
			if e.Score >= lo && e.Score <= hi {
				n++
			}
		}
		if got := len(body["items"].([]any)); got != n || body["next_cursor"] != nil {
			t.Errorf("range [%v, %v]: %d items, next %v; want %d and no cursor", lo, hi, got, body["next_cursor"], n)
		}
		// A keyed index takes its key.
		byc := f.must("/v1/views/by_customer/index?key=c1&limit=100")
		if got := len(byc["items"].([]any)); got != 8 { // o01, o05, …, o29
			t.Errorf("by_customer c1: %d items; want 8", got)
		}
	})

	t.Run("groups", func(t *testing.T) {
		agg, err := snap.Aggregate(ctx, "per_status")
		if err != nil {
			t.Fatal(err)
		}
		for _, by := range []string{"count", "total"} {
			body := f.must("/v1/views/per_status/groups?by=" + by)
			groups := body["groups"].([]any)
			if len(groups) != len(agg) {
				t.Fatalf("by %s: %d groups; want %d", by, len(groups), len(agg))
			}
			for _, g := range groups {
				gm := g.(map[string]any)
				want := agg[gm["key"].(string)]
				if gm["count"] != float64(want.Count) || gm["sums"].(map[string]any)["total"] != want.Sums["total"].String() {
					t.Errorf("group %v; want count %d total %s", gm, want.Count, want.Sums["total"])
				}
			}
		}
		body := f.must("/v1/views/per_status/groups?by=total&limit=1")
		top := body["groups"].([]any)[0].(map[string]any)
		if top["key"] != "requested" || !strings.Contains(top["sums"].(map[string]any)["total"].(string), ".") {
			t.Errorf("top group by total = %v; want requested with a decimal string", top)
		}
	})

	t.Run("history", func(t *testing.T) {
		body := f.must("/v1/views/history/history/o03")
		evs := body["events"].([]any)
		if len(evs) != 2 || evs[1].(map[string]any)["type"] != "OrderAccepted" {
			t.Errorf("history o03 = %v; want requested then accepted", evs)
		}
		body = f.must("/v1/views/history/history/o03?limit=1")
		if evs := body["events"].([]any); len(evs) != 1 || evs[0].(map[string]any)["type"] != "OrderAccepted" {
			t.Errorf("history o03 limit 1 = %v; want the newest", evs)
		}
	})

	t.Run("errors", func(t *testing.T) {
		tests := []struct {
			path string
			code int
			err  string
			msg  string
		}{
			{"/v1/views/nope/entities/x", 404, "unknown_view", "order, pending, by_customer"},
			{"/v1/views/pending/entities/x", 400, "bad_request", "index view"},
			{"/v1/views/order/entities/a%01b", 400, "bad_request", "control character"},
			{"/v1/views/order/entities/" + strings.Repeat("x", 600), 400, "bad_request", "at most 512"},
			{"/v1/views/pending/index?limit=101", 400, "bad_request", "maximum page size 100"},
			{"/v1/views/pending/index?limit=0", 400, "bad_request", "limit"},
			{"/v1/views/pending/index?limt=5", 400, "bad_request", `unknown query parameter "limt"`},
			{"/v1/views/pending/index?cursor=zzz", 400, "bad_request", "cursor"},
			{"/v1/views/pending/index?min=abc", 400, "bad_request", "min"},
			{"/v1/views/pending/index?order=up", 400, "bad_request", "order"},
			{"/v1/views/pending/index?key=c1", 400, "bad_request", "has no key"},
			{"/v1/views/by_customer/index", 400, "bad_request", "keyed"},
			{"/v1/views/per_status/groups?by=revenue", 400, "bad_request", "count, total"},
			{"/v1/views/order/entities/o01?min_lsn=nope", 400, "bad_request", "not an LSN"},
			{"/v1/views/order/entities/o01?min_lsn=0/1&wait=1h", 400, "bad_request", "maximum"},
			{"/v1/views/order/entities/o01?wait=1s", 400, "bad_request", "without min_lsn"},
			{"/v1/nothing", 404, "not_found", "no such endpoint"},
		}
		for _, tc := range tests {
			code, body := f.get(tc.path)
			if code != tc.code || errCode(body) != tc.err || !strings.Contains(errMessage(body), tc.msg) {
				t.Errorf("GET %s = %d %v; want %d %s with %q", tc.path, code, body, tc.code, tc.err, tc.msg)
			}
		}
		resp, err := http.Post(f.url+"/v1/views", "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST /v1/views = %d; want 405", resp.StatusCode)
		}
		// A cursor made for another key.
		first := f.must("/v1/views/by_customer/index?key=c1&limit=2")
		cur := first["next_cursor"].(string)
		if code, body := f.get("/v1/views/by_customer/index?key=c2&cursor=" + url.QueryEscape(cur)); code != 400 {
			t.Errorf("cursor of key c1 used with c2: %d %v; want 400", code, body)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		n := testutil.ToFloat64(f.srv.cfg.Metrics.requests.WithLabelValues("GET /v1/views/{view}/entities/{id...}", "200"))
		if n < 1 {
			t.Errorf("requests_total of the entity route = %v; want >= 1", n)
		}
		if n := testutil.ToFloat64(f.srv.cfg.Metrics.requests.WithLabelValues("GET /v1/views/{view}/index", "400")); n < 5 {
			t.Errorf("requests_total of index 400 = %v; want >= 5", n)
		}
	})
}

func errCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func errMessage(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

// TestIntegrationCursorGenerations: a cursor reads its own generation while
// it exists (a replay swapped in another one), and answers 410 once it is
// deleted.
func TestIntegrationCursorGenerations(t *testing.T) {
	f := newFixture(t, 2, Config{})
	f.loadOrders(10)
	body := f.must("/v1/views/pending/index?limit=2")
	cur := body["next_cursor"].(string)
	ctx := t.Context()
	f.generation(2)
	f.apply(2, 0, f.order("x1", "OrderRequested", requested("c1", "1.00", "2026-11-20T10:00:00Z")))
	if err := redisview.Swap(ctx, f.rdb, f.prefix, 1, 2); err != nil {
		t.Fatal(err)
	}
	body = f.must("/v1/views/pending/index?limit=2&cursor=" + url.QueryEscape(cur))
	if fr := body["freshness"].(map[string]any); fr["generation"] != 1.0 || len(body["items"].([]any)) != 2 {
		t.Errorf("page 2 during the grace period = %v; want 2 items of generation 1", body)
	}
	if _, err := redisview.DeleteGeneration(ctx, f.rdb, f.prefix, 1, 0, 0); err != nil {
		t.Fatal(err)
	}
	code, body := f.get("/v1/views/pending/index?limit=2&cursor=" + url.QueryEscape(cur))
	if code != http.StatusGone || errCode(body) != "generation_gone" {
		t.Errorf("cursor of a deleted generation: %d %v; want 410 generation_gone", code, body)
	}
	if body := f.must("/v1/views/pending/index"); body["freshness"].(map[string]any)["generation"] != 2.0 {
		t.Errorf("without cursor: %v; want generation 2", body)
	}
}

// TestIntegrationAuthCORS: with tokens, a request needs one (header or
// access_token); CORS headers only for configured origins.
func TestIntegrationAuthCORS(t *testing.T) {
	f := newFixture(t, 1, Config{Tokens: []string{"s3cret-a", "s3cret-b"}, CORSOrigins: []string{"https://ops.example"}})
	f.loadOrders(1)
	for _, tc := range []struct {
		name   string
		path   string
		header []string
		code   int
	}{
		{"none", "/v1/views", nil, 401},
		{"wrong", "/v1/views", []string{"Authorization", "Bearer s3cret-c"}, 401},
		{"prefix of a token", "/v1/views", []string{"Authorization", "Bearer s3cret-"}, 401},
		{"basic", "/v1/views", []string{"Authorization", "Basic czNjcmV0LWE="}, 401},
		{"first", "/v1/views", []string{"Authorization", "Bearer s3cret-a"}, 200},
		{"second", "/v1/views", []string{"Authorization", "bearer s3cret-b"}, 200},
		{"query string", "/v1/views?access_token=s3cret-b", nil, 200},
	} {
		code, body := f.get(tc.path, tc.header...)
		if code != tc.code {
			t.Errorf("%s: %d %v; want %d", tc.name, code, body, tc.code)
		}
	}
	req, _ := http.NewRequest(http.MethodOptions, f.url+"/v1/views", nil)
	req.Header.Set("Origin", "https://ops.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://ops.example" {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	req.Header.Set("Origin", "https://evil.example")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight of another origin: %d %v", resp.StatusCode, resp.Header)
	}
}
