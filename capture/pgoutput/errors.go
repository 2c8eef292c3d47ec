package pgoutput

import (
	"fmt"

	"github.com/cdcflow/cdcflow/capture"
)

// DecodeError reports a pgoutput message that could not be decoded.
type DecodeError struct {
	LSN     capture.LSN // the WAL start of the XLogData message that carried it
	MsgType byte        // the message's type byte ('I', 'U', ...); 0 for an empty message
	Offset  int         // the byte offset in the message where decoding stopped
	Err     error
}

// Error describes the failure; it quotes at most a short excerpt of a value.
func (e *DecodeError) Error() string {
	if e.MsgType == 0 {
		return fmt.Sprintf("decode pgoutput message at %s: %v", e.LSN, e.Err)
	}
	return fmt.Sprintf("decode pgoutput %s message at %s, offset %d: %v", msgName(e.MsgType), e.LSN, e.Offset, e.Err)
}

// Unwrap returns the underlying error.
func (e *DecodeError) Unwrap() error { return e.Err }
