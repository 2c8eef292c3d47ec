package query

import (
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/cdcflow/cdcflow/internal/jsonx"
)

// Append-style JSON for the hot answers (an entity and its freshness),
// written byte for byte as encoding/json writes the same values (maps with
// sorted keys, no HTML escaping, a final newline; encode_test.go compares
// the two), without its reflection and without one allocation per value.

// bufPool holds the answer buffers.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// The header values of a JSON answer, shared (net/http only reads them).
var (
	jsonContentType = []string{"application/json; charset=utf-8"}
	noStore         = []string{"no-store"}
)

// writeBody writes the JSON body b with status. A body that fits net/http's
// response buffer (2 KB, before it would switch to chunked encoding) gets
// its Content-Length from net/http when the handler returns, without the
// header's two allocations here; a larger one gets it here.
func writeBody(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["Cache-Control"] = noStore
	if len(b) > netHTTPBuffered {
		h["Content-Length"] = []string{strconv.Itoa(len(b))}
	}
	w.WriteHeader(status)
	_, _ = w.Write(b) // the client went away: nothing to do
}

// netHTTPBuffered is how much of a body net/http buffers before it must
// send the header (its bufferBeforeChunkingSize): a body up to this size,
// written before the handler returns, gets a Content-Length from net/http.
const netHTTPBuffered = 2048

// writeEntity writes the answer of an entity read:
// {"fields": {...}, "freshness": {...}, "id": "..."}.
func writeEntity(w http.ResponseWriter, id string, fields map[string]string, f *freshness) {
	bp := bufPool.Get().(*[]byte)
	b := appendEntity((*bp)[:0], id, fields, f)
	writeBody(w, http.StatusOK, b)
	if cap(b) <= 64<<10 {
		*bp = b
		bufPool.Put(bp)
	}
}

func appendEntity(b []byte, id string, fields map[string]string, f *freshness) []byte {
	b = append(b, `{"fields":`...)
	b = appendStringMap(b, fields)
	b = append(b, `,"freshness":`...)
	b = appendFreshness(b, f)
	b = append(b, `,"id":`...)
	b = jsonx.AppendString(b, id)
	return append(b, "}\n"...)
}

// appendStringMap appends m as a JSON object with sorted keys (null for a
// nil map).
func appendStringMap(b []byte, m map[string]string) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	var arr [32]string
	keys := arr[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonx.AppendString(b, k)
		b = append(b, ':')
		b = jsonx.AppendString(b, m[k])
	}
	return append(b, '}')
}

// appendFreshness appends f as encoding/json writes the freshness struct.
func appendFreshness(b []byte, f *freshness) []byte {
	if f == nil {
		return append(b, "null"...)
	}
	b = append(b, `{"generation":`...)
	b = strconv.AppendInt(b, f.Generation, 10)
	b = append(b, `,"partitions":`...)
	if f.Partitions == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, p := range f.Partitions {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"partition":`...)
			b = strconv.AppendInt(b, int64(p.Partition), 10)
			b = append(b, `,"applied_lsn":`...)
			b = jsonx.AppendString(b, p.AppliedLSN)
			b = append(b, `,"commit_time":`...)
			b = appendTime(b, p.CommitTime)
			b = append(b, `,"staleness_seconds":`...)
			b = appendFloatPtr(b, p.StalenessSeconds)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"staleness_seconds":`...)
	b = appendFloatPtr(b, f.StalenessSeconds)
	if f.WaitedSeconds != nil {
		b = append(b, `,"waited_seconds":`...)
		b = appendFloatPtr(b, f.WaitedSeconds)
	}
	return append(b, '}')
}

func appendTime(b []byte, t *time.Time) []byte {
	if t == nil {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendFloatPtr appends *f as encoding/json writes a float64 (null for
// nil): plain decimal, exponent form below 1e-6 and from 1e21.
func appendFloatPtr(b []byte, f *float64) []byte {
	if f == nil {
		return append(b, "null"...)
	}
	v := *f
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(b, "null"...) // never happens: a staleness is finite
	}
	format := byte('f')
	if a := math.Abs(v); a != 0 && (a < 1e-6 || a >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, v, format, -1, 64)
	if format == 'e' {
		// e-07 -> e-7, as encoding/json writes it.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
