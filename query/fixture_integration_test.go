package query

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/internal/testenv"
	"github.com/cdcflow/cdcflow/pipeline"
	"github.com/cdcflow/cdcflow/sinks/redisview"
)

func TestMain(m *testing.M) { testenv.MainVerifyNoLeaks(m) }

// fixture is a query server over views that the test writes with
// redisview.Views.Apply (the materializer's own step) on a real Redis; the
// server reads Redis as an ACL user allowed only +@read on the views'
// prefix, so a request that reached another key would fail.
type fixture struct {
	t      *testing.T
	rdb    redis.UniversalClient // the test's, unrestricted
	prefix string
	parts  int
	defs   *redisview.Definitions
	views  map[int64]*redisview.Views
	stored map[[2]int64]int64 // (generation, partition) -> stored offset
	srv    *Server
	reg    *prometheus.Registry
	url    string
	lsn    uint64 // the last LSN given to an event
}

func testDefinitions(t testing.TB) *redisview.Definitions {
	t.Helper()
	src, err := os.ReadFile("testdata/orders.views.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := redisview.ParseDefinitions(src)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// restrictedClient returns a client of srv logged in as a new ACL user that
// may only run read commands (and the stream reads) on keys under prefix.
func restrictedClient(t *testing.T, srv *testenv.RedisServer, prefix string) *redis.Client {
	t.Helper()
	admin := srv.Client(t)
	user := fmt.Sprintf("query%d", time.Now().UnixNano())
	if err := admin.Do(t.Context(), "ACL", "SETUSER", user, "reset", "on", ">pw-"+user, "~"+prefix+"*", "resetchannels", "+@read").Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Do(context.Background(), "ACL", "DELUSER", user) })
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), Username: user, Password: "pw-" + user, DisableIdentity: true})
	t.Cleanup(func() { c.Close() })
	// The restriction holds: no write, no key outside the prefix.
	if err := c.Set(t.Context(), prefix+"probe", "1", 0).Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Fatalf("the restricted user can write: %v", err)
	}
	if err := c.Get(t.Context(), "elsewhere").Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Fatalf("the restricted user can read outside the prefix: %v", err)
	}
	return c
}

func newFixture(t *testing.T, parts int, cfg Config) *fixture {
	t.Helper()
	return newFixtureHooked(t, parts, cfg)
}

// newFixtureHooked is newFixture with hooks added to the server's Redis
// client.
func newFixtureHooked(t *testing.T, parts int, cfg Config, hooks ...redis.Hook) *fixture {
	t.Helper()
	srv := testenv.Redis(t)
	f := &fixture{t: t, rdb: srv.Client(t), prefix: srv.Prefix(t), parts: parts, defs: testDefinitions(t),
		views: map[int64]*redisview.Views{}, stored: map[[2]int64]int64{}}
	f.generation(1)
	if err := redisview.Swap(t.Context(), f.rdb, f.prefix, 0, 1); err != nil {
		t.Fatal(err)
	}
	rdb := restrictedClient(t, srv, f.prefix)
	for _, h := range hooks {
		rdb.AddHook(h)
	}
	f.start(rdb, cfg)
	return f
}

// start serves the API on a free port until the test ends.
func (f *fixture) start(rdb redis.UniversalClient, cfg Config) {
	t := f.t
	f.reg = prometheus.NewRegistry()
	cfg.Metrics = NewMetrics(f.reg)
	s, err := New(cfg, f.defs, rdb, f.prefix, f.parts)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = s
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.url = "http://" + l.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
}

// generation makes the Views that write generation g.
func (f *fixture) generation(g int64) *redisview.Views {
	v, err := redisview.New(redisview.Config{Prefix: f.prefix, Generation: g}, f.defs, f.rdb)
	if err != nil {
		f.t.Fatal(err)
	}
	f.views[g] = v
	return v
}

// apply applies evs to partition p of generation g as one step.
func (f *fixture) apply(g int64, p int32, evs ...pipeline.Event) {
	f.t.Helper()
	key := [2]int64{g, int64(p)}
	from, ok := f.stored[key]
	if !ok {
		from = -1
	}
	b := redisview.Batch{Topic: "shop.order", Partition: p, From: from}
	next := max(from, 0)
	for _, ev := range evs {
		b.Records = append(b.Records, redisview.Record{Offset: next, Event: ev})
		next++
	}
	f.stored[key] = next
	if err := f.views[g].Apply(f.t.Context(), b); err != nil {
		f.t.Fatalf("Apply: %v", err)
	}
}

// order is an order event of a new transaction (its own LSN).
func (f *fixture) order(id, typ string, data map[string]any) pipeline.Event {
	f.lsn += 0x100
	b, _ := json.Marshal(data)
	pos := pipeline.MakePosition(capture.LSN(f.lsn), 0, 0)
	return pipeline.Event{
		ID: fmt.Sprintf("%s-%X", id, f.lsn), Source: "s", Type: typ, Version: 1, AggregateType: "order", AggregateID: id,
		Position: pos, LSN: capture.LSN(f.lsn), Time: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).Add(time.Duration(f.lsn) * time.Millisecond), Data: b,
	}
}

func requested(customer, total, at string) map[string]any {
	return map[string]any{"customer_id": customer, "total": total, "ordered_at": at}
}

// progress is a progress record at lsn.
func progressAt(lsn uint64) pipeline.Event {
	return pipeline.NewProgress("s", "order", capture.LSN(lsn), time.Now())
}

// get requests path and decodes the JSON answer.
func (f *fixture) get(path string, header ...string) (int, map[string]any) {
	f.t.Helper()
	req, err := http.NewRequestWithContext(f.t.Context(), http.MethodGet, f.url+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &body); err != nil {
		f.t.Fatalf("GET %s: %d, not JSON: %q", path, resp.StatusCode, b)
	}
	return resp.StatusCode, body
}

// must is get that wants 200.
func (f *fixture) must(path string) map[string]any {
	f.t.Helper()
	code, body := f.get(path)
	if code != http.StatusOK {
		f.t.Fatalf("GET %s = %d %v; want 200", path, code, body)
	}
	return body
}

// sseEvent is one Server-Sent Event as received.
type sseEvent struct {
	event, id string
	data      map[string]any
}

// sseStream reads one SSE stream.
type sseStream struct {
	t      *testing.T
	resp   *http.Response
	events chan sseEvent
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (f *fixture) stream(path, lastID string) *sseStream {
	f.t.Helper()
	ctx, cancel := context.WithCancel(f.t.Context())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		f.t.Fatalf("GET %s = %d %s", path, resp.StatusCode, b)
	}
	s := &sseStream{t: f.t, resp: resp, events: make(chan sseEvent, 100), cancel: cancel}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.event != "" {
					s.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.event = line[len("event: "):]
			case strings.HasPrefix(line, "id: "):
				ev.id = line[len("id: "):]
			case strings.HasPrefix(line, "data: "):
				if err := json.Unmarshal([]byte(line[len("data: "):]), &ev.data); err != nil {
					f.t.Errorf("SSE data %q: %v", line, err)
				}
			}
		}
	}()
	f.t.Cleanup(s.close)
	return s
}

func (s *sseStream) close() {
	s.cancel()
	s.resp.Body.Close()
	s.wg.Wait()
}

// next returns the next event, failing the test after 10 s.
func (s *sseStream) next() sseEvent {
	s.t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			s.t.Fatal("the stream ended")
		}
		return ev
	case <-time.After(10 * time.Second):
		s.t.Fatal("no event within 10s")
	}
	return sseEvent{}
}
