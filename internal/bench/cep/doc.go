// Command cep benchmarks the complex-event-processing engine (package cep)
// against the raw consume rate of the same topic.
//
// It starts an in-process kfake broker (internal/services) with a topic of
// -partitions partitions and fills it with -events reference order events
// as cdcflow publishes them (pipeline.EncodeEvent): CloudEvents records in
// structured mode, or with -binary in binary mode (kafka.envelope: binary),
// keyed by order id, one order's requested, promised or declined, then
// declared events with increasing commit times and positions, and a
// progress record on every partition every -progress events (what an idle
// partition would get). Then, -runs times, alternating the order:
//
//   - raw: a franz-go client (read_committed, no group, every partition from
//     its start) polls until it has every record, decoding nothing;
//   - decode: the same consumer with pipeline.DecodeRecord of each record,
//     to tell the envelope's cost from the engine's;
//   - cep: the same consumer, and for each record pipeline.DecodeRecord and
//     Engine.Feed with the reference rules (deploy/examples/orders/cep.yaml)
//     over all partitions, counting the derived events. As in the runtime
//     (cep/cepkafka), one goroutine polls and decodes each poll's records one
//     batch ahead of the goroutine that feeds the engine, so the CPU time per
//     event is that of both.
//
// It prints the median events per second and CPU time per event of each,
// the ratio of cep to raw (the goal is at least 0.5), and with -timers > 0
// the heap bytes per open absence timer with that many open (the engine
// alone, fed OrderPromised events of distinct orders, after a GC, above the
// empty engine: the figure of BenchmarkOpenTimers; the goal is at most 300
// bytes at 1M).
//
// Everything runs in this process: the broker shares the machine with the
// consumer, as it would in a one-machine deployment. Record figures from a
// quiet machine in docs/benchmarks.md.
package main
