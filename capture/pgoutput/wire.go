package pgoutput

import (
	"encoding/binary"
	"errors"
	"fmt"
)

var errTruncated = errors.New("message truncated")

// reader reads the big-endian fields of one pgoutput message. Every read checks
// the remaining length; the first failure sticks in err, and later reads return
// zero values, so a decoder can read a whole message and check err once.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// failf records an error that the caller built, located at the current offset.
func (r *reader) failf(format string, args ...any) {
	r.fail(fmt.Errorf(format, args...))
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.off {
		r.fail(errTruncated)
		return nil
	}
	b := r.b[r.off : r.off+n]
	r.off += n
	return b
}

func (r *reader) byte1() byte {
	b := r.take(1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (r *reader) int16() int16 {
	b := r.take(2)
	if b == nil {
		return 0
	}
	return int16(binary.BigEndian.Uint16(b))
}

func (r *reader) uint32() uint32 {
	b := r.take(4)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint32(b)
}

func (r *reader) uint64() uint64 {
	b := r.take(8)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// length reads an Int32 length; a negative one fails.
func (r *reader) length() int {
	n := int32(r.uint32())
	if n < 0 {
		r.failf("negative length %d", n)
		return 0
	}
	return int(n)
}

// string reads a NUL-terminated string.
func (r *reader) string() string {
	if r.err != nil {
		return ""
	}
	for i := r.off; i < len(r.b); i++ {
		if r.b[i] == 0 {
			s := string(r.b[r.off:i])
			r.off = i + 1
			return s
		}
	}
	r.fail(errors.New("string not terminated"))
	return ""
}

// end fails unless the whole message was read.
func (r *reader) end() {
	if r.err == nil && r.off != len(r.b) {
		r.failf("%d unexpected bytes at the end", len(r.b)-r.off)
	}
}
