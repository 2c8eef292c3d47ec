// Package opscheck holds the tests of what cdcflow ships for operators: the
// alert rules in deploy/prometheus (promtool check and unit tests, run with
// Debian's promtool), the Grafana dashboard in deploy/grafana (its PromQL
// parsed, and run against a Prometheus server scraping a real cdcflow), and
// the metrics table and runbook of docs/operations.md (compared with a
// running instance's /metrics and with the alerts). It has no code besides
// its tests; nothing imports it.
package opscheck
