package redisview

import (
	"fmt"
	"strconv"
	"strings"
)

// keys names the Redis keys of one generation under one prefix. Every key of
// one Kafka partition carries the hash tag {p<partition>}, so that one
// partition's atomic step touches one Redis Cluster slot:
//
//	<prefix>generation                          the generation readers use
//	<prefix>{p3}:g7:offsets                     hash topic -> next offset to apply
//	<prefix>{p3}:g7:pos:<aggregate type>        hash id -> "<position> <epoch seen>"
//	<prefix>{p3}:g7:snap:<aggregate type>       epoch of the snapshot in progress
//	<prefix>{p3}:g7:applied                     hash lsn[:<topic>] -> %016X, time[:<topic>] -> Unix ms (applied.go)
//	<prefix>{p3}:g7:changes                     stream, one entry per step (applied.go)
//	<prefix>{p3}:g7:<entity view>:<id>          hash of the entity's fields
//	<prefix>{p3}:g7:<index view>[:<key>]        sorted set of ids
//	<prefix>{p3}:g7:<aggregate view>            hash count:<group>, sum:<name>:<group>,
//	                                            scale:<name> (a composite group: GroupKey of its parts)
//	<prefix>{p3}:g7:<aggregate view>:top:count  sorted set group -> count
//	<prefix>{p3}:g7:<aggregate view>:top:sum:<name>  sorted set group -> scaled sum
//	<prefix>{p3}:g7:<history view>:<id>         list of the events as JSON
type keys struct {
	prefix string
	gen    int64
	bases  []string // base(p) of the first partitions, precomputed
}

// newKeys returns keys with the bases of partitions 0 to 255 precomputed
// (they prefix every key a step names).
func newKeys(prefix string, gen int64) keys {
	k := keys{prefix: prefix, gen: gen}
	bases := make([]string, 256)
	for p := range bases {
		bases[p] = k.base(int32(p))
	}
	k.bases = bases
	return k
}

func (k keys) pointer() string { return k.prefix + "generation" }

func (k keys) base(p int32) string {
	if p >= 0 && int(p) < len(k.bases) {
		return k.bases[p]
	}
	return k.prefix + "{p" + strconv.Itoa(int(p)) + "}:g" + strconv.FormatInt(k.gen, 10) + ":"
}

func (k keys) offsets(p int32) string               { return k.base(p) + "offsets" }
func (k keys) pos(p int32, agg string) string       { return k.base(p) + "pos:" + agg }
func (k keys) snap(p int32, agg string) string      { return k.base(p) + "snap:" + agg }
func (k keys) item(p int32, view, id string) string { return k.base(p) + view + ":" + id }
func (k keys) whole(p int32, view string) string    { return k.base(p) + view }
func (k keys) applied(p int32) string               { return k.base(p) + "applied" }
func (k keys) changes(p int32) string               { return k.base(p) + "changes" }

// top is the sorted set of an aggregate view's groups by count (sum "") or
// by the sum named sum.
func (k keys) top(p int32, view, sum string) string {
	if sum == "" {
		return k.base(p) + view + ":top:count"
	}
	return k.base(p) + view + ":top:sum:" + sum
}

// genPattern is the SCAN pattern of every partition key of generation gen.
func genPattern(prefix string, gen int64) string {
	return escapeGlob(prefix) + "{p*}:g" + strconv.FormatInt(gen, 10) + ":*"
}

func escapeGlob(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return string(b)
}

// reserved view names collide with the keys above.
var reserved = map[string]bool{"offsets": true, "pos": true, "snap": true, "generation": true, "applied": true, "changes": true}

// GroupKey returns the group key under which a composite aggregate view
// stores (and Snapshot.Aggregate returns) the group whose parts have the
// values parts, in the order the view declares them: the values joined by
// "|", each with "%" written "%25" and "|" written "%7C", so that no two
// lists of values share a key ("a|b" + "c" and "a" + "b|c" differ) and keys
// stay readable in redis-cli (2026-11-23|EUR). A plain group's key is its
// value as it is.
func GroupKey(parts ...string) string {
	n := len(parts)
	for _, s := range parts {
		n += len(s)
	}
	b := make([]byte, 0, n)
	for i, s := range parts {
		if i > 0 {
			b = append(b, '|')
		}
		for j := 0; j < len(s); j++ {
			switch s[j] {
			case '%':
				b = append(b, "%25"...)
			case '|':
				b = append(b, "%7C"...)
			default:
				b = append(b, s[j])
			}
		}
	}
	return string(b)
}

// splitGroupKey is the inverse of GroupKey for a key of n parts. It refuses
// anything GroupKey does not produce (another number of parts, a "%" not
// followed by 25 or 7C), so that a key decodes to one list of values only.
func splitGroupKey(key string, n int) ([]string, error) {
	raw := strings.Split(key, "|")
	if len(raw) != n {
		return nil, fmt.Errorf("group key %q: %d parts, want %d", key, len(raw), n)
	}
	for i, s := range raw {
		if !strings.Contains(s, "%") {
			continue
		}
		var b strings.Builder
		for j := 0; j < len(s); j++ {
			if s[j] != '%' {
				b.WriteByte(s[j])
				continue
			}
			switch {
			case strings.HasPrefix(s[j:], "%25"):
				b.WriteByte('%')
			case strings.HasPrefix(s[j:], "%7C"):
				b.WriteByte('|')
			default:
				return nil, fmt.Errorf("group key %q: bad escape at byte %d", key, j)
			}
			j += 2
		}
		raw[i] = b.String()
	}
	return raw, nil
}
