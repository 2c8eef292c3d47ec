package cep

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/pipeline"
)

// t0 is the event time every test counts from.
var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

const testSource = "cdcflow://cep/test"

func part(p int32) PartitionID { return PartitionID{Topic: "shop.order", Partition: p} }

func partitions(n int) []PartitionID {
	out := make([]PartitionID, n)
	for i := range out {
		out[i] = part(int32(i))
	}
	return out
}

// in is an input event on partition p at source position lsn, at t0+at.
func in(p int32, lsn uint64, typ, key string, at time.Duration, data string) Input {
	if data == "" {
		data = `{}`
	}
	pos := pipeline.MakePosition(capture.LSN(lsn), 0, 0)
	return Input{Partition: part(p), Offset: int64(lsn), Event: pipeline.Event{
		ID: pipeline.EventID("src", pos), Source: "src", Type: typ, Version: 1, AggregateType: "order",
		AggregateID: key, Position: pos, LSN: capture.LSN(lsn), Time: t0.Add(at), Data: []byte(data),
	}}
}

// progress is a progress record on partition p at lsn, at t0+at.
func progress(p int32, lsn uint64, at time.Duration) Input {
	return Input{Partition: part(p), Offset: int64(lsn), Event: pipeline.NewProgress("src", "order", capture.LSN(lsn), t0.Add(at))}
}

func mustRules(t testing.TB, src string) *Rules {
	t.Helper()
	rs, err := ParseRules("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("ParseRules: %v", err)
	}
	return rs
}

func mustEngine(t testing.TB, rs *Rules, parts int) *Engine {
	t.Helper()
	e, err := New(rs, Config{Source: testSource, Partitions: partitions(parts)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

// run feeds inputs and returns the derived events.
func run(t testing.TB, e *Engine, inputs ...Input) []pipeline.Event {
	t.Helper()
	var out []pipeline.Event
	for _, x := range inputs {
		if err := e.Feed(x, func(d pipeline.Event) { out = append(out, d) }); err != nil {
			t.Fatalf("Feed(%s %s): %v", x.Event.Type, x.Event.Position, err)
		}
	}
	return out
}

// brief writes derived events as "Type key data" lines.
func brief(evs []pipeline.Event) string {
	var lines []string
	for _, d := range evs {
		lines = append(lines, fmt.Sprintf("%s %s %s", d.Type, d.AggregateID, d.Data))
	}
	return strings.Join(lines, "\n")
}
