package cepkafka

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The state of a Runner on its compacted changelog topic: the engine's
// snapshot cut into chunks, one record per chunk keyed "<name>/<i>", then a
// header record keyed "<name>" that says which generation of chunks is
// current. A commit writes every chunk and the header in one transaction,
// and tombstones the chunks a shrunken snapshot no longer uses, so that after
// compaction the topic holds one snapshot per name.

// stateFormat is the version of the header's encoding.
const stateFormat = 1

// DefaultChunkBytes is the size of one state chunk: well below Kafka's
// default message.max.bytes (1 MiB), compression aside.
const DefaultChunkBytes = 256 << 10

// stateHeader is the value of the "<name>" record.
type stateHeader struct {
	Format     int    `json:"format"`
	Generation uint64 `json:"generation"`
	Chunks     int    `json:"chunks"`
	Bytes      int    `json:"bytes"`
	SHA256     string `json:"sha256"`
}

// stateRecords returns the records of one commit of snap under name, as
// generation gen, with chunkBytes per chunk: the chunks, tombstones for the
// chunks prevChunks had beyond the new count, and the header, last. It
// returns the new chunk count too.
func stateRecords(topic, name string, gen uint64, snap []byte, chunkBytes, prevChunks int) ([]*kgo.Record, int) {
	n := max((len(snap)+chunkBytes-1)/chunkBytes, 1)
	recs := make([]*kgo.Record, 0, n+max(prevChunks-n, 0)+1)
	for i := range n {
		part := snap[min(i*chunkBytes, len(snap)):min((i+1)*chunkBytes, len(snap))]
		v := make([]byte, 8, 8+len(part))
		binary.BigEndian.PutUint64(v, gen)
		v = append(v, part...)
		recs = append(recs, &kgo.Record{Topic: topic, Partition: 0, Key: chunkKey(name, i), Value: v})
	}
	for i := n; i < prevChunks; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: 0, Key: chunkKey(name, i)}) // tombstone
	}
	sum := sha256.Sum256(snap)
	h, _ := json.Marshal(stateHeader{Format: stateFormat, Generation: gen, Chunks: n, Bytes: len(snap), SHA256: hex.EncodeToString(sum[:])})
	recs = append(recs, &kgo.Record{Topic: topic, Partition: 0, Key: []byte(name), Value: h})
	return recs, n
}

func chunkKey(name string, i int) []byte { return []byte(name + "/" + strconv.Itoa(i)) }

// stateReader gathers the records of the changelog read from its start:
// the last header of its name and the last value of each of its chunks.
type stateReader struct {
	name   string
	header []byte
	chunks map[int][]byte
}

func newStateReader(name string) *stateReader {
	return &stateReader{name: name, chunks: map[int][]byte{}}
}

// add takes one record of the changelog; records of other names are ignored.
func (s *stateReader) add(key, value []byte) {
	k := string(key)
	if k == s.name {
		s.header = value
		return
	}
	rest, ok := strings.CutPrefix(k, s.name+"/")
	if !ok {
		return
	}
	i, err := strconv.Atoi(rest)
	if err != nil || i < 0 {
		return
	}
	if value == nil {
		delete(s.chunks, i)
		return
	}
	s.chunks[i] = value
}

// errNoState is snapshot's answer when the changelog holds no state of the
// name (a first start).
var errNoState = errors.New("no state stored")

// snapshot assembles the current snapshot and returns it with its
// generation and chunk count. A header whose chunks are missing, of another
// generation or of another checksum is an error: the changelog was not
// written by a Runner, or was truncated.
func (s *stateReader) snapshot() ([]byte, uint64, int, error) {
	if s.header == nil {
		return nil, 0, 0, errNoState
	}
	var h stateHeader
	if err := json.Unmarshal(s.header, &h); err != nil {
		return nil, 0, 0, fmt.Errorf("decode state header %q: %w", s.name, err)
	}
	if h.Format != stateFormat {
		return nil, 0, 0, fmt.Errorf("state header %q: format %d, want %d", s.name, h.Format, stateFormat)
	}
	snap := make([]byte, 0, h.Bytes)
	for i := range h.Chunks {
		c, ok := s.chunks[i]
		if !ok || len(c) < 8 {
			return nil, 0, 0, fmt.Errorf("state %q generation %d: chunk %d missing", s.name, h.Generation, i)
		}
		if g := binary.BigEndian.Uint64(c); g != h.Generation {
			return nil, 0, 0, fmt.Errorf("state %q generation %d: chunk %d is of generation %d", s.name, h.Generation, i, g)
		}
		snap = append(snap, c[8:]...)
	}
	sum := sha256.Sum256(snap)
	if len(snap) != h.Bytes || hex.EncodeToString(sum[:]) != h.SHA256 {
		return nil, 0, 0, fmt.Errorf("state %q generation %d: checksum mismatch", s.name, h.Generation)
	}
	return snap, h.Generation, h.Chunks, nil
}
