// Package benchkit holds what the benchmark commands in internal/bench share:
// a private PostgreSQL server with the reference order database, its
// publication and the source slot every reader's copy starts from; the
// reference workload written once with the load generator; the runs that
// copy the slot for each reader, alternating their order, and drop the copy
// after; pg_recvlogical as the baseline reader; a child process's wall time,
// CPU time and peak resident set; and the median and table header of the
// reports.
//
// It measures processes from outside and never imports the code under
// measurement (capture/replication, pipeline, sinks): the commands run that
// in their own child processes.
//
// Nothing here is safe for concurrent use unless its doc says so; the
// commands call it from their main goroutine. The only goroutine it starts
// (SampleRSS's sampler) stops when the function SampleRSS returns is called.
package benchkit
