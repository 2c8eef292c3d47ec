package capture

// Confirmable returns the last position in msgs that may be confirmed to
// PostgreSQL once every message of msgs is durable downstream: the EndLSN of
// the last Commit or the LSN of the last heartbeat Marker, whichever comes
// later in msgs. It returns 0 when msgs hold neither, as a chunk in the middle
// of a transaction does: such a chunk makes nothing new confirmable.
//
// It is the one statement of the confirmation rule (DESIGN.md, Delivery): the
// Reader, the flow and tail all call it.
func Confirmable(msgs []Message) LSN {
	for i := len(msgs) - 1; i >= 0; i-- {
		switch m := msgs[i].(type) {
		case *Commit:
			return m.EndLSN
		case *Marker:
			if m.Kind == MarkerHeartbeat {
				return m.LSN
			}
		}
	}
	return 0
}
