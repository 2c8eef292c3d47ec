// Package loadgen drives the order lifecycle of the reference legacy order
// database (schema.sql, also in deploy/examples/orders) in realistic
// transactions: customers sign up and change their details, orders are
// placed with their lines in one transaction, then confirmed or declined,
// paid, shipped, delivered, returned or cancelled, while every transaction
// also writes the busy, uncaptured audit log. Demos, tests and benchmarks
// use it to give cdcflow a change stream worth capturing.
//
// Runs are deterministic: with one worker, the same Seed on the same
// starting database gives the same final database, row for row. Nothing in
// the data comes from the wall clock or from PostgreSQL's sequences racing:
// timestamps follow a logical clock that starts at a fixed epoch (or where
// the database's newest row left it) and advances by seeded steps, and one
// connection runs the transactions one after another.
//
// It must never import the product's packages (capture, pipeline, sinks,
// backpressure, cmd): it plays the legacy application, which knows nothing
// of cdcflow. The one project package it uses is internal/progress, which
// draws RunWithProgress's line (the texts are Stats.ProgressLine and
// Stats.WriteTable, in report.go).
//
// Concurrency: a Generator's methods are safe for concurrent use; Run
// blocks until its work is done and must not be called twice at once. Each
// worker owns one connection; workers share the picture of which orders
// are in which state under a mutex, and claim an order before changing it,
// so no two transactions work on the same order.
//
// Metrics: none; Stats reports what was done.
package loadgen
