package pgoutput

import (
	"fmt"

	"github.com/cdcflow/cdcflow/capture"
)

// DecodeError reports a pgoutput message that could not be decoded.
type DecodeError struct {
	LSN     capture.LSN // the WAL start of the XLogData message that carried it
	MsgType byte        // the message's type byte ('I', 'U', ...); 0 for an empty message
	Offset  int         // the byte offset in the message where decoding failed
	Err     error
}

// Error describes the failure without quoting any column value.
func (e *DecodeError) Error() string {
	t := "empty"
	if e.MsgType != 0 {
		t = fmt.Sprintf("%q", e.MsgType)
	}
	return fmt.Sprintf("decode pgoutput message %s at %s, offset %d: %v", t, e.LSN, e.Offset, e.Err)
}

// Unwrap returns the underlying error.
func (e *DecodeError) Unwrap() error { return e.Err }
