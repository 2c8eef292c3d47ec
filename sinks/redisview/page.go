package redisview

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/cdcflow/cdcflow/pipeline/decimal"
)

// IndexQuery selects one page of an index view.
type IndexQuery struct {
	// Key names the sorted set of a keyed index; "" for an index without key.
	Key string
	// Min and Max bound the scores, both inclusive; use math.Inf(-1) and
	// math.Inf(1) for no bound.
	Min, Max float64
	// After, when not nil, starts the page after this entry (exclusive): a
	// cursor, the last entry of the previous page.
	After *IndexEntry
	// Desc orders by descending score, ties by descending id; the default is
	// ascending score, ties by ascending id.
	Desc bool
	// Limit is the page size, 1 or more.
	Limit int
}

// IndexPage returns one page of the index view: up to q.Limit entries in
// the query's order, merged over the partitions, and whether more entries
// follow. Each partition is read with ZRANGE … BYSCORE LIMIT from the
// cursor's score, so the cost is O(P·(log n + Limit)) with P partitions
// (plus the entries that share the cursor's score and precede it), never a
// scan of the set.
func (s *Snapshot) IndexPage(ctx context.Context, view string, q IndexQuery) ([]IndexEntry, bool, error) {
	v, err := s.r.defs.view(view, KindIndex)
	if err != nil {
		return nil, false, err
	}
	if q.Limit < 1 {
		return nil, false, fmt.Errorf("read index %s: limit %d: want 1 or more", view, q.Limit)
	}
	if math.IsNaN(q.Min) || math.IsNaN(q.Max) || (q.After != nil && math.IsNaN(q.After.Score)) {
		return nil, false, fmt.Errorf("read index %s: a score bound is NaN", view)
	}
	want := q.Limit + 1 // one more says whether another page follows
	var all []IndexEntry
	for p := range s.r.partitions {
		k := s.keys.whole(p, view)
		if v.key != nil {
			k = s.keys.item(p, view, q.Key)
		}
		got, err := s.pageOf(ctx, k, q, want)
		if err != nil {
			return nil, false, fmt.Errorf("read index %s: %w", view, err)
		}
		all = append(all, got...)
	}
	slices.SortFunc(all, func(a, b IndexEntry) int { return compareEntries(a, b, q.Desc) })
	more := len(all) > q.Limit
	if more {
		all = all[:q.Limit]
	}
	return all, more, nil
}

// compareEntries orders entries by score then id, ascending or descending
// (the order of a Redis sorted set and of its reverse).
func compareEntries(a, b IndexEntry, desc bool) int {
	c := cmp.Or(cmp.Compare(a.Score, b.Score), strings.Compare(a.ID, b.ID))
	if desc {
		return -c
	}
	return c
}

// pageOf returns the first want entries of one partition's sorted set k
// inside q's bounds and after q.After.
func (s *Snapshot) pageOf(ctx context.Context, k string, q IndexQuery, want int) ([]IndexEntry, error) {
	lo, hi := q.Min, q.Max
	if q.After != nil {
		// Resume at the cursor's score; the entries with that score up to
		// the cursor's id are skipped below.
		if q.Desc {
			hi = min(hi, q.After.Score)
		} else {
			lo = max(lo, q.After.Score)
		}
	}
	if lo > hi {
		return nil, nil
	}
	var out []IndexEntry
	for offset := int64(0); ; {
		args := redis.ZRangeArgs{Key: k, Start: scoreArg(lo), Stop: scoreArg(hi), ByScore: true, Offset: offset, Count: int64(want)}
		if q.Desc {
			args.Start, args.Stop, args.Rev = scoreArg(hi), scoreArg(lo), true
		}
		zs, err := s.r.rdb.ZRangeArgsWithScores(ctx, args).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
		for _, z := range zs {
			e := IndexEntry{ID: z.Member.(string), Score: z.Score}
			if q.After != nil && compareEntries(e, *q.After, q.Desc) <= 0 {
				continue
			}
			out = append(out, e)
			if len(out) == want {
				return out, nil
			}
		}
		if len(zs) < want {
			return out, nil
		}
		offset += int64(len(zs))
	}
}

// scoreArg writes a score bound as Redis reads it, exactly (the shortest
// representation that parses back to the same float64).
func scoreArg(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "+inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// IndexScores returns the scores of ids in the index view (of the set for
// key, for a keyed index), looked up in every partition; an id that is not
// in the index is absent from the map.
func (s *Snapshot) IndexScores(ctx context.Context, view, key string, ids []string) (map[string]float64, error) {
	v, err := s.r.defs.view(view, KindIndex)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	if len(ids) == 0 {
		return out, nil
	}
	// ZSCORE per id, not ZMSCORE: go-redis reads ZMSCORE's nil (absent)
	// as 0, a valid score.
	pipe := s.r.rdb.Pipeline()
	cmds := make([]*redis.FloatCmd, 0, int(s.r.partitions)*len(ids))
	for p := range s.r.partitions {
		k := s.keys.whole(p, view)
		if v.key != nil {
			k = s.keys.item(p, view, key)
		}
		for _, id := range ids {
			cmds = append(cmds, pipe.ZScore(ctx, k, id))
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read index %s scores: %w", view, err)
	}
	for i, c := range cmds {
		if f, err := c.Result(); err == nil {
			out[ids[i%len(ids)]] = f
		}
	}
	return out, nil
}

// Groups returns the groups of the aggregate view whose keys are keys, summed
// over the partitions, with point reads (HMGET) of their fields; a group
// whose count is zero is absent.
func (s *Snapshot) Groups(ctx context.Context, view string, keys []string) (map[string]Group, error) {
	v, err := s.r.defs.view(view, KindAggregate)
	if err != nil {
		return nil, err
	}
	out := map[string]Group{}
	if len(keys) == 0 {
		return out, nil
	}
	fields := make([]string, 0, len(keys)*(1+len(v.sums)))
	for _, g := range keys {
		fields = append(fields, "count:"+g)
		for _, sr := range v.sums {
			fields = append(fields, "sum:"+sr.name+":"+g)
		}
	}
	pipe := s.r.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, s.r.partitions)
	for p := range s.r.partitions {
		cmds[p] = pipe.HMGet(ctx, s.keys.whole(p, view), fields...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("read aggregate %s groups: %w", view, err)
	}
	totals := make([]int64, len(fields))
	for _, c := range cmds {
		for i, val := range c.Val() {
			str, ok := val.(string)
			if !ok {
				continue // absent in this partition
			}
			n, err := strconv.ParseInt(str, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("read aggregate %s: field %q: %q is not an integer", view, fields[i], str)
			}
			totals[i] += n
		}
	}
	per := 1 + len(v.sums)
	for gi, g := range keys {
		n := totals[gi*per]
		if n == 0 {
			continue
		}
		parts, err := v.groupParts(g)
		if err != nil {
			return nil, fmt.Errorf("read aggregate %s: %w", view, err)
		}
		grp := Group{Count: n, Sums: map[string]decimal.Decimal{}, Parts: parts}
		for si, sr := range v.sums {
			d, err := unscale(totals[gi*per+1+si], sr.scale)
			if err != nil {
				return nil, fmt.Errorf("read aggregate %s: %w", view, err)
			}
			grp.Sums[sr.name] = d
		}
		out[g] = grp
	}
	return out, nil
}

// ChangePositions returns the ID of the newest entry of each partition's
// change stream ("0-0" for an empty or missing stream): where a reader
// that wants only what comes next starts Changes. It blocks on Redis.
func (s *Snapshot) ChangePositions(ctx context.Context) (map[int32]string, error) {
	pipe := s.r.rdb.Pipeline()
	cmds := make([]*redis.XMessageSliceCmd, s.r.partitions)
	for p := range s.r.partitions {
		cmds[p] = pipe.XRevRangeN(ctx, s.keys.changes(p), "+", "-", 1)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read change stream positions: %w", err)
	}
	out := make(map[int32]string, s.r.partitions)
	for p, c := range cmds {
		out[int32(p)] = "0-0"
		if ms := c.Val(); len(ms) > 0 {
			out[int32(p)] = ms[0].ID
		}
	}
	return out, nil
}

// HistoryTail returns the last n events of aggregate id in the history view
// (all with n <= 0), oldest first, like History.
func (s *Snapshot) HistoryTail(ctx context.Context, view, id string, n int) ([]json.RawMessage, error) {
	if _, err := s.r.defs.view(view, KindHistory); err != nil {
		return nil, err
	}
	start := int64(0)
	if n > 0 {
		start = -int64(n)
	}
	pipe := s.r.rdb.Pipeline()
	cmds := make([]*redis.StringSliceCmd, s.r.partitions)
	for p := range s.r.partitions {
		cmds[p] = pipe.LRange(ctx, s.keys.item(p, view, id), start, -1)
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

// GenerationExists reports whether generation gen still has its keys: the
// stored offsets of at least one partition. A generation dropped after a
// replay has none.
func (r *Reader) GenerationExists(ctx context.Context, gen int64) (bool, error) {
	k := keys{prefix: r.prefix, gen: gen}
	pipe := r.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, r.partitions)
	for p := range r.partitions {
		cmds[p] = pipe.Exists(ctx, k.offsets(p))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return false, fmt.Errorf("look for generation %d: %w", gen, err)
	}
	for _, c := range cmds {
		if c.Val() > 0 {
			return true, nil
		}
	}
	return false, nil
}

// RecentChanges returns the newest entries of the change streams: up to n
// of each partition, then the n newest of those by commit time, oldest
// first. It blocks on Redis.
func (s *Snapshot) RecentChanges(ctx context.Context, n int) ([]Change, error) {
	if n < 1 {
		return nil, nil
	}
	pipe := s.r.rdb.Pipeline()
	cmds := make([]*redis.XMessageSliceCmd, s.r.partitions)
	for p := range s.r.partitions {
		cmds[p] = pipe.XRevRangeN(ctx, s.keys.changes(p), "+", "-", int64(n))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read recent changes: %w", err)
	}
	var out []Change
	for p, c := range cmds {
		for _, m := range c.Val() {
			ch, err := parseChange(int32(p), m)
			if err != nil {
				return nil, fmt.Errorf("read recent changes of partition %d: entry %s: %w", p, m.ID, err)
			}
			out = append(out, ch)
		}
	}
	slices.SortStableFunc(out, func(a, b Change) int {
		return cmp.Or(a.CommitTime.Compare(b.CommitTime), cmp.Compare(a.Partition, b.Partition), compareStreamIDs(a.ID, b.ID))
	})
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out, nil
}
