package redisview

import (
	"cmp"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cdcflow/cdcflow/pipeline"
)

// ErrFenced is returned by Apply when the offset stored for the batch's
// partition is not the one the batch started from: another consumer (or an
// earlier life of this one) has moved the partition on, so this one must stop
// writing it and resume from the stored offset.
var ErrFenced = errors.New("partition offset moved: fenced")

// errConflict means an aggregate's stored position changed between the read
// and the script; Apply computes the batch again.
var errConflict = errors.New("aggregate position changed during apply")

// errGuessed means an event could not be projected on the state of an
// aggregate taken as new without reading it (cache.go); Apply computes the
// batch again from the states read.
var errGuessed = errors.New("event does not project on an aggregate guessed new")

//go:embed apply.lua
var applySource string

var applyScript = redis.NewScript(applySource)

// Config configures Views. The zero value of each field means its default.
type Config struct {
	// Prefix is put before every key (default ""; e.g. "cdcflow:").
	Prefix string
	// Generation is the generation the Views write (default 1).
	Generation int64
	// Upcast, if set, brings an event to its type's current version before it
	// is projected (cmd passes the mapping's Upcast), so views see only
	// current versions.
	Upcast func(pipeline.Event) (pipeline.Event, error)
	// OnPoison, if set, is called synchronously for an event that cannot be
	// projected; when it returns nil the event is skipped and the view goes on
	// (the consumer sends it to the dead-letter topic). When OnPoison is nil,
	// or returns an error, Apply fails and stores nothing (replay mode).
	OnPoison func(ctx context.Context, err *ProjectError, rec Record) error
	// DropChunk is how many aggregates one atomic step removes when a
	// snapshot end or a truncate drops aggregates (default 500).
	DropChunk int
	// MaxRetries bounds how often a batch is computed again after a conflict
	// (default 5).
	MaxRetries int
	// ChangesMaxLen caps each partition's change stream, in entries
	// (approximately: XADD MAXLEN ~; default DefaultChangesMaxLen).
	ChangesMaxLen int
	// Logger receives lifecycle messages; nil discards them.
	Logger *slog.Logger
	// Metrics, if not nil, records the views' metrics.
	Metrics *Metrics
	// Topics are the event topics the views are built from. A partition's
	// applied position is the lowest of these topics' in it, and nothing is
	// proven there until each of them has applied a step (progress records
	// reach every partition of every topic). Empty: the lowest of the topics
	// that have applied a step in the partition.
	Topics []string
}

// Validate checks c.
func (c Config) Validate() error {
	switch {
	case c.Generation < 0:
		return fmt.Errorf("generation %d: want 1 or more", c.Generation)
	case strings.ContainsAny(c.Prefix, "{}"):
		return fmt.Errorf("prefix %q: must not contain braces (they are the hash tag)", c.Prefix)
	case slices.Contains(c.Topics, ""):
		return errors.New("topics: an empty topic name")
	case c.DropChunk < 0 || c.MaxRetries < 0 || c.ChangesMaxLen < 0:
		return errors.New("drop chunk, max retries and changes max length must not be negative")
	}
	return nil
}

// Views applies batches of events to the Redis views of one generation.
// Apply is synchronous (it returns once the batch and its offset are stored)
// and safe for concurrent use on different partitions; batches of one
// partition must be applied one at a time, in order. Views owns no goroutine.
type Views struct {
	cfg    Config
	defs   *Definitions
	rdb    redis.UniversalClient
	keys   keys
	log    *slog.Logger
	newest *newestTimes // shared by copies of Views
	cache  *stateCache  // shared by copies of Views
	// fieldOrder is, by entity view, every field its rules set, sorted:
	// the order entity writes list their fields in; fieldArgs holds the
	// same names as script arguments, converted to any once.
	fieldOrder map[string][]string
	fieldArgs  map[string][]any
	// entityViews is, by aggregate type, its entity views.
	entityViews map[string][]*view
	// bufs recycles the argument slices of script calls between steps.
	bufs *sync.Pool
}

// New returns Views writing the views defs describes to rdb. It does not
// touch Redis; call Preflight first.
func New(cfg Config, defs *Definitions, rdb redis.UniversalClient) (*Views, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("views config: %w", err)
	}
	if defs == nil || rdb == nil {
		return nil, errors.New("views: definitions and redis client are required")
	}
	cfg.Generation = max(cfg.Generation, 1)
	if cfg.DropChunk == 0 {
		cfg.DropChunk = 500
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 5
	}
	if cfg.ChangesMaxLen == 0 {
		cfg.ChangesMaxLen = DefaultChangesMaxLen
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.Metrics.initAggregates(defs.AggregateTypes())
	order, fargs, ents := map[string][]string{}, map[string][]any{}, map[string][]*view{}
	for _, dv := range defs.views {
		if dv.kind != KindEntity {
			continue
		}
		set := map[string]bool{}
		for _, r := range dv.rules {
			for _, f := range r.fields {
				set[f.name] = true
			}
		}
		order[dv.name] = slices.Sorted(maps.Keys(set))
		fargs[dv.name] = toAny(order[dv.name])
		ents[dv.aggregate] = append(ents[dv.aggregate], dv)
	}
	return &Views{cfg: cfg, defs: defs, rdb: rdb, keys: newKeys(cfg.Prefix, cfg.Generation), newest: &newestTimes{}, cache: &stateCache{},
		fieldOrder: order, fieldArgs: fargs, entityViews: ents, bufs: &sync.Pool{},
		log: log.With("component", "views", "generation", cfg.Generation)}, nil
}

// Generation returns the generation v writes.
func (v *Views) Generation() int64 { return v.cfg.Generation }

// Preflight checks that Redis cannot evict the views' keys (maxmemory-policy
// noeviction, or volatile-* since views set no TTL) and loads the apply
// script. It blocks on Redis.
func (v *Views) Preflight(ctx context.Context) error {
	res, err := v.rdb.ConfigGet(ctx, "maxmemory-policy").Result()
	if err != nil {
		return fmt.Errorf("preflight: read maxmemory-policy: %w", err)
	}
	if p := res["maxmemory-policy"]; strings.HasPrefix(p, "allkeys-") {
		return fmt.Errorf("preflight: redis maxmemory-policy is %q, which evicts keys and would silently lose view data; set it to noeviction", p)
	}
	if err := applyScript.Load(ctx, v.rdb).Err(); err != nil {
		return fmt.Errorf("preflight: load apply script: %w", err)
	}
	return nil
}

// Record is one consumed Kafka record, decoded.
type Record struct {
	Offset int64
	Event  pipeline.Event
	// Err is set when the record could not be decoded: it is poison.
	Err error
	// Raw is the record as consumed (nil in tests that build events
	// directly); OnPoison sends it to the dead-letter topic.
	Raw *pipeline.Record
}

// Batch is consecutive records of one partition of one topic.
type Batch struct {
	Topic     string
	Partition int32
	// From is the offset stored for the partition when the batch was read:
	// the next offset the consumer expected to apply, or -1 when none was
	// stored. The batch is applied only if it is still stored (zombie fencing).
	From int64
	// Records in offset order.
	Records []Record
	// Next, when above the offset after the last record, is the offset the
	// batch moves the stored offset to: records the consumer does not apply
	// follow (a transaction's commit or abort marker, which takes an
	// offset). 0 means the offset after the last record.
	Next int64
}

// Offsets returns the next offsets to apply stored for the partitions of
// topic; a partition with none stored is absent.
func (v *Views) Offsets(ctx context.Context, topic string, partitions []int32) (map[int32]int64, error) {
	return readOffsets(ctx, v.rdb, v.keys, topic, partitions)
}

// StoredOffsets returns the next offsets to apply that generation gen of
// the views under prefix stores for the partitions of topic (a partition
// with none stored is absent): what the views have applied, read without
// building Views (`cdcflow status`). It blocks on Redis.
func StoredOffsets(ctx context.Context, rdb redis.UniversalClient, prefix string, gen int64, topic string, partitions []int32) (map[int32]int64, error) {
	return readOffsets(ctx, rdb, newKeys(prefix, gen), topic, partitions)
}

func readOffsets(ctx context.Context, rdb redis.UniversalClient, k keys, topic string, partitions []int32) (map[int32]int64, error) {
	out := map[int32]int64{}
	for _, p := range partitions {
		s, err := rdb.HGet(ctx, k.offsets(p), topic).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read offset of %s[%d]: %w", topic, p, err)
		}
		o, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("read offset of %s[%d]: %q is not an offset", topic, p, s)
		}
		out[p] = o
	}
	return out, nil
}

// Apply applies b: each run of events between control records is one atomic
// step that checks and advances the partition's stored offset, so an error
// leaves the stored offset at the last step that succeeded, never past an
// event that is not applied. It returns ErrFenced when the stored offset is
// not b.From (or a later step's start), a *ProjectError for a poison event
// that OnPoison did not take, and otherwise Redis errors. It blocks on Redis.
func (v *Views) Apply(ctx context.Context, b Batch) error {
	start := time.Now()
	defer func() { v.cfg.Metrics.observeApply(time.Since(start)) }()
	from := b.From
	recs := b.Records
	for len(recs) > 0 {
		// Progress records travel with the events: they change no view,
		// only the applied position (applied.go).
		n := slices.IndexFunc(recs, func(r Record) bool {
			return r.Err == nil && r.Event.Control != pipeline.NotControl && r.Event.Control != pipeline.ControlProgress
		})
		switch {
		case n == 0:
			v.cache.drop(b.Partition)
			if err := v.control(ctx, b.Topic, b.Partition, from, recs[0]); err != nil {
				return err
			}
			n = 1
		case n < 0:
			n = len(recs)
			fallthrough
		default:
			// The last run of events also moves the offset past the
			// markers that follow it: no extra step.
			to := recs[n-1].Offset + 1
			if n == len(recs) {
				to = max(to, b.Next)
			}
			if err := v.applyEvents(ctx, b.Topic, b.Partition, from, recs[:n], to); err != nil {
				return err
			}
			from = to
			recs = recs[n:]
			continue
		}
		from = recs[n-1].Offset + 1
		recs = recs[n:]
	}
	if b.Next > 0 && (from < 0 || b.Next > from) {
		// Only markers, or markers after a control record: a step that
		// moves the offset alone.
		v.cache.drop(b.Partition)
		if err := v.run(ctx, v.newStep(b.Partition), b.Topic, from, b.Next); err != nil {
			return err
		}
	}
	return nil
}

// step is one atomic script call being built for partition p.
type step struct {
	p      int32
	keys   []string
	keyIdx map[string]int
	// checks are grouped by hash, one HMGET each in the script, in the
	// order of each hash's first check.
	checks   []checkGroup
	checkIdx map[string]int
	nCheck   int
	ops      []any
	// sets holds merged writes (HSET of one field per aggregate, ZADD and
	// ZREM of one member per aggregate) by command and key until flush
	// makes each one command (see merge).
	sets map[[2]string][]any
	track
}

// checkGroup is the checks of one hash: fields and the values wanted.
type checkGroup struct {
	key           int
	fields, wants []any
}

// maxMerged bounds the arguments of one merged command (and the fields of
// one check group): Lua's unpack is limited to about 8000 values.
const maxMerged = 1024

func (v *Views) newStep(p int32) *step {
	offsets := v.keys.offsets(p)
	return &step{p: p, keys: []string{offsets}, keyIdx: map[string]int{offsets: 1}}
}

func (s *step) key(k string) int {
	if i, ok := s.keyIdx[k]; ok {
		return i
	}
	s.keys = append(s.keys, k)
	s.keyIdx[k] = len(s.keys)
	return len(s.keys)
}

// check makes the script fail with a conflict unless hash field is want
// ("" = absent).
func (s *step) check(hash, field, want string) {
	if s.checkIdx == nil {
		s.checkIdx = map[string]int{}
	}
	g, ok := s.checkIdx[hash]
	if !ok || len(s.checks[g].fields) >= maxMerged {
		s.checks = append(s.checks, checkGroup{key: s.key(hash)})
		g = len(s.checks) - 1
		s.checkIdx[hash] = g
	}
	s.checks[g].fields = append(s.checks[g].fields, field)
	s.checks[g].wants = append(s.checks[g].wants, want)
	s.nCheck++
}

func (s *step) op(name, key string, args ...any) {
	s.ops = append(s.ops, name, s.key(key), len(args))
	s.ops = append(s.ops, args...)
}

// merge adds args to the one command name (HSET, ZADD or ZREM) of key that
// flush writes. The caller guarantees that the merged writes commute with
// each other and that nothing else in the step writes key: they are the
// position guards of distinct aggregates, and the index entries of distinct
// members.
func (s *step) merge(name, key string, args ...any) {
	if s.sets == nil {
		s.sets = map[[2]string][]any{}
	}
	k := [2]string{name, key}
	s.sets[k] = append(s.sets[k], args...)
}

// flush writes the merged commands, in the order of their keys, each in
// slices of at most maxMerged arguments.
func (s *step) flush() {
	for _, k := range slices.SortedFunc(maps.Keys(s.sets), func(a, b [2]string) int {
		return cmp.Or(strings.Compare(a[1], b[1]), strings.Compare(a[0], b[0]))
	}) {
		args := s.sets[k]
		for len(args) > 0 {
			n := min(len(args), maxMerged)
			s.op(k[0], k[1], args[:n]...)
			args = args[n:]
		}
	}
	clear(s.sets)
}

// appendCheckArgs appends the script arguments of the checks to out.
func (s *step) appendCheckArgs(out []any) []any {
	for _, g := range s.checks {
		out = append(out, g.key, len(g.fields))
		out = append(out, g.fields...)
		out = append(out, g.wants...)
	}
	return out
}

// buffer returns an empty argument slice with room for n arguments,
// recycled from an earlier step when one is big enough.
func (v *Views) buffer(n int) []any {
	if b, ok := v.bufs.Get().(*[]any); ok && cap(*b) >= n {
		return (*b)[:0]
	}
	return make([]any, 0, n)
}

// recycle hands b back for a later step's buffer; the caller no longer uses
// it. Its arguments are cleared so that the pool holds no strings alive.
func (v *Views) recycle(b []any) {
	clear(b)
	b = b[:0]
	v.bufs.Put(&b)
}

// run executes the step, moving the stored offset of topic from from to to,
// with the applied position and change stream entry (applied.go).
func (v *Views) run(ctx context.Context, s *step, topic string, from, to int64) error {
	s.flush()
	v.finish(s, topic, to)
	expect := ""
	if from >= 0 {
		expect = strconv.FormatInt(from, 10)
	}
	// The command is built here in one slice, keys and arguments, and sent
	// with Do: Script.Run would copy every argument into a slice of its own.
	args := v.buffer(7 + len(s.keys) + 2*len(s.checks) + 2*s.nCheck + len(s.ops))
	args = append(args, "evalsha", applyScript.Hash(), len(s.keys))
	for _, k := range s.keys {
		args = append(args, k)
	}
	args = append(args, topic, expect, strconv.FormatInt(to, 10), len(s.checks))
	args = s.appendCheckArgs(args)
	args = append(args, s.ops...)
	res, err := v.rdb.Do(ctx, args...).StringSlice()
	if redis.HasErrorPrefix(err, "NOSCRIPT") {
		// Not loaded (a restarted or failed-over Redis): EVAL loads it.
		args[0], args[1] = "eval", applySource
		res, err = v.rdb.Do(ctx, args...).StringSlice()
	}
	v.recycle(args)
	if err != nil {
		return fmt.Errorf("run apply script: %w", err)
	}
	switch res[0] {
	case "OK":
		if s.lsn > 0 {
			v.cfg.Metrics.setApplied(s.p, s.at)
		}
		return nil
	case "FENCED":
		return fmt.Errorf("apply %s from offset %d: stored offset is %q: %w", topic, from, res[1], ErrFenced)
	case "CONFLICT":
		return errConflict
	}
	return fmt.Errorf("run apply script: unexpected reply %q", res)
}

// cachedStates returns the stored state of the aggregates ids of type agg,
// from pc where it has them (nil pc: none) and read from Redis otherwise, or
// taken as new without a read once pc has learnt that the partition's
// uncached aggregates are (see cache.go; the script checks the guess).
func (v *Views) cachedStates(ctx context.Context, pc *partCache, p int32, agg string, ids []string) (map[string]*aggState, uint64, error) {
	if pc == nil {
		return v.readStates(ctx, p, agg, ids)
	}
	snap, snapOK := pc.snap[agg]
	out := make(map[string]*aggState, len(ids))
	var missing []string
	for _, id := range ids {
		if st := pc.get(agg, id); st != nil && snapOK {
			out[id] = st
		} else {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return out, snap, nil
	}
	if snapOK && pc.fresh >= guessAfter {
		for _, id := range missing {
			out[id] = &aggState{entities: map[string]map[string]string{}, guessed: true}
		}
		pc.guessed = true
		return out, snap, nil
	}
	read, snap, err := v.readStates(ctx, p, agg, missing)
	if err != nil {
		return nil, 0, err
	}
	fresh := true
	for id, st := range read {
		out[id] = st
		fresh = fresh && !st.present
	}
	if fresh {
		pc.fresh++
	} else {
		pc.fresh = 0
	}
	return out, snap, nil
}

// readStates reads the stored state of the aggregates ids of type agg: their
// position guards first, then the entity hashes of those that have one. An
// aggregate without a position guard has no entity (every step that writes
// an entity writes its guard, and a guard is removed only as a tombstone,
// when nothing is left), so a new aggregate costs no read of its entities;
// the script's check of the guard keeps that true at the moment of the
// write.
func (v *Views) readStates(ctx context.Context, p int32, agg string, ids []string) (map[string]*aggState, uint64, error) {
	pipe := v.rdb.Pipeline()
	posCmd := pipe.HMGet(ctx, v.keys.pos(p, agg), ids...)
	snapCmd := pipe.Get(ctx, v.keys.snap(p, agg))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, 0, fmt.Errorf("read positions of %d %s aggregates: %w", len(ids), agg, err)
	}
	var snap uint64
	if s, err := snapCmd.Result(); err == nil {
		if snap, err = strconv.ParseUint(s, 10, 64); err != nil {
			return nil, 0, fmt.Errorf("read snapshot epoch: %q is not an epoch", s)
		}
	}
	out := make(map[string]*aggState, len(ids))
	var present []string
	for i, id := range ids {
		st := &aggState{entities: map[string]map[string]string{}}
		if s, ok := posCmd.Val()[i].(string); ok {
			pos, seen, deleted, err := parsePosValue(s)
			if err != nil {
				return nil, 0, fmt.Errorf("aggregate %s %q: %w", agg, id, err)
			}
			st.pos, st.seen, st.deleted, st.present = pos, seen, deleted, true
			present = append(present, id)
		}
		out[id] = st
	}
	ents := v.entityViews[agg]
	if len(present) == 0 || len(ents) == 0 {
		return out, snap, nil
	}
	// The guards again with the entities, in one MULTI: another writer's
	// step between the two reads must not pair an old guard with newer
	// entities (or none), which would make a sound event look poison.
	// The partition's keys share one hash tag, so this is one Cluster slot.
	pipe = v.rdb.TxPipeline()
	posCmd = pipe.HMGet(ctx, v.keys.pos(p, agg), present...)
	entCmds := make([][]*redis.MapStringStringCmd, len(present))
	for i, id := range present {
		for _, e := range ents {
			entCmds[i] = append(entCmds[i], pipe.HGetAll(ctx, v.keys.item(p, e.name, id)))
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, 0, fmt.Errorf("read state of %d %s aggregates: %w", len(present), agg, err)
	}
	for i, id := range present {
		st := &aggState{entities: map[string]map[string]string{}}
		if s, ok := posCmd.Val()[i].(string); ok {
			pos, seen, deleted, err := parsePosValue(s)
			if err != nil {
				return nil, 0, fmt.Errorf("aggregate %s %q: %w", agg, id, err)
			}
			st.pos, st.seen, st.deleted, st.present = pos, seen, deleted, true
		}
		for j, e := range ents {
			if m := entCmds[i][j].Val(); len(m) > 0 {
				st.entities[e.name] = m
			}
		}
		out[id] = st
	}
	return out, snap, nil
}

// gone reports whether an aggregate of type agg whose entity states are ents
// has no key left in any view: no entity, and no history view following agg
// (histories are kept after a delete). Its position is then a tombstone.
func (v *Views) gone(agg string, ents map[string]map[string]string) bool {
	for _, w := range v.defs.views {
		if w.aggregate != agg {
			continue
		}
		if w.kind == KindHistory || w.kind == KindEntity && len(ents[w.name]) > 0 {
			return false
		}
	}
	return true
}

// applyEvents applies records that are all events (no control records) in
// one atomic step that moves the stored offset from from to to, computing it
// again after a conflict.
func (v *Views) applyEvents(ctx context.Context, topic string, p int32, from int64, recs []Record, to int64) error {
	evs := make([]pipeline.Event, len(recs))
	poisoned := make([]bool, len(recs))
	for i, r := range recs {
		ev := r.Event
		if r.Err == nil && ev.Control == pipeline.ControlProgress {
			poisoned[i] = true // nothing to project (applied.go)
			continue
		}
		if r.Err != nil {
			if err := v.poison(ctx, &ProjectError{Offset: r.Offset, Err: r.Err}, r); err != nil {
				return err
			}
			poisoned[i] = true
			continue
		}
		if v.cfg.Upcast != nil {
			up, err := v.cfg.Upcast(ev)
			if err != nil {
				if err := v.poison(ctx, &ProjectError{Offset: r.Offset, EventID: ev.ID, Err: fmt.Errorf("upcast: %w", err)}, r); err != nil {
					return err
				}
				poisoned[i] = true
				continue
			}
			ev = up
		}
		if ev.AggregateType == "" || ev.AggregateID == "" {
			if err := v.poison(ctx, &ProjectError{Offset: r.Offset, EventID: ev.ID, Err: errors.New("event has no aggregate type or id")}, r); err != nil {
				return err
			}
			poisoned[i] = true
		}
		evs[i] = ev
	}
	var proof uint64
	var proofAt time.Time
	for _, r := range recs {
		if r.Err != nil {
			continue
		}
		if lsn, ok := proves(r.Event); ok && lsn > proof {
			proof, proofAt = lsn, r.Event.Time
		}
	}
	pc := v.cache.take(p, topic, from)
	// Not a backoff loop: a conflict means another writer moved the stored
	// offset between compute and run (optimistic compare-and-set), and the
	// batch is recomputed at once from what Redis now holds; waiting would
	// only add latency. Infrastructure errors are returned, and the consumer
	// pauses (Consumer.pause).
	for attempt := 0; ; attempt++ {
		if pc != nil {
			pc.guessed = false
		}
		s, applied, last, upd, err := v.compute(ctx, topic, p, recs, evs, poisoned, pc)
		if errors.Is(err, errGuessed) {
			// Read the states this time, and guess no more until reads
			// find only new aggregates again. Nothing was written.
			pc.fresh = 0
			attempt--
			continue
		}
		if err != nil {
			v.cache.drop(p)
			return err
		}
		s.prove(proof, proofAt)
		err = v.run(ctx, s, topic, from, to)
		v.recycle(s.ops)
		s.ops = nil
		if errors.Is(err, errConflict) && attempt < v.cfg.MaxRetries {
			if pc == nil || !pc.guessed {
				// A wrong guess of new aggregates (cache.go) is not another
				// writer's conflict.
				v.cfg.Metrics.addConflict()
			}
			v.cache.drop(p)
			pc = nil // read everything again
			continue
		}
		if err != nil {
			v.cache.drop(p)
			return err
		}
		if pc != nil {
			for _, u := range upd {
				pc.put(u.agg, u.snap, u.states)
			}
			pc.next = to
		}
		for name, n := range applied {
			v.cfg.Metrics.addApplied(name, n)
		}
		v.cfg.Metrics.setLastEvent(p, last)
		v.newest.observe(p, last)
		return nil
	}
}

func (v *Views) poison(ctx context.Context, perr *ProjectError, rec Record) error {
	if v.cfg.OnPoison == nil {
		return perr
	}
	if err := v.cfg.OnPoison(ctx, perr, rec); err != nil {
		return fmt.Errorf("handle poison event: %w", err)
	}
	return nil
}

// stateUpdate is the state of aggregates of one type once a step is stored.
type stateUpdate struct {
	agg    string
	snap   uint64
	states map[string]*aggState
}

// compute reads the batch's aggregates (from pc where cached) and builds the
// atomic step, and the states the aggregates have once it is stored. Events
// that turn out to be poison are handed to OnPoison and marked in poisoned,
// so that a retry does not hand them over twice.
func (v *Views) compute(ctx context.Context, topic string, p int32, recs []Record, evs []pipeline.Event, poisoned []bool, pc *partCache) (*step, map[string]int, time.Time, []stateUpdate, error) {
	byType := map[string][]string{}
	seen := make(map[[2]string]bool, len(evs))
	for i, ev := range evs {
		k := [2]string{ev.AggregateType, ev.AggregateID}
		if !poisoned[i] && !seen[k] {
			seen[k] = true
			byType[ev.AggregateType] = append(byType[ev.AggregateType], ev.AggregateID)
		}
	}
	s := v.newStep(p)
	// Sized for what a batch usually needs (about 25 write arguments and 3
	// keys per event), so that they are not grown again and again.
	s.ops = v.buffer(25 * len(recs))
	s.keys = slices.Grow(s.keys, 3*len(recs))
	s.keyIdx = make(map[string]int, 3*len(recs))
	s.keyIdx[s.keys[0]] = 1
	s.hint = len(recs)
	applied := map[string]int{}
	var last time.Time
	var upd []stateUpdate
	for _, agg := range slices.Sorted(maps.Keys(byType)) {
		ids := byType[agg]
		states, snap, err := v.cachedStates(ctx, pc, p, agg, ids)
		if err != nil {
			return nil, nil, last, nil, err
		}
		after := make(map[string]*aggState, len(ids))
		folds := make(map[string]*foldResult, len(ids))
		for _, id := range ids {
			st := states[id]
			// fold replaces final, never changes it: no copy needed.
			folds[id] = &foldResult{final: st.entities, pos: st.pos, seen: st.seen}
			if st.derived != nil {
				folds[id].derived, folds[id].derivedFrom = st.derived, st.entities
			}
		}
		for i, ev := range evs {
			if poisoned[i] || ev.AggregateType != agg {
				continue
			}
			ok, err := v.defs.fold(folds[ev.AggregateID], ev, snap)
			if err != nil && states[ev.AggregateID].guessed {
				return nil, nil, last, nil, errGuessed
			}
			if err != nil {
				if err := v.poison(ctx, &ProjectError{Offset: recs[i].Offset, EventID: ev.ID, Err: err}, recs[i]); err != nil {
					return nil, nil, last, nil, err
				}
				poisoned[i] = true
				continue
			}
			if !ok {
				v.cfg.Metrics.addSkipped(agg)
				continue
			}
			last = ev.Time
		}
		deltas := map[deltaKey]int64{}
		for _, id := range ids {
			f, st := folds[id], states[id]
			posKey := v.keys.pos(p, agg)
			s.check(posKey, id, st.posValue())
			after[id] = st
			if !f.touched {
				continue
			}
			if err := v.writeAggregate(s, p, agg, id, st.entities, f.final, st.derived, f.derived, deltas, applied); err != nil {
				// The old state no longer derives (definitions changed
				// under a live generation): a rebuild is needed.
				return nil, nil, last, nil, fmt.Errorf("aggregate %s %q: %w", agg, id, err)
			}
			for name, entries := range f.history {
				hv := v.defs.byName[name]
				key := v.keys.item(p, name, id)
				s.touch(name, id)
				s.op("RPUSH", key, toAny(entries)...)
				if hv.max > 0 {
					s.op("LTRIM", key, -hv.max, -1)
				}
			}
			ns := &aggState{pos: f.pos, seen: f.seen, present: true, derived: f.derived}
			if v.gone(agg, f.final) {
				ns.deleted = tombstoneTime(f.time)
			}
			s.merge("HSET", posKey, id, ns.posValue())
			ns.entities = make(map[string]map[string]string, len(f.final))
			for name, m := range f.final {
				if len(m) > 0 {
					ns.entities[name] = m
				}
			}
			after[id] = ns
			for name, n := range f.applied {
				applied[name] += n
			}
		}
		v.flushDeltas(s, deltas)
		upd = append(upd, stateUpdate{agg: agg, snap: snap, states: after})
	}
	v.syncTops(s, p)
	return s, applied, last, upd, nil
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// writeAggregate adds the writes that move one aggregate from the entity
// states old to new: its entity hashes, its index entries and its aggregate
// deltas (accumulated in deltas by hash key and field). before and after,
// if not nil, are what old and new derive to (computed already). Each index or aggregate
// view whose entry for the aggregate moved counts once in applied, when
// applied is not nil.
func (v *Views) writeAggregate(s *step, p int32, agg, id string, old, new map[string]map[string]string, before, after derived, deltas map[deltaKey]int64, applied map[string]int) error {
	for _, e := range v.entityViews[agg] {
		o, n := old[e.name], new[e.name]
		if maps.Equal(o, n) && (o == nil) == (n == nil) {
			continue
		}
		key := v.keys.item(p, e.name, id)
		s.touch(e.name, id)
		if len(n) == 0 {
			if len(o) > 0 {
				s.op("DEL", key)
			}
			continue
		}
		// Only what changed: fields gone are deleted, new or changed ones
		// set (all of them for a new entity).
		var gone []any
		for f := range o {
			if _, ok := n[f]; !ok {
				gone = append(gone, f)
			}
		}
		if len(gone) > 0 {
			slices.SortFunc(gone, func(a, b any) int { return strings.Compare(a.(string), b.(string)) })
			s.op("HDEL", key, gone...)
		}
		// The fields in the rules' sorted order, without sorting n's keys
		// each time; a field no rule sets (stored under older definitions)
		// makes it sort them after all.
		args := make([]any, 0, 2*len(n))
		seen := 0
		fargs := v.fieldArgs[e.name]
		for i, f := range v.fieldOrder[e.name] {
			nv, ok := n[f]
			if !ok {
				continue
			}
			seen++
			if ov, ok := o[f]; !ok || ov != nv {
				args = append(args, fargs[i], nv)
			}
		}
		if seen != len(n) {
			args = args[:0]
			for _, f := range slices.Sorted(maps.Keys(n)) {
				if ov, ok := o[f]; !ok || ov != n[f] {
					args = append(args, f, n[f])
				}
			}
		}
		if len(args) > 0 {
			s.op("HSET", key, args...)
		}
	}
	for _, dv := range v.defs.views {
		if dv.aggregate != agg || dv.kind != KindIndex && dv.kind != KindAggregate {
			continue
		}
		o, n := old[dv.entity.name], new[dv.entity.name]
		if dv.refs.same(o, n) {
			continue // what it reads did not change: neither did its entry
		}
		b, ok := before[dv.name]
		if !ok {
			var err error
			if b, err = v.defs.derive(dv, o); err != nil {
				return err
			}
		}
		a, ok := after[dv.name]
		if !ok {
			var err error
			if a, err = v.defs.derive(dv, n); err != nil {
				return err
			}
		}
		if a.equal(b) {
			continue
		}
		if applied != nil {
			applied[dv.name]++
		}
		switch dv.kind {
		case KindIndex:
			s.touch(dv.name, id)
			if b.in && (!a.in || a.key != b.key) {
				s.merge("ZREM", v.indexKey(p, dv, b.key), id)
			}
			if a.in && (!b.in || a.key != b.key || a.score != b.score) {
				s.merge("ZADD", v.indexKey(p, dv, a.key), strconv.FormatFloat(a.score, 'g', -1, 64), id)
			}
		case KindAggregate:
			if b.in {
				s.touchGroup(dv, b.key)
				deltas[deltaKey{dv, -1, b.key}]--
				for i := range dv.sums {
					deltas[deltaKey{dv, i, b.key}] -= b.sums[i]
				}
			}
			if a.in {
				s.touchGroup(dv, a.key)
				deltas[deltaKey{dv, -1, a.key}]++
				for i := range dv.sums {
					deltas[deltaKey{dv, i, a.key}] += a.sums[i]
				}
			}
		}
	}
	return nil
}

func (v *Views) indexKey(p int32, dv *view, key string) string {
	if dv.key == nil {
		return v.keys.whole(p, dv.name)
	}
	return v.keys.item(p, dv.name, key)
}

// deltaKey is one field of an aggregate view's hash: the count (sum -1) or
// sum number sum of group in view dv. The hash's key and the field's name
// are built once per step, when the deltas are written, not once per event.
type deltaKey struct {
	dv    *view
	sum   int
	group string
}

func (k deltaKey) field() string {
	if k.sum < 0 {
		return "count:" + k.group
	}
	return "sum:" + k.dv.sums[k.sum].name + ":" + k.group
}

// flushDeltas writes the deltas that are not 0, in the order of their hash
// and field.
func (v *Views) flushDeltas(s *step, deltas map[deltaKey]int64) {
	type write struct {
		hash, field string
		d           int64
	}
	ws := make([]write, 0, len(deltas))
	hashes := map[*view]string{}
	for k, d := range deltas {
		if d == 0 {
			continue
		}
		h, ok := hashes[k.dv]
		if !ok {
			h = v.keys.whole(s.p, k.dv.name)
			hashes[k.dv] = h
		}
		ws = append(ws, write{h, k.field(), d})
	}
	slices.SortFunc(ws, func(a, b write) int {
		return cmp.Or(strings.Compare(a.hash, b.hash), strings.Compare(a.field, b.field))
	})
	for _, w := range ws {
		s.op("HINCRBY0", w.hash, w.field, w.d)
	}
}
