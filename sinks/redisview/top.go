package redisview

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/cdcflow/cdcflow/pipeline/decimal"
)

// RankedGroup is one group of Top: its key (as Snapshot.Aggregate keys it)
// and the group.
type RankedGroup struct {
	Key string
	Group
}

// Top returns up to limit groups of the aggregate view ordered by by —
// "count" or the name of one of its sums — descending, ties by group key
// ascending, with their counts and exact sums merged over the partitions
// (a group's value is the sum of its values in every partition).
//
// It reads the view's sorted sets (<view>:top:count, <view>:top:sum:<name>),
// never scans the groups: the threshold algorithm reads each partition's set
// in descending pages (ZREVRANGE) and each group seen in the other
// partitions (ZMSCORE), until limit groups are known to be ahead of any
// group not seen yet: O(P·(log n + N)) for P partitions when values are not
// mostly tied. It blocks on Redis.
func (s *Snapshot) Top(ctx context.Context, view, by string, limit int) ([]RankedGroup, error) {
	v, err := s.r.defs.view(view, KindAggregate)
	if err != nil {
		return nil, err
	}
	sum := ""
	if by != "count" {
		i := slices.IndexFunc(v.sums, func(sr *sumRule) bool { return sr.name == by })
		if i < 0 {
			names := []string{"count"}
			for _, sr := range v.sums {
				names = append(names, sr.name)
			}
			return nil, fmt.Errorf("top of %s: order %q: want one of %s", view, by, strings.Join(names, ", "))
		}
		sum = by
	}
	if limit < 1 {
		return nil, fmt.Errorf("top of %s: limit %d: want 1 or more", view, limit)
	}
	keys, err := s.topKeys(ctx, view, sum, limit)
	if err != nil {
		return nil, err
	}
	return s.groups(ctx, v, keys)
}

// topKeys returns the keys of the limit first groups of the view by the
// sorted sets of sum ("" = count), with the threshold algorithm.
func (s *Snapshot) topKeys(ctx context.Context, view, sum string, limit int) ([]string, error) {
	n := s.r.partitions
	page := int64(max(limit, 32))
	next := make([]int64, n)    // next rank to read in each partition
	last := make([]int64, n)    // the lowest score read in each partition
	done := make([]bool, n)     // partition read to its end
	total := map[string]int64{} // every group seen: its merged value
	for {
		pipe := s.r.rdb.Pipeline()
		cmds := make([]*redis.ZSliceCmd, n)
		for p := range n {
			if !done[p] {
				cmds[p] = pipe.ZRevRangeWithScores(ctx, s.keys.top(p, view, sum), next[p], next[p]+page-1)
			}
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("top of %s: %w", view, err)
		}
		var fresh []string
		for p := range n {
			if done[p] {
				continue
			}
			zs := cmds[p].Val()
			next[p] += int64(len(zs))
			if int64(len(zs)) < page {
				done[p] = true
			}
			for _, z := range zs {
				g, _ := z.Member.(string)
				if _, ok := total[g]; !ok {
					total[g] = 0
					fresh = append(fresh, g)
				}
				last[p] = int64(math.Round(z.Score))
			}
		}
		if len(fresh) > 0 {
			if err := s.mergeScores(ctx, view, sum, fresh, total); err != nil {
				return nil, err
			}
		}
		ranked := slices.SortedFunc(maps.Keys(total), func(a, b string) int {
			return cmp.Or(cmp.Compare(total[b], total[a]), strings.Compare(a, b))
		})
		bound, open := unseenBound(last, done)
		if !open || len(ranked) >= limit && total[ranked[limit-1]] > bound {
			return ranked[:min(limit, len(ranked))], nil
		}
	}
}

// unseenBound returns the highest value a group not seen yet can have: it is
// in at least one partition not read to its end, with at most that
// partition's lowest score read, and absent elsewhere (0). open is false
// when every partition is read to its end: every group is seen.
func unseenBound(last []int64, done []bool) (bound int64, open bool) {
	var pos int64
	best := int64(math.MinInt64)
	for p := range last {
		if done[p] {
			continue
		}
		open = true
		best = max(best, last[p])
		if last[p] > 0 {
			pos += last[p]
		}
	}
	if pos > 0 {
		return pos, open
	}
	return best, open
}

// mergeScores sets total[g] for each group g of gs to the sum of its scores
// over every partition (absent: 0).
func (s *Snapshot) mergeScores(ctx context.Context, view, sum string, gs []string, total map[string]int64) error {
	pipe := s.r.rdb.Pipeline()
	cmds := make([]*redis.FloatSliceCmd, s.r.partitions)
	for p := range s.r.partitions {
		cmds[p] = pipe.ZMScore(ctx, s.keys.top(p, view, sum), gs...)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("top of %s: read scores: %w", view, err)
	}
	for _, c := range cmds {
		for i, sc := range c.Val() {
			total[gs[i]] += int64(math.Round(sc))
		}
	}
	return nil
}

// groups reads the groups keys of the aggregate view v from its hashes,
// merged over the partitions, in the order of keys; a group whose count is
// zero is left out.
func (s *Snapshot) groups(ctx context.Context, v *view, keys []string) ([]RankedGroup, error) {
	if len(keys) == 0 {
		return []RankedGroup{}, nil
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
		cmds[p] = pipe.HMGet(ctx, s.keys.whole(p, v.name), fields...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("read aggregate %s: %w", v.name, err)
	}
	vals := make([]int64, len(fields))
	for _, c := range cmds {
		for i, x := range c.Val() {
			str, ok := x.(string)
			if !ok {
				continue
			}
			n, err := strconv.ParseInt(str, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("read aggregate %s: field %q: %q is not an integer", v.name, fields[i], str)
			}
			vals[i] += n
		}
	}
	out := make([]RankedGroup, 0, len(keys))
	w := 1 + len(v.sums)
	for i, g := range keys {
		if vals[i*w] == 0 {
			continue
		}
		grp := RankedGroup{Key: g, Group: Group{Count: vals[i*w], Sums: make(map[string]decimal.Decimal, len(v.sums))}}
		for j, sr := range v.sums {
			d, err := unscale(vals[i*w+1+j], sr.scale)
			if err != nil {
				return nil, fmt.Errorf("read aggregate %s: %w", v.name, err)
			}
			grp.Sums[sr.name] = d
		}
		if len(v.parts) > 0 {
			parts, err := splitGroupKey(g, len(v.parts))
			if err != nil {
				return nil, fmt.Errorf("read aggregate %s: %w", v.name, err)
			}
			grp.Parts = make(map[string]string, len(parts))
			for j, gp := range v.parts {
				grp.Parts[gp.name] = parts[j]
			}
		}
		out = append(out, grp)
	}
	return out, nil
}
