// Package dashboard is the live web dashboard of the query server: static
// HTML, CSS and JavaScript (ES modules, no framework, no build step) embedded
// in the binary with go:embed and served by Handler. Nothing is fetched from
// another origin, at build time or at run time: the page talks only to the
// query API of the server that serves it (/v1/…, JSON and Server-Sent
// Events), and its Content-Security-Policy forbids anything else.
//
// The page has two parts: a view browser that works for any views file (the
// views from GET /v1/views; an entity by id, index pages with their cursor,
// an aggregate's top groups by count or by a sum, an aggregate's history),
// and, when the views of the reference order example are present (order,
// pending, per_status, revenue_per_day, history), an order board: pending
// orders, an order's status with its coordination history as a timeline,
// counts per status, revenue per day, the most recent events and pipeline
// health.
//
// It imports no project package and no client library: it is files and an
// http.Handler. Handler is safe for concurrent use. The requests it serves
// are counted by the query server's metrics (cdcflow_query_requests_total),
// which mounts it; the package exports no metrics of its own.
package dashboard
