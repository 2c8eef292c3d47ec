package redisview

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"github.com/cdcflow/cdcflow/pipeline/decimal"
)

// Reader reads the views for the query side, merging what is kept per Kafka
// partition. It is safe for concurrent use and holds no state besides its
// configuration and the last Snapshot At returned (immutable, shared).
type Reader struct {
	defs       *Definitions
	rdb        redis.UniversalClient
	prefix     string
	partitions int32
	last       atomic.Pointer[Snapshot]
}

// NewReader returns a Reader of the views defs describes under prefix, kept
// over partitions Kafka partitions (the event topics' partition count).
func NewReader(defs *Definitions, rdb redis.UniversalClient, prefix string, partitions int) (*Reader, error) {
	if defs == nil || rdb == nil || partitions < 1 {
		return nil, errors.New("new reader: definitions, redis client and a partition count of 1 or more are required")
	}
	return &Reader{defs: defs, rdb: rdb, prefix: prefix, partitions: int32(partitions)}, nil
}

// Snapshot reads one generation: every read through it sees the same
// generation, whatever swaps happen meanwhile (until that generation is
// deleted after its grace period).
type Snapshot struct {
	r    *Reader
	keys keys
}

// Current resolves the generation pointer once and returns a Snapshot of it.
// It blocks on Redis.
func (r *Reader) Current(ctx context.Context) (*Snapshot, error) {
	g, err := CurrentGeneration(ctx, r.rdb, r.prefix)
	if err != nil {
		return nil, err
	}
	if g == 0 {
		return nil, errors.New("read views: no generation has been swapped in yet")
	}
	return r.At(g), nil
}

// At returns a Snapshot of generation gen. Snapshots are immutable: the
// last one is kept and returned again for the same generation, with the key
// prefixes of its partitions built once.
func (r *Reader) At(gen int64) *Snapshot {
	if s := r.last.Load(); s != nil && s.keys.gen == gen {
		return s
	}
	k := keys{prefix: r.prefix, gen: gen}
	if r.partitions <= 256 {
		bases := make([]string, r.partitions)
		for p := range r.partitions {
			bases[p] = k.base(p) // k.bases is still nil: built from the prefix
		}
		k.bases = bases
	}
	s := &Snapshot{r: r, keys: k}
	r.last.Store(s)
	return s
}

// Generation returns the snapshot's generation.
func (s *Snapshot) Generation() int64 { return s.keys.gen }

// Entity returns the fields of aggregate id in the entity view, or nil when
// there is none. It looks in every partition, so it does not depend on the
// producer's partitioner.
func (s *Snapshot) Entity(ctx context.Context, view, id string) (map[string]string, error) {
	if _, err := s.r.defs.view(view, KindEntity); err != nil {
		return nil, err
	}
	pipe := s.r.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, s.r.partitions)
	for p := range s.r.partitions {
		cmds[p] = pipe.HGetAll(ctx, s.keys.item(p, view, id))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("read %s %q: %w", view, id, err)
	}
	for _, c := range cmds {
		if m := c.Val(); len(m) > 0 {
			return m, nil
		}
	}
	return nil, nil
}

// IndexEntry is one member of an index view.
type IndexEntry struct {
	ID    string
	Score float64
}

// Index returns up to limit members of the index view (of the set for key,
// for a keyed index; "" otherwise) in ascending score order (ties by id),
// merged over the partitions; limit <= 0 returns all.
func (s *Snapshot) Index(ctx context.Context, view, key string, limit int) ([]IndexEntry, error) {
	v, err := s.r.defs.view(view, KindIndex)
	if err != nil {
		return nil, err
	}
	stop := int64(-1)
	if limit > 0 {
		stop = int64(limit - 1)
	}
	pipe := s.r.rdb.Pipeline()
	cmds := make([]*redis.ZSliceCmd, s.r.partitions)
	for p := range s.r.partitions {
		k := s.keys.whole(p, view)
		if v.key != nil {
			k = s.keys.item(p, view, key)
		}
		cmds[p] = pipe.ZRangeWithScores(ctx, k, 0, stop)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read index %s: %w", view, err)
	}
	var out []IndexEntry
	for _, c := range cmds {
		for _, z := range c.Val() {
			out = append(out, IndexEntry{ID: z.Member.(string), Score: z.Score})
		}
	}
	slices.SortFunc(out, func(a, b IndexEntry) int {
		return cmp.Or(cmp.Compare(a.Score, b.Score), strings.Compare(a.ID, b.ID))
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// groupParts returns the parts of group key g of v by name, or nil when v
// groups by a plain key.
func (v *view) groupParts(g string) (map[string]string, error) {
	if len(v.parts) == 0 {
		return nil, nil
	}
	vals, err := splitGroupKey(g, len(v.parts))
	if err != nil {
		return nil, err
	}
	parts := make(map[string]string, len(vals))
	for i, gp := range v.parts {
		parts[gp.name] = vals[i]
	}
	return parts, nil
}

// Group is one group of an aggregate view: how many entities it holds and the
// exact sums, at the scales the view declares.
type Group struct {
	Count int64
	Sums  map[string]decimal.Decimal
	// Parts is, for a view with a composite group, each part's value by the
	// part's name ("day": "2026-11-23", "currency": "EUR"); nil for a plain
	// group.
	Parts map[string]string
}

// Aggregate returns the groups of the aggregate view by group key, summed
// over the partitions. A group whose count is zero is absent. A plain
// group's key is its value; a composite group's key is GroupKey of its parts'
// values in the view's order, and Group.Parts has them by name.
func (s *Snapshot) Aggregate(ctx context.Context, view string) (map[string]Group, error) {
	v, err := s.r.defs.view(view, KindAggregate)
	if err != nil {
		return nil, err
	}
	pipe := s.r.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, s.r.partitions)
	for p := range s.r.partitions {
		cmds[p] = pipe.HGetAll(ctx, s.keys.whole(p, view))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("read aggregate %s: %w", view, err)
	}
	counts := map[string]int64{}
	sums := map[[2]string]int64{}
	for _, c := range cmds {
		for f, val := range c.Val() {
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("read aggregate %s: field %q: %q is not an integer", view, f, val)
			}
			if g, ok := strings.CutPrefix(f, "count:"); ok {
				counts[g] += n
			} else if rest, ok := strings.CutPrefix(f, "sum:"); ok {
				name, g, _ := strings.Cut(rest, ":")
				sums[[2]string{name, g}] += n
			}
		}
	}
	out := map[string]Group{}
	for g, n := range counts {
		if n == 0 {
			continue
		}
		parts, err := v.groupParts(g)
		if err != nil {
			return nil, fmt.Errorf("read aggregate %s: %w", view, err)
		}
		grp := Group{Count: n, Sums: map[string]decimal.Decimal{}, Parts: parts}
		for _, sr := range v.sums {
			d, err := unscale(sums[[2]string{sr.name, g}], sr.scale)
			if err != nil {
				return nil, fmt.Errorf("read aggregate %s: %w", view, err)
			}
			grp.Sums[sr.name] = d
		}
		out[g] = grp
	}
	return out, nil
}

// unscale returns n / 10^scale exactly.
func unscale(n int64, scale int) (decimal.Decimal, error) {
	neg := n < 0
	u := strconv.FormatUint(uint64(n), 10)
	if neg {
		u = strconv.FormatUint(uint64(-n), 10)
	}
	if scale > 0 {
		if len(u) <= scale {
			u = strings.Repeat("0", scale-len(u)+1) + u
		}
		u = u[:len(u)-scale] + "." + u[len(u)-scale:]
	}
	if neg {
		u = "-" + u
	}
	return decimal.Parse(u)
}

// History returns the events of aggregate id in the history view, oldest
// first, each as the JSON object {type, version, id, position, time, data}.
func (s *Snapshot) History(ctx context.Context, view, id string) ([]json.RawMessage, error) {
	if _, err := s.r.defs.view(view, KindHistory); err != nil {
		return nil, err
	}
	pipe := s.r.rdb.Pipeline()
	cmds := make([]*redis.StringSliceCmd, s.r.partitions)
	for p := range s.r.partitions {
		cmds[p] = pipe.LRange(ctx, s.keys.item(p, view, id), 0, -1)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("read history %s %q: %w", view, id, err)
	}
	for _, c := range cmds {
		if l := c.Val(); len(l) > 0 {
			out := make([]json.RawMessage, len(l))
			for i, e := range l {
				out[i] = json.RawMessage(e)
			}
			return out, nil
		}
	}
	return nil, nil
}

// EntityRead is what ReadEntity returns: the entity's fields (nil when there
// is none) and the applied position of every partition it looked in, read
// before the entity in the same partition.
type EntityRead struct {
	Fields map[string]string
	// Applied holds every partition's applied position and commit time, in
	// partition order (Offsets is nil: ReadEntity does not read them).
	Applied []PartitionState
}

// ReadEntity reads aggregate id of the entity view and, with it, what each
// partition has applied, in one pipelined round trip: per partition, the
// applied hash (HMGET) and then the entity's hash (HGETALL). Both keys of a
// partition carry its {pN} hash tag, so on Redis Cluster they are on one
// node, and because Redis runs one partition's commands in order, and the
// materializer writes the entity and the applied position in one atomic
// step, the entity holds at least what the applied position says. Like
// Entity, it looks in every partition. It blocks on Redis. It is
// ReadEntities with one read.
func (s *Snapshot) ReadEntity(ctx context.Context, view, id string) (EntityRead, error) {
	q := [1]EntityQuery{{View: view, ID: id}}
	s.ReadEntities(ctx, q[:])
	return q[0].Read, q[0].Err
}

// EntityQuery is one read of ReadEntities: the entity view and the
// aggregate id to read (set by the caller), and its answer (set by
// ReadEntities).
type EntityQuery struct {
	View, ID string
	// Read is the answer when Err is nil. Its Applied slice is shared by
	// every read of one ReadEntities call: read it, never change it.
	Read EntityRead
	// Err is this read's error: not an entity view, or a Redis error on
	// one of its commands or on the applied positions it shares.
	Err error
}

// ReadEntities reads many entities of the snapshot's generation, and what
// every partition has applied, in one pipelined round trip: per partition,
// the applied hash once (HMGET), then the entity hash (HGETALL) of every
// read in that partition. Every read gets the same applied positions: they
// were read at one moment, before any of the entities, in the same Redis
// Cluster slot (the partition's {pN} hash tag) and in order on that node,
// and the materializer writes an entity and its partition's applied
// position in one atomic step, so each entity holds at least what the
// positions say (as with ReadEntity). Each read gets its own answer or
// error in qs[i]; a Redis error on a partition's applied positions fails
// every read, one on a read's own hash fails that read only. It blocks on
// Redis (one connection, whatever the number of reads; a Cluster client
// splits the pipeline by node) and is safe for concurrent use.
func (s *Snapshot) ReadEntities(ctx context.Context, qs []EntityQuery) {
	n := int(s.r.partitions)
	valid := 0
	for i := range qs {
		q := &qs[i]
		q.Read, q.Err = EntityRead{}, nil
		if _, err := s.r.defs.view(q.View, KindEntity); err != nil {
			q.Err = err
			continue
		}
		valid++
	}
	if valid == 0 {
		return
	}
	pipe := s.r.rdb.Pipeline()
	apps := make([]*redis.SliceCmd, n)
	// items[p*len(qs)+i] reads qs[i] in partition p (nil for an invalid read).
	items := make([]*redis.MapStringStringCmd, n*len(qs))
	for p := range s.r.partitions {
		apps[p] = pipe.HMGet(ctx, s.keys.applied(p), "lsn", "time")
		for i := range qs {
			if qs[i].Err == nil {
				items[int(p)*len(qs)+i] = pipe.HGetAll(ctx, s.keys.item(p, qs[i].View, qs[i].ID))
			}
		}
	}
	// Every command carries its own error (Exec returns the first): they
	// are read below, per read.
	_, _ = pipe.Exec(ctx)
	applied := make([]PartitionState, n)
	var shared error
	for p := range n {
		vals, err := apps[p].Result()
		if err != nil {
			shared = fmt.Errorf("read applied position of partition %d: %w", p, err)
			break
		}
		var lsn, ms string
		if len(vals) == 2 {
			lsn, _ = vals[0].(string)
			ms, _ = vals[1].(string)
		}
		st := PartitionState{Partition: int32(p)}
		if st.AppliedLSN, st.CommitTime, err = parseApplied(lsn, ms); err != nil {
			shared = fmt.Errorf("read applied position of partition %d: %w", p, err)
			break
		}
		applied[p] = st
	}
	for i := range qs {
		q := &qs[i]
		if q.Err != nil {
			continue
		}
		if shared != nil {
			q.Err = fmt.Errorf("read %s %q: %w", q.View, q.ID, shared)
			continue
		}
		q.Read.Applied = applied
		for p := range n {
			m, err := items[p*len(qs)+i].Result()
			if err != nil {
				q.Read.Fields, q.Err = nil, fmt.Errorf("read %s %q: %w", q.View, q.ID, err)
				break
			}
			if len(m) > 0 && q.Read.Fields == nil {
				q.Read.Fields = m
			}
		}
		if q.Err != nil {
			q.Read.Applied = nil
		}
	}
}
