// Package thresholds holds cdcflow's thresholds: the one file
// (thresholds.yaml, embedded) that decides when a lag, an age or a size is a
// warning or a failure. `cdcflow status` judges its lines with [Default];
// the Prometheus alert rules and the PrometheusRule resource in
// deploy/prometheus are generated from the same values by
// `go generate ./internal/thresholds` ([Thresholds.Rules],
// [Thresholds.RuleFile], [Thresholds.PrometheusRuleFile]), and a test fails when
// they are stale, so the command and the alerts never disagree.
//
// It imports no project package but internal/strictyaml, and does no I/O but
// reading the file handed to [Load]. Its values are plain data, safe to share
// between goroutines once loaded.
package thresholds

//go:generate go run ./gen -root ../..
