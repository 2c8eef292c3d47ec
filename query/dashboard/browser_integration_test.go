package dashboard_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/cdcflow/cdcflow/internal/loadgen"
	"github.com/cdcflow/cdcflow/internal/testenv"
)

// updateScreenshots writes the screenshots the browser test takes into
// docs/img, where docs/query.md shows them. Without it they go to the
// test's artifact directory (go test -artifacts keeps them).
var updateScreenshots = flag.Bool("update-screenshots", false, "write the dashboard screenshots into docs/img")

func TestMain(m *testing.M) { testenv.Main(m) }

// chromium is Debian's browser, which scripts/setup.sh installs.
const chromium = "/usr/bin/chromium"

// browser is a headless Chromium tab with a record of every request the
// page made, and of every console error and uncaught exception.
type browser struct {
	ctx context.Context

	mu       sync.Mutex
	requests []string // URLs, in the order the page asked for them
	problems []string // console errors, exceptions, failed loads
}

// newBrowser starts Chromium for the test, or skips it when Chromium is not
// installed (fails under CI=true, where it must be).
func newBrowser(t *testing.T) *browser {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing (CI=true): install Debian's chromium (scripts/setup.sh does)", chromium)
		}
		t.Skipf("%s is missing: install Debian's chromium (apt-get install chromium, or scripts/setup.sh) to run the browser tests", chromium)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	b := &browser{ctx: ctx}
	err := chromedp.Listen(ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			b.requests = append(b.requests, ev.Request.URL)
		case *network.EventLoadingFailed:
			if !ev.Canceled {
				b.problems = append(b.problems, fmt.Sprintf("load failed (%s): %s", ev.Type, ev.ErrorText))
			}
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				b.problems = append(b.problems, fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " ")))
			}
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			b.problems = append(b.problems, fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber, msg))
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError {
				b.problems = append(b.problems, fmt.Sprintf("log %s: %s (%s)", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			}
		}
	})
	if err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return b
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// awaitPage waits until expr is true in the page.
func awaitPage(t *testing.T, b *browser, timeout time.Duration, what, expr string) {
	t.Helper()
	testenv.Await(t, timeout, what, func() (bool, error) {
		return chromedp.Run(b.ctx, chromedp.Evaluate[bool](expr))
	})
}

// expect removes the problems seen so far that contain want, failing the
// test if there is none.
func (b *browser) expect(t *testing.T, want string) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	kept := b.problems[:0]
	found := false
	for _, p := range b.problems {
		if strings.Contains(p, want) {
			found = true
			continue
		}
		kept = append(kept, p)
	}
	b.problems = kept
	if !found {
		t.Errorf("the browser reported no problem containing %q; problems: %q", want, kept)
	}
}

// check fails the test for every problem findings reports.
func (b *browser) check(t *testing.T, origin string) {
	t.Helper()
	for _, p := range b.findings(origin) {
		t.Error(p)
	}
}

// findings lists every request that left origin and every console error,
// exception or failed load seen so far.
func (b *browser) findings(origin string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	if len(b.requests) == 0 {
		out = append(out, "the DevTools protocol reported no request at all: the request recorder is broken")
	}
	for _, u := range b.requests {
		if !strings.HasPrefix(u, origin+"/") && u != origin && !strings.HasPrefix(u, "data:") {
			out = append(out, fmt.Sprintf("the page requested %s, outside the server's origin %s", u, origin))
		}
	}
	for _, p := range b.problems {
		out = append(out, "the page reported a problem: "+p)
	}
	return out
}

// flow is the reference order database captured by `cdcflow run`, through
// its embedded kfake broker into Redis views, with the query server and its
// dashboard inside the same process.
type flow struct {
	db     *testenv.DB
	origin string // http://127.0.0.1:PORT
	token  string // the bearer token the query server requires
}

func startFlow(t *testing.T) *flow {
	t.Helper()
	ctx := t.Context()
	db := testenv.Postgres(t).NewDatabase(t)
	if err := loadgen.Init(ctx, db.Conn(t)); err != nil {
		t.Fatal(err)
	}
	g, err := loadgen.New(loadgen.Config{DSN: db.DSN, Seed: uint64(testenv.Seed(t)), Count: 120})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Run(ctx); err != nil {
		t.Fatalf("load: %v", err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	rsrv := testenv.Redis(t)
	addr := freeAddr(t)
	slot := fmt.Sprintf("dash_%d", time.Now().UnixNano()%1e9)
	token := fmt.Sprintf("dash-%d", time.Now().UnixNano())
	tokenFile := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"CDCFLOW_SOURCE_DSN=" + db.DSN,
		"CDCFLOW_SOURCE_TIMEZONE=" + loadgen.ShopZone,
		"CDCFLOW_MAPPING_FILE=" + filepath.Join(root, "deploy/examples/orders/mapping.yaml"),
		"CDCFLOW_KAFKA_TOPICS_PARTITIONS=3",
		"CDCFLOW_CAPTURE_SLOT=" + slot,
		"CDCFLOW_CAPTURE_PUBLICATION=" + slot,
		"CDCFLOW_DATA_DIR=" + t.TempDir(),
		"CDCFLOW_VIEWS_FILE=" + filepath.Join(root, "deploy/examples/orders/views.yaml"),
		"CDCFLOW_VIEWS_ENABLED=true",
		"CDCFLOW_VIEWS_REDIS_ADDRS=" + rsrv.Addr(),
		"CDCFLOW_VIEWS_PREFIX=" + rsrv.Prefix(t),
		"CDCFLOW_QUERY_ADDR=" + addr,
		"CDCFLOW_QUERY_TOKENS_FILE=" + tokenFile,
	}
	exited := startCdcflow(t, env, "run", "--progress=false")
	f := &flow{db: db, origin: "http://" + addr, token: token}
	testenv.Await(t, 90*time.Second, "the query server to answer with the snapshot's pending orders", func() (bool, error) {
		select {
		case <-exited:
			t.Fatal("cdcflow run exited before its query server answered")
		default:
		}
		var body struct {
			Items []struct{ ID string } `json:"items"`
		}
		if err := getJSON(f.origin+"/v1/views/pending/index?limit=1", token, &body); err != nil {
			return false, err
		}
		return len(body.Items) > 0, nil
	})
	return f
}

func getJSON(url, token string, v any) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, res.Status)
	}
	return json.NewDecoder(res.Body).Decode(v)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startCdcflow runs the cdcflow binary until the test ends (SIGINT, then
// its output in the log if the test failed). The channel closes when it
// exits.
func startCdcflow(t *testing.T, env []string, args ...string) <-chan struct{} {
	t.Helper()
	cmd := exec.Command(testenv.Cdcflow(t), args...)
	cmd.Env = append(os.Environ(), env...)
	logPath := filepath.Join(t.TempDir(), args[0]+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logFile.Close(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("cdcflow %s did not stop within 30s of SIGINT", args[0])
		}
		if t.Failed() {
			out, _ := os.ReadFile(logPath)
			t.Logf("cdcflow %s output:\n%s", args[0], out)
		}
	})
	return done
}

// TestIntegrationDashboardLive opens the dashboard served by `cdcflow run`
// in headless Chromium (the server takes a bearer token, which the page asks
// for and then sends with every read and stream): an order inserted in PostgreSQL appears on the page
// within seconds without a reload, its timeline follows its status changes,
// the page asks nothing of another origin and reports no error, and it has
// no horizontal scroll at 1280×800 and 390×844.
func TestIntegrationDashboardLive(t *testing.T) {
	b := newBrowser(t)
	f := startFlow(t)

	if err := chromedp.Do(b.ctx, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(f.origin+"/")); err != nil {
		t.Fatalf("open %s: %v", f.origin, err)
	}
	// The server takes bearer tokens: the page asks for one.
	awaitPage(t, b, 10*time.Second, "the page to ask for the bearer token", `!!document.getElementById('token')`)
	if err := chromedp.Do(b.ctx, chromedp.SendKeys(chromedp.ID("token"), f.token),
		chromedp.Click(chromedp.CSS(`form.token button[type="submit"]`))); err != nil {
		t.Fatal(err)
	}
	awaitPage(t, b, 10*time.Second, "the token form to go", `document.getElementById('banner').hidden`)
	// The 401 that made the page ask is the one error the browser reports
	// (as any answer ≥ 400 to a fetch); nothing else may follow it.
	b.expect(t, "the server responded with a status of 401")
	awaitPage(t, b, 20*time.Second, "the board to show pending orders, counts per status and an order's timeline",
		`document.querySelectorAll('#pending tbody tr[data-id]').length > 0 &&
		 document.querySelectorAll('#statuses li[data-status]').length > 0 &&
		 document.querySelectorAll('#timeline li').length > 0 &&
		 document.getElementById('conn').dataset.state === 'live'`)
	eval[bool](t, b, `window.__dashboardMarker = "kept"; true`)

	// A new order, backdated so that once promised it is the oldest
	// pending one and therefore on the first page of the pending list
	// (pending: promised and not yet declared shipped).
	conn := f.db.Conn(t)
	var id int64
	err := conn.QueryRow(t.Context(), `
		INSERT INTO orders (customer_id, status, total, currency, shipping_address, "createdBy", ordered_at, updated_at)
		SELECT customer_id, 'N', 123.45, 'EUR', '{"city": "Berlin"}', 'dashboard-test', '2001-02-03 04:05:06', now()
		FROM customers ORDER BY customer_id LIMIT 1
		RETURNING order_id`).Scan(&id)
	if err != nil {
		t.Fatalf("insert an order: %v", err)
	}
	start := time.Now()
	awaitPage(t, b, 15*time.Second, fmt.Sprintf("order %d's OrderRequested among the latest events without a reload", id),
		fmt.Sprintf(`[...document.querySelectorAll('#events li[data-type="OrderRequested"]')].some(li => li.textContent.includes(" %d"))`, id))
	t.Logf("order %d on the page %v after its commit", id, time.Since(start).Round(time.Millisecond))
	if _, err := conn.Exec(t.Context(), `UPDATE orders SET status = 'C', updated_at = now() WHERE order_id = $1`, id); err != nil {
		t.Fatal(err)
	}
	awaitPage(t, b, 15*time.Second, fmt.Sprintf("order %d to appear in the pending list once promised", id),
		fmt.Sprintf(`!!document.querySelector('#pending tbody tr[data-id="%d"]')`, id))
	if got := eval[string](t, b, `String(window.__dashboardMarker)`); got != "kept" {
		t.Fatalf("window marker = %q after the update; want \"kept\" (the page reloaded)", got)
	}

	// Its timeline follows the coordination acts as they are committed.
	if err := chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS(fmt.Sprintf(`#pending tr[data-id="%d"] button`, id)))); err != nil {
		t.Fatalf("pick order %d: %v", id, err)
	}
	acts := []struct{ status, act string }{{"", "promised"}, {"S", "declared"}, {"V", "accepted"}}
	want := []string{"requested"}
	for _, a := range acts {
		if a.status != "" { // "": committed above
			if _, err := conn.Exec(t.Context(), `UPDATE orders SET status = $1, updated_at = now() WHERE order_id = $2`, a.status, id); err != nil {
				t.Fatal(err)
			}
		}
		want = append(want, a.act)
		js := `JSON.stringify([...document.querySelectorAll('#timeline li .act')].map(e => e.textContent))`
		testenv.Await(t, 15*time.Second, fmt.Sprintf("order %d's timeline to read %v", id, want), func() (bool, error) {
			got, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js))
			if err != nil {
				return false, err
			}
			wantJSON, _ := json.Marshal(want)
			if got != string(wantJSON) {
				return false, fmt.Errorf("timeline = %s", got)
			}
			return true, nil
		})
		awaitPage(t, b, 10*time.Second, fmt.Sprintf("order %d's status badge to read %s", id, a.act),
			fmt.Sprintf(`document.getElementById('order-status')?.textContent === %q`, a.act))
	}
	if got := eval[string](t, b, `String(window.__dashboardMarker)`); got != "kept" {
		t.Fatalf("window marker = %q; want \"kept\" (the page reloaded)", got)
	}

	// Layout at both sizes, with screenshots (without the focus ring of
	// the row button clicked above, nor the mouse over a row).
	eval[bool](t, b, `document.activeElement.blur(); true`)
	if err := chromedp.Do(b.ctx, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, 0, 0)); err != nil {
		t.Fatal(err)
	}
	for _, size := range []struct {
		w, h int64
		name string
	}{{1280, 800, "dashboard-1280.png"}, {390, 844, "dashboard-390.png"}} {
		if err := chromedp.Do(b.ctx, chromedp.EmulateViewport(size.w, size.h)); err != nil {
			t.Fatal(err)
		}
		awaitPage(t, b, 5*time.Second, fmt.Sprintf("the layout at %d px", size.w), fmt.Sprintf(`innerWidth === %d`, size.w))
		scroll := eval[[]int64](t, b, `[document.documentElement.scrollWidth, innerWidth]`)
		if scroll[0] > scroll[1] {
			t.Errorf("at %d×%d the page scrolls sideways: scrollWidth %d > innerWidth %d", size.w, size.h, scroll[0], scroll[1])
		}
		png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		dir := t.ArtifactDir()
		if *updateScreenshots {
			dir = filepath.Join("..", "..", "docs", "img")
		}
		if err := os.WriteFile(filepath.Join(dir, size.name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// The view browser, reached without a reload: an aggregate's top groups
	// with their sums as exact decimal strings, and an entity by id.
	if err := chromedp.Do(b.ctx, chromedp.EmulateViewport(390, 844)); err != nil {
		t.Fatal(err)
	}
	eval[bool](t, b, `location.hash = "#views/revenue_per_day"; true`)
	awaitPage(t, b, 10*time.Second, "the revenue_per_day groups in the view browser, sums at scale 2",
		`(() => { const cells = [...document.querySelectorAll('#view-result tbody tr td:last-child')];
		  return cells.length > 0 && cells.every(td => /^-?\d+\.\d{2}$/.test(td.textContent)); })()`)
	eval[bool](t, b, `location.hash = "#views/order"; true`)
	awaitPage(t, b, 5*time.Second, "the entity form", `!!document.getElementById('q-id')`)
	if err := chromedp.Do(b.ctx, chromedp.SendKeys(chromedp.ID("q-id"), fmt.Sprint(id)),
		chromedp.Click(chromedp.CSS(`#view-form button[type="submit"]`))); err != nil {
		t.Fatal(err)
	}
	awaitPage(t, b, 10*time.Second, fmt.Sprintf("order %d's fields in the view browser", id),
		`[...document.querySelectorAll('#view-result tbody tr')].some(tr => tr.textContent === "statusaccepted")`)
	unlabelled := eval[[]string](t, b, `[...document.querySelectorAll("input, select")].filter(e => !e.labels || !e.labels.length).map(e => e.id || e.name)`)
	if len(unlabelled) > 0 {
		t.Errorf("controls without a label: %q", unlabelled)
	}
	if scroll := eval[[]int64](t, b, `[document.documentElement.scrollWidth, innerWidth]`); scroll[0] > scroll[1] {
		t.Errorf("the view browser at 390×844 scrolls sideways: scrollWidth %d > innerWidth %d", scroll[0], scroll[1])
	}
	if got := eval[string](t, b, `String(window.__dashboardMarker)`); got != "kept" {
		t.Fatalf("window marker = %q in the view browser; want \"kept\" (the page reloaded)", got)
	}
	b.check(t, f.origin)
}
