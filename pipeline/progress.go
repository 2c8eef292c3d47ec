package pipeline

import (
	"fmt"
	"time"

	"github.com/cdcflow/cdcflow/capture"
)

// NewProgress returns the progress record of aggregate type agg: every
// source transaction whose commit end LSN is at most lsn is published ahead
// of it in each partition it is written to, and at is the commit time of the
// newest of them (or the time of the heartbeat that moved lsn). Readers learn
// from it how current an idle partition is.
//
// Its position is lsn with the largest change index and ordinal, so that it
// sorts after every event of the transactions it covers; its LSN is lsn; its
// data is {"lsn": "%016X", "commit_time": RFC 3339}. It has no aggregate id
// (no record key) and goes to the partitions its Record names.
func NewProgress(source, agg string, lsn capture.LSN, at time.Time) Event {
	pos := MakePosition(lsn, ^uint32(0), ^uint16(0))
	at = at.UTC()
	data := fmt.Appendf(nil, `{"lsn":"%016X","commit_time":"%s"}`, uint64(lsn), at.Format(timeLayout))
	return Event{
		ID:            EventID(source, pos),
		Source:        source,
		Type:          ProgressType,
		Version:       1,
		AggregateType: agg,
		Position:      pos,
		LSN:           lsn,
		Time:          at,
		Data:          data,
		Control:       ControlProgress,
	}
}
