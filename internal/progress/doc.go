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
// A redrawn line never ends, so anything else written to the same terminal
// meanwhile (a log record) would land in the middle of it. A command that
// redraws a line therefore writes its logger through a Screen and gives the
// Screen to the Line as its output: each record then erases the line, is
// written, and the last status text is redrawn below it.
//
// Concurrency: a Line is not safe for concurrent use; each display owns one,
// used from the goroutine that reports. A Screen is safe for concurrent use:
// its mutex keeps a record and a redraw from interleaving. Nothing here
// starts a goroutine.
//
// Metrics: none.
package progress
