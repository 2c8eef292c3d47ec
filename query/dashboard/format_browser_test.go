package dashboard_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cdcflow/cdcflow/internal/testenv"
	"github.com/cdcflow/cdcflow/query/dashboard"
)

// TestFormatInBrowser runs the page's pure helpers (assets/format.js) in
// Chromium: decimal amounts compared and scaled exactly (never through a
// float), times shown as the source wrote them, event types as acts.
func TestFormatInBrowser(t *testing.T) {
	b := newBrowser(t)
	srv := httptest.NewServer(dashboard.Handler())
	t.Cleanup(srv.Close)
	// The blank page of the origin: the module is imported without
	// running the dashboard (which would ask for /v1/views).
	if err := chromedp.Do(b.ctx, chromedp.Navigate(srv.URL+"/favicon.ico")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		expr string
		want string // JSON
	}{
		{`f.share("50.00", "100.00")`, `0.5`},
		{`f.share("0.01", "90071992547409.93")`, `0`},
		{`f.share("90071992547409.92", "90071992547409.93")`, `0.999`},
		{`f.share("1.5", "3")`, `0.5`},
		{`f.share("-1", "3")`, `0`},
		{`f.share("x", "3")`, `0`},
		{`f.share("3", "0")`, `0`},
		// 2^53+1 and 2^53 are the same float; the exact comparison tells them apart.
		{`f.maxDecimal(["9007199254740992.01", "9007199254740992.02", "12"])`, `"9007199254740992.02"`},
		{`f.maxDecimal(["0.10", "0.1", "0.09"])`, `"0.10"`},
		{`f.maxDecimal([])`, `"0"`},
		{`String(f.scaled("123.4", 2))`, `"12340"`},
		{`String(f.scaled("-0.05", 2))`, `"-5"`},
		{`f.scaled("1e3", 2)`, `null`},
		{`f.when(new Date().getFullYear() + "-11-23T10:15:00.123456")`, `"23 Nov 10:15"`},
		{`f.when("2001-02-03 04:05")`, `"3 Feb 2001 04:05"`},
		{`f.when("2001-02-03T04:05:06Z").includes(" 2001 ")`, `true`},
		{`f.when("infinity")`, `"infinity"`},
		{`f.when(undefined)`, `""`},
		{`f.dayLabel("2026-11-23")`, `"Mon 23 Nov"`},
		{`f.dayLabel("2026-11-23|EUR")`, `"2026-11-23|EUR"`},
		{`f.act("OrderPromised", "order")`, `"promised"`},
		{`f.act("OrderLineAdded", "order")`, `"line added"`},
		{`f.act("PaymentReceived", "order")`, `"payment received"`},
		{`f.act("Order", "order")`, `"order"`},
		{`f.ago(420)`, `"0.4 s ago"`},
		{`f.ago(-5)`, `"0.0 s ago"`},
		{`f.ago(75000)`, `"75 s ago"`},
		{`f.ago(600000)`, `"10 min ago"`},
		{`f.seconds(0.421)`, `"0.42 s"`},
		{`f.seconds(null)`, `"—"`},
		{`f.statusVar("accepted")`, `"var(--st-accepted)"`},
		{`f.statusVar("<script>")`, `"var(--accent)"`},
		{`f.fieldText({"a": 1})`, `"{\"a\":1}"`},
		{`f.el("td", {}, "<b>x</b>").innerHTML`, `"&lt;b&gt;x&lt;/b&gt;"`},
	}
	for _, tc := range tests {
		js := `import("/assets/format.js").then(f => JSON.stringify(` + tc.expr + `))`
		got, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		if !jsonEqual(got, tc.want) {
			t.Errorf("%s = %s; want %s", tc.expr, got, tc.want)
		}
	}
	b.check(t, srv.URL)
}

// TestBrowserRecorderCatches proves the checks of the browser tests can
// fail: a request to another origin (blocked by the page's CSP, which
// Chromium reports), a console error and an uncaught exception are all seen.
func TestBrowserRecorderCatches(t *testing.T) {
	b := newBrowser(t)
	srv := httptest.NewServer(dashboard.Handler())
	t.Cleanup(srv.Close)
	if err := chromedp.Do(b.ctx, chromedp.Navigate(srv.URL+"/favicon.ico")); err != nil {
		t.Fatal(err)
	}
	if got := b.findings(srv.URL); len(got) != 0 {
		t.Fatalf("findings on the icon alone = %q; want none", got)
	}
	js := `fetch("http://192.0.2.1/x").catch(() => 0); console.error("boom"); setTimeout(() => { throw new Error("thrown") }, 0); true`
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](js)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"192.0.2.1", "console.error: \"boom\"", "thrown"} {
		testenv.Await(t, 5*time.Second, "the recorder to report "+want, func() (bool, error) {
			return strings.Contains(strings.Join(b.findings(srv.URL), "\n"), want), nil
		})
	}
	t.Logf("findings: %q", b.findings(srv.URL))
}

func jsonEqual(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return string(ja) == string(jb)
}
