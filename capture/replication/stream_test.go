package replication

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/capture/pgoutput"
)

// message builds a pgoutput logical message (protocol 1).
func message(lsn uint64, prefix, content string) []byte {
	b := []byte{'M', 0}
	b = binary.BigEndian.AppendUint64(b, lsn)
	b = append(b, prefix...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(len(content)))
	return append(b, content...)
}

func TestParseMessage(t *testing.T) {
	data := message(0x1_0000_0010, "cdcflow.slot", `{"slot":"s"}`)
	lsn, content, ok := parseMessage(data, "cdcflow.slot")
	if !ok || lsn != 0x1_0000_0010 || string(content) != `{"slot":"s"}` {
		t.Fatalf("parseMessage = %s, %q, %v", lsn, content, ok)
	}
	if _, _, ok := parseMessage(data, "cdcflow.heartbeat"); ok {
		t.Error("parseMessage matched another prefix")
	}
	for n := range len(data) - 1 {
		if _, _, ok := parseMessage(data[:n], "cdcflow.slot"); ok {
			t.Errorf("parseMessage(truncated to %d bytes) = ok", n)
		}
	}
}

func FuzzParseMessage(f *testing.F) {
	f.Add(message(1, "cdcflow.slot", "{}"), "cdcflow.slot")
	f.Add(message(1, "p", ""), "p")
	f.Add([]byte{'M'}, "")
	f.Fuzz(func(t *testing.T, data []byte, prefix string) {
		_, content, ok := parseMessage(data, prefix)
		if ok && len(content) > len(data) {
			t.Fatalf("content longer than the message")
		}
	})
}

func TestParsePGDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"60s", time.Minute, true},
		{"1min", time.Minute, true},
		{"500ms", 500 * time.Millisecond, true},
		{"2h", 2 * time.Hour, true},
		{"1d", 24 * time.Hour, true},
		{"0", 0, true},
		{"10", 10 * time.Millisecond, true},
		{"", 0, false},
		{"5 fortnights", 0, false},
	}
	for _, tt := range tests {
		got, err := parsePGDuration(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parsePGDuration(%q) = %v, %v; want %v (ok %v)", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestLastSwitchPoint(t *testing.T) {
	history := "1\t0/3000000\tno recovery target specified\n\n2\t0/5000A28\tat restore point \"x\"\n"
	got, err := lastSwitchPoint([]byte(history))
	if err != nil || got != 0x5000A28 {
		t.Fatalf("lastSwitchPoint = %s, %v; want 0/5000A28", got, err)
	}
	if _, err := lastSwitchPoint([]byte("# comment only\n")); err == nil {
		t.Error("lastSwitchPoint of a file without switch points succeeded")
	}
}

func TestConfirmNeverPassesWhatWasHandedOn(t *testing.T) {
	r, err := New(Config{DSN: "postgres://localhost/db", Tables: []string{"t"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.startSlot(100, true); got != 100 {
		t.Fatalf("startSlot = %d, want 100", got)
	}
	r.Confirm(1 << 40) // nothing handed on yet
	if got := r.Confirmed(); got != 100 {
		t.Fatalf("Confirmed = %d after confirming past everything handed on, want 100", got)
	}
	r.give([]capture.Message{&capture.Begin{}, &capture.Commit{EndLSN: 150}})
	r.Confirm(140)
	r.Confirm(120) // never backwards
	if got := r.Confirmed(); got != 140 {
		t.Fatalf("Confirmed = %d, want 140", got)
	}
	r.Confirm(1 << 40)
	if got := r.Confirmed(); got != 150 {
		t.Fatalf("Confirmed = %d, want 150", got)
	}
	// A reconnect resumes after what the handler finished, not what it was given.
	r.handled([]capture.Message{&capture.Marker{Kind: capture.MarkerHeartbeat, LSN: 130}})
	if got := r.startSlot(120, false); got != 130 {
		t.Fatalf("resume at %d, want 130", got)
	}
	// A slot confirmed further (by another process) wins.
	if got := r.startSlot(500, false); got != 500 || r.Confirmed() != 500 {
		t.Fatalf("resume at %d confirmed %d, want 500", got, r.Confirmed())
	}
}

func TestConfigValidate(t *testing.T) {
	base := Config{DSN: "x", Tables: []string{"t"}}
	tests := []struct {
		name string
		mod  func(*Config)
		ok   bool
	}{
		{"defaults", func(*Config) {}, true},
		{"no dsn", func(c *Config) { c.DSN = "" }, false},
		{"no tables", func(c *Config) { c.Tables = nil }, false},
		{"bad table", func(c *Config) { c.Tables = []string{"a b"} }, false},
		{"bad slot", func(c *Config) { c.Slot = "My-Slot" }, false},
		{"bad mode", func(c *Config) { c.SnapshotMode = "sometimes" }, false},
		{"negative timeout", func(c *Config) { c.SlotCreateTimeout = -1 }, false},
		{"backoff inverted", func(c *Config) { c.ReconnectMin, c.ReconnectMax = time.Minute, time.Second }, false},
	}
	for _, tt := range tests {
		c := base
		tt.mod(&c)
		if err := c.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

// pgoutput messages (protocol 1) for the streaming loop tests; the table has
// OID 1 and one int4 column.
func pgBegin(finalLSN uint64, xid uint32) []byte {
	b := binary.BigEndian.AppendUint64([]byte{'B'}, finalLSN)
	b = binary.BigEndian.AppendUint64(b, 0)
	return binary.BigEndian.AppendUint32(b, xid)
}

func pgCommit(commitLSN, endLSN uint64) []byte {
	b := binary.BigEndian.AppendUint64([]byte{'C', 0}, commitLSN)
	b = binary.BigEndian.AppendUint64(b, endLSN)
	return binary.BigEndian.AppendUint64(b, 0)
}

func pgRelation() []byte {
	b := binary.BigEndian.AppendUint32([]byte{'R'}, 1)
	b = append(b, "public\x00t\x00d"...)
	b = binary.BigEndian.AppendUint16(b, 1)
	b = append(b, 1)
	b = append(b, "id\x00"...)
	b = binary.BigEndian.AppendUint32(b, 23) // int4
	return binary.BigEndian.AppendUint32(b, 0xFFFFFFFF)
}

func pgInsert(id string) []byte {
	b := binary.BigEndian.AppendUint32([]byte{'I'}, 1)
	b = append(b, 'N')
	b = binary.BigEndian.AppendUint16(b, 1)
	b = append(b, 't')
	b = binary.BigEndian.AppendUint32(b, uint32(len(id)))
	return append(b, id...)
}

// loopTest runs a Reader's streaming loop on a fake connection inside a
// synctest bubble and records what the handler gets.
type loopTest struct {
	t    *testing.T
	r    *Reader
	conn *fakeConn
	stop context.CancelFunc
	done chan error

	mu      sync.Mutex
	handed  [][]capture.Message
	handedT []time.Time
	block   chan struct{} // when not nil, each handler call waits for a value
}

func startLoop(t *testing.T, cfg Config, interval time.Duration, block bool) *loopTest {
	ctx, cancel := context.WithCancel(t.Context())
	lt := &loopTest{t: t, r: newTestReader(t, cfg, 0x100), conn: newFakeConn(ctx), stop: cancel, done: make(chan error, 1)}
	if block {
		lt.block = make(chan struct{})
	}
	h := func(ctx context.Context, msgs []capture.Message) error {
		lt.mu.Lock()
		lt.handed, lt.handedT = append(lt.handed, msgs), append(lt.handedT, time.Now())
		lt.mu.Unlock()
		if lt.block != nil {
			select {
			case <-lt.block:
			case <-ctx.Done():
			}
		}
		return nil
	}
	dec := pgoutput.NewDecoder(pgoutput.Config{HeartbeatPrefix: lt.r.heartbeatPrefix()})
	go func() { lt.done <- lt.r.newStreamLoop(lt.conn, dec, interval).run(ctx, h) }()
	t.Cleanup(func() {
		lt.stop()
		if err := <-lt.done; !errors.Is(err, context.Canceled) {
			t.Errorf("run = %v; want context.Canceled after the stop", err)
		}
	})
	return lt
}

// send hands the loop one message and waits until it is idle again.
func (lt *loopTest) send(msgs ...*pgproto3.CopyData) {
	for _, m := range msgs {
		lt.conn.in <- m
	}
	synctest.Wait()
}

// chunks returns the sizes of the chunks handed on so far.
func (lt *loopTest) chunks() []int {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	var n []int
	for _, c := range lt.handed {
		n = append(n, len(c))
	}
	return n
}

// all returns every message handed on, in order.
func (lt *loopTest) all() []capture.Message {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	var all []capture.Message
	for _, c := range lt.handed {
		all = append(all, c...)
	}
	return all
}

func TestStreamLoopAnswersKeepaliveAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lt := startLoop(t, Config{}, 10*time.Second, false)
		synctest.Wait()
		start := time.Now()
		if n := len(lt.conn.sent()); n != 1 {
			t.Fatalf("%d status updates at the start; want 1", n)
		}
		lt.send(keepalive(0x500, false))
		if n := len(lt.conn.sent()); n != 1 {
			t.Fatalf("%d status updates after a keepalive without reply requested; want 1", n)
		}
		lt.send(keepalive(0x500, true))
		sent := lt.conn.sent()
		if len(sent) != 2 || !sent[1].at.Equal(start) {
			t.Fatalf("status updates %v; want a second one at once (%v)", sent, start)
		}
		if capture.LSN(sent[1].WALWritePosition) != 0x100 {
			t.Errorf("keepalive answered with %s; want the confirmed 0/100, never the server's WAL end", sent[1].WALWritePosition)
		}
	})
}

func TestStreamLoopStatusCarriesTheConfirmedWatermark(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lt := startLoop(t, Config{}, time.Second, false)
		lt.send(xlog(0x200, pgBegin(0x300, 7)), xlog(0x200, pgRelation()), xlog(0x210, pgInsert("1")),
			xlog(0x300, pgCommit(0x300, 0x310)))
		time.Sleep(3 * time.Second) // received and handed on, not confirmed
		synctest.Wait()
		if got := lt.chunks(); len(got) != 1 || got[0] != 3 {
			t.Fatalf("chunks handed on %v; want one of Begin, Change, Commit", got)
		}
		lt.send(keepalive(0x900, true))
		lt.r.Confirm(0x310)
		time.Sleep(confirmWake)
		synctest.Wait()
		sent := lt.conn.sent()
		if len(sent) < 5 {
			t.Fatalf("%d status updates in 3.1s at a 1s interval; want at least 5", len(sent))
		}
		for i, u := range sent {
			want := capture.LSN(0x100)
			if i == len(sent)-1 {
				want = 0x310 // the Confirm, within confirmWake
			}
			if u.WALWritePosition != u.WALFlushPosition || u.WALFlushPosition != u.WALApplyPosition || capture.LSN(u.WALWritePosition) != want {
				t.Errorf("update %d: write %s flush %s apply %s; want all %s", i, u.WALWritePosition, u.WALFlushPosition, u.WALApplyPosition, want)
			}
		}
	})
}

func TestStreamLoopLingerHandsOnAPartialChunk(t *testing.T) {
	tests := []struct {
		name  string
		msgs  []*pgproto3.CopyData
		after time.Duration
	}{
		{"inside a transaction: after ChunkLinger", []*pgproto3.CopyData{
			xlog(0x200, pgBegin(0x300, 7)), xlog(0x200, pgRelation()), xlog(0x210, pgInsert("1"))}, 20 * time.Millisecond},
		{"at a boundary, handler idle: after boundaryLinger", []*pgproto3.CopyData{
			xlog(0x200, pgBegin(0x300, 7)), xlog(0x200, pgRelation()), xlog(0x210, pgInsert("1")), xlog(0x300, pgCommit(0x300, 0x310))}, boundaryLinger},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				lt := startLoop(t, Config{ChunkLinger: 20 * time.Millisecond}, 10*time.Second, false)
				synctest.Wait()
				start := time.Now()
				lt.send(tt.msgs...)
				if got := lt.chunks(); len(got) != 0 {
					t.Fatalf("chunks %v handed on at once; want them to linger", got)
				}
				time.Sleep(tt.after)
				synctest.Wait()
				if got := lt.chunks(); len(got) != 1 || !lt.handedT[0].Equal(start.Add(tt.after)) {
					t.Fatalf("chunks %v at %v; want one at +%v", got, lt.handedT, tt.after)
				}
			})
		})
	}
}

func TestStreamLoopHandsOnAtTheSizeBound(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []int
	}{
		{"messages", Config{ChunkMessages: 3}, []int{3, 3}},
		{"bytes", Config{ChunkBytes: 2 * len(pgInsert("1"))}, []int{2, 2, 2}}, // Begin, Change; Change, Change; ...
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tt.cfg.ChunkLinger = time.Hour
				lt := startLoop(t, tt.cfg, 10*time.Second, false)
				lt.send(xlog(0x200, pgBegin(0x300, 7)), xlog(0x200, pgRelation()))
				for i := range 5 {
					lt.send(xlog(0x210+uint64(i), pgInsert(strconv.Itoa(i))))
				}
				// No time passed: only the size bound hands chunks on.
				if got := lt.chunks(); !slices.Equal(got, tt.want) {
					t.Errorf("chunks %v; want %v", got, tt.want)
				}
			})
		})
	}
}

func TestStreamLoopBlockedHandlerKeepsTheConnectionAlive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = time.Second
		lt := startLoop(t, Config{ChunkMessages: 2, ChunkLinger: time.Hour}, interval, true)
		var fed []string // Change ids in WAL order
		insert := func(id int) *pgproto3.CopyData {
			fed = append(fed, strconv.Itoa(id))
			return xlog(0x210+uint64(id), pgInsert(strconv.Itoa(id)))
		}
		lt.send(xlog(0x200, pgBegin(0x300, 7)), xlog(0x200, pgRelation()), insert(0)) // chunk 1: the handler blocks on it
		lt.send(insert(1), insert(2))                                                 // chunk 2: waits in the channel
		lt.send(insert(3))                                                            // gathering the next
		n := len(lt.conn.sent())
		lt.send(keepalive(0x900, true))
		if got := len(lt.conn.sent()); got != n+1 {
			t.Fatalf("keepalive with a busy handler: %d status updates, want %d (answered at once)", got, n+1)
		}
		lt.send(insert(4)) // chunk 3 is full: the loop stops reading the socket
		n = len(lt.conn.sent())
		time.Sleep(5 * interval)
		synctest.Wait()
		if got := len(lt.conn.sent()); got < n+5 {
			t.Fatalf("%d status updates in 5 intervals with the handler blocked; want at least 5", got-n)
		}
		for range 3 {
			lt.block <- struct{}{}
		}
		synctest.Wait()
		if got := lt.chunks(); !slices.Equal(got, []int{2, 2, 2}) {
			t.Fatalf("chunks %v; want [2 2 2]", got)
		}
		var ids []string
		for _, m := range lt.all() {
			if c, ok := m.(*capture.Change); ok {
				ids = append(ids, fmt.Sprint(c.New[0].Data))
			}
		}
		if !slices.Equal(ids, fed) {
			t.Errorf("changes handed on %v; want each of %v once, in order", ids, fed)
		}
	})
}

// TestStreamLoopProgressMarkers: with ProgressMarkers, a keepalive whose WAL
// end is past what was handed on becomes a MarkerProgress between
// transactions (at the keepalive's time), never inside one, never for a
// position already handed on; without the option, none.
func TestStreamLoopProgressMarkers(t *testing.T) {
	progress := func(msgs []capture.Message) []capture.LSN {
		var out []capture.LSN
		for _, m := range msgs {
			if mk, ok := m.(*capture.Marker); ok && mk.Kind == capture.MarkerProgress {
				if mk.Time.IsZero() {
					t.Errorf("progress marker at %s has no time", mk.LSN)
				}
				out = append(out, mk.LSN)
			}
		}
		return out
	}
	synctest.Test(t, func(t *testing.T) {
		lt := startLoop(t, Config{ProgressMarkers: true}, 10*time.Second, false)
		lt.send(xlog(0x200, pgBegin(0x300, 7)), xlog(0x200, pgRelation()), xlog(0x210, pgInsert("1")))
		lt.send(keepalive(0x280, false)) // inside the transaction: nothing
		lt.send(xlog(0x300, pgCommit(0x300, 0x310)))
		lt.send(keepalive(0x310, false)) // the commit's end: handed on already
		lt.send(keepalive(0x400, false)) // past it, between transactions
		lt.send(keepalive(0x400, false)) // the same again: nothing new
		time.Sleep(time.Second)
		synctest.Wait()
		all := lt.all()
		if got := progress(all); !slices.Equal(got, []capture.LSN{0x400}) {
			t.Fatalf("progress markers %v; want [0/400]", got)
		}
		if _, ok := all[len(all)-1].(*capture.Marker); !ok {
			t.Fatalf("last message %T; want the progress marker after the commit", all[len(all)-1])
		}
	})
	synctest.Test(t, func(t *testing.T) {
		lt := startLoop(t, Config{}, 10*time.Second, false)
		lt.send(keepalive(0x400, false))
		time.Sleep(time.Second)
		synctest.Wait()
		if got := progress(lt.all()); len(got) != 0 {
			t.Fatalf("progress markers %v without ProgressMarkers; want none", got)
		}
	})
}

// TestStreamLoopDeadlineStaysOnABusyStream sends many small transactions
// with no time passing: the read deadline is set for the chunk, not moved
// earlier and back with every commit and begin (each earlier move wakes the
// runtime's network poller), and the chunk still goes out at its boundary
// linger.
func TestStreamLoopDeadlineStaysOnABusyStream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lt := startLoop(t, Config{ChunkLinger: 20 * time.Millisecond}, 10*time.Second, false)
		lt.send(xlog(0x100, pgRelation()))
		synctest.Wait()
		start := time.Now()
		lt.conn.mu.Lock()
		before := lt.conn.deadlineSets
		lt.conn.mu.Unlock()
		const txs = 50
		for i := range uint64(txs) {
			lsn := 0x200 + 0x100*i
			lt.send(xlog(lsn, pgBegin(lsn+0x80, uint32(i))), xlog(lsn+0x10, pgInsert(strconv.Itoa(int(i)))), xlog(lsn+0x80, pgCommit(lsn+0x80, lsn+0x90)))
		}
		lt.conn.mu.Lock()
		sets := lt.conn.deadlineSets - before
		lt.conn.mu.Unlock()
		if sets > 2 {
			t.Errorf("%d read deadline changes for %d transactions in one chunk; want at most 2 (the chunk's linger, then its boundary)", sets, txs)
		}
		time.Sleep(boundaryLinger)
		synctest.Wait()
		if got := lt.chunks(); len(got) != 1 || got[0] != 3*txs || !lt.handedT[0].Equal(start.Add(boundaryLinger)) {
			t.Fatalf("chunks %v at %v; want one of %d messages at +%v", got, lt.handedT, 3*txs, boundaryLinger)
		}
	})
}
