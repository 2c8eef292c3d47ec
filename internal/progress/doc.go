// Package progress draws every progress display of cdcflow's commands (the
// snapshot's bars, the replay's bar, the load generator's and the flow's
// status lines) through one renderer, Line: on a terminal a line redrawn in
// place, on any other output a line written, or a record logged, at most
// once per interval. Terminal detection is golang.org/x/term's: only an
// *os.File on a terminal is one (/dev/null, a pipe or a file is not).
//
// The libraries report progress through plain callbacks
// (snapshot.Config.Progress, redisview.ConsumerConfig.Progress); the commands
// format the text and hand it here. The package imports no project package.
//
// Concurrency: a Line is not safe for concurrent use; each display owns one,
// used from the goroutine that reports. It starts no goroutine.
//
// Metrics: none.
package progress
