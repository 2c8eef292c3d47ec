package query

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cdcflow/cdcflow/sinks/redisview"
)

// TestIntegrationReadYourWrites: a read with min_lsn waits until every
// partition has applied it, wakes when it is (not at the end of its wait),
// and answers 504 with the lag when it is not applied in time.
func TestIntegrationReadYourWrites(t *testing.T) {
	f := newFixture(t, 3, Config{})
	f.apply(1, 0, f.order("o1", "OrderRequested", requested("c1", "1.00", "2026-11-23T10:00:00Z")))
	written := f.lsn
	// Partitions 1 and 2 have applied nothing: the read cannot prove it.
	path := fmt.Sprintf("/v1/views/order/entities/o1?min_lsn=%s&wait=300ms", FormatLSN(written))
	code, body := f.get(path)
	if code != http.StatusGatewayTimeout || errCode(body) != "not_yet_applied" {
		t.Fatalf("before progress: %d %v; want 504 not_yet_applied", code, body)
	}
	e := body["error"].(map[string]any)
	if behind := e["behind"].([]any); len(behind) != 2 || e["behind_bytes"] != float64(written) {
		t.Errorf("504 details %v; want partitions 1 and 2 behind by %d bytes", e, written)
	}
	if !strings.Contains(errMessage(body), "(1, 2)") {
		t.Errorf("504 message %q does not name partitions 1 and 2", errMessage(body))
	}
	if n := testutil.ToFloat64(f.srv.cfg.Metrics.rywTimeout); n != 1 {
		t.Errorf("ryw_timeouts_total = %v; want 1", n)
	}

	// A waiting read answers as soon as the progress records arrive.
	type answer struct {
		code int
		body map[string]any
		took time.Duration
	}
	done := make(chan answer, 1)
	go func() {
		start := time.Now()
		code, body := f.get(fmt.Sprintf("/v1/views/order/entities/o1?min_lsn=%s&wait=4s", FormatLSN(written)))
		done <- answer{code, body, time.Since(start)}
	}()
	time.Sleep(200 * time.Millisecond) // let it wait: the point is that it wakes
	f.apply(1, 1, progressAt(written))
	f.apply(1, 2, progressAt(written+8))
	a := <-done
	if a.code != http.StatusOK || a.body["fields"].(map[string]any)["customer_id"] != "c1" {
		t.Fatalf("after progress: %d %v; want 200 with o1", a.code, a.body)
	}
	if a.took > 4*time.Second {
		t.Errorf("the read took %s after the position was applied; it should wake at once", a.took)
	}
	fr := a.body["freshness"].(map[string]any)
	if fr["waited_seconds"] == nil {
		t.Errorf("freshness %v has no waited_seconds", fr)
	}
	for _, p := range fr["partitions"].([]any) {
		pm := p.(map[string]any)
		if l, _ := ParseLSN(pm["applied_lsn"].(string)); l < written {
			t.Errorf("answer's partition %v has not applied %s", pm, FormatLSN(written))
		}
	}
	t.Logf("figure: wait answered %s after start (progress applied after 200ms)", a.took)
}

// TestIntegrationStreamView: a view's stream starts with its state, then
// sends changes; a resume with Last-Event-ID gets what it missed (and no
// state); a resume across a generation swap gets reset, then the state.
func TestIntegrationStreamView(t *testing.T) {
	f := newFixture(t, 2, Config{SSEHeartbeat: time.Hour})
	f.apply(1, 0, f.order("o1", "OrderRequested", requested("c1", "1.00", "2026-11-23T10:00:00Z")))

	s := f.stream("/v1/views/order/stream?id=o1", "")
	st := s.next()
	if st.event != "state" || st.data["fields"].(map[string]any)["status"] != "requested" || st.id == "" {
		t.Fatalf("first event %+v; want the state with o1 requested", st)
	}
	if st.data["freshness"] == nil {
		t.Errorf("state %v has no freshness", st.data)
	}
	f.apply(1, 1, f.order("o2", "OrderRequested", requested("c1", "2.00", "2026-11-23T10:00:00Z"))) // not o1: no event
	f.apply(1, 0, f.order("o1", "OrderAccepted", nil))
	ch := s.next()
	if ch.event != "change" || ch.data["fields"].(map[string]any)["status"] != "accepted" {
		t.Fatalf("change %+v; want o1 accepted", ch)
	}
	last := ch.id
	s.close()

	// Missed while away: a resume sends it, without a state.
	f.apply(1, 0, f.order("o1", "OrderRevoked", nil))
	r := f.stream("/v1/views/order/stream?id=o1", last)
	ev := r.next()
	if ev.event != "change" || ev.data["fields"].(map[string]any)["status"] != "revoked" {
		t.Fatalf("resume: first event %+v; want the missed change (revoked)", ev)
	}
	r.close()

	// An index stream: state is the first page; a change names the member.
	ix := f.stream("/v1/views/pending/stream?limit=10", "")
	if st := ix.next(); st.event != "state" || len(st.data["items"].([]any)) != 1 {
		t.Fatalf("index state %+v; want o2 alone", st)
	}
	f.apply(1, 1, f.order("o3", "OrderRequested", requested("c2", "3.00", "2026-11-23T11:00:00Z")))
	if ch := ix.next(); ch.event != "change" || ch.data["items"].([]any)[0].(map[string]any)["id"] != "o3" {
		t.Fatalf("index change %+v; want o3", ch)
	}
	// An aggregate stream: the changed groups with their totals.
	ag := f.stream("/v1/views/per_status/stream", "")
	if st := ag.next(); st.event != "state" || len(st.data["groups"].([]any)) == 0 {
		t.Fatalf("aggregate state %+v", st)
	}
	f.apply(1, 1, f.order("o3", "OrderAccepted", nil))
	ch = ag.next()
	if ch.event != "change" || len(ch.data["groups"].([]any)) != 2 {
		t.Fatalf("aggregate change %+v; want requested and accepted", ch)
	}
	// o3 left the pending index: null score.
	if ch := ix.next(); ch.event != "change" || ch.data["items"].([]any)[0].(map[string]any)["score"] != nil {
		t.Fatalf("index change %+v; want o3 with a null score", ch)
	}

	// A generation swap: live streams and resumes of the old one reset.
	f.generation(2)
	f.apply(2, 0, f.order("o1", "OrderRequested", requested("c1", "1.00", "2026-11-23T10:00:00Z")))
	if err := redisview.Swap(t.Context(), f.rdb, f.prefix, 1, 2); err != nil {
		t.Fatal(err)
	}
	if ev := ix.next(); ev.event != "reset" {
		t.Fatalf("live stream at a swap: %+v; want reset", ev)
	}
	if ev := ix.next(); ev.event != "state" || !strings.HasPrefix(ev.id, "g2:") {
		t.Fatalf("after reset: %+v; want the state of generation 2", ev)
	}
	old := f.stream("/v1/views/order/stream?id=o1", last)
	if ev := old.next(); ev.event != "reset" {
		t.Fatalf("resume across a swap: %+v; want reset", ev)
	}
	if ev := old.next(); ev.event != "state" || ev.data["fields"].(map[string]any)["status"] != "requested" {
		t.Fatalf("after reset: %+v; want generation 2's state", ev)
	}
}

// TestIntegrationStreamEvents: the event stream starts with recent events,
// then sends each new one once.
func TestIntegrationStreamEvents(t *testing.T) {
	f := newFixture(t, 2, Config{SSEHeartbeat: time.Hour})
	f.apply(1, 0, f.order("o1", "OrderRequested", requested("c1", "1.00", "2026-11-23T10:00:00Z")))
	f.apply(1, 1, f.order("o2", "OrderRequested", requested("c1", "2.00", "2026-11-23T10:00:00Z")))
	s := f.stream("/v1/events/stream?limit=10", "")
	st := s.next()
	if st.event != "state" || len(st.data["events"].([]any)) != 2 {
		t.Fatalf("state %+v; want the 2 events", st)
	}
	f.apply(1, 0, f.order("o1", "OrderAccepted", nil), f.order("o4", "OrderRequested", requested("c1", "4.00", "2026-11-23T10:00:00Z")))
	got := map[string]bool{}
	for range 2 {
		ev := s.next()
		if ev.event != "event" {
			t.Fatalf("%+v; want an event", ev)
		}
		got[fmt.Sprint(ev.data["aggregate_id"], " ", ev.data["type"])] = true
	}
	if !got["o1 OrderAccepted"] || !got["o4 OrderRequested"] {
		t.Errorf("events %v; want o1 accepted and o4 requested", got)
	}
	f.apply(1, 1, f.order("o2", "OrderAccepted", nil))
	if ev := s.next(); ev.data["aggregate_id"] != "o2" || ev.data["type"] != "OrderAccepted" {
		t.Errorf("%+v; want o2 accepted (and nothing sent twice)", ev)
	}
}

// TestIntegrationStreamCap: no more streams than MaxSSEClients.
func TestIntegrationStreamCap(t *testing.T) {
	f := newFixture(t, 1, Config{MaxSSEClients: 2, SSEHeartbeat: time.Hour})
	f.loadOrders(1)
	var streams []*sseStream
	for range 2 {
		s := f.stream("/v1/views/per_status/stream", "")
		s.next()
		streams = append(streams, s)
	}
	code, body := f.get("/v1/views/per_status/stream")
	if code != http.StatusServiceUnavailable || errCode(body) != "too_many_streams" {
		t.Errorf("third stream: %d %v; want 503 too_many_streams", code, body)
	}
	if n := testutil.ToFloat64(f.srv.cfg.Metrics.sseClients); n != 2 {
		t.Errorf("sse_clients = %v; want 2", n)
	}
	var wg sync.WaitGroup
	for _, s := range streams {
		wg.Go(s.close)
	}
	wg.Wait()
}
