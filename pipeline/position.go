package pipeline

import (
	"fmt"

	"github.com/cdcflow/cdcflow/capture"
)

// Position orders events: the commit LSN of the source transaction, the index of
// the change in it and the ordinal of the event among those the change produced,
// as fixed-width upper-case hex ("%016X-%08X-%04X"), so that positions compare
// correctly as strings.
type Position string

// MakePosition returns the Position of the ordinal-th event of the index-th change
// of the transaction that commits at lsn.
func MakePosition(lsn capture.LSN, index uint32, ordinal uint16) Position {
	return Position(fmt.Sprintf("%016X-%08X-%04X", uint64(lsn), index, ordinal))
}
