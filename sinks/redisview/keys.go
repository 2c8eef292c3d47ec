package redisview

import "strconv"

// keys names the Redis keys of one generation under one prefix. Every key of
// one Kafka partition carries the hash tag {p<partition>}, so that one
// partition's atomic step touches one Redis Cluster slot:
//
//	<prefix>generation                          the generation readers use
//	<prefix>{p3}:g7:offsets                     hash topic -> next offset to apply
//	<prefix>{p3}:g7:pos:<aggregate type>        hash id -> "<position> <epoch seen>"
//	<prefix>{p3}:g7:snap:<aggregate type>       epoch of the snapshot in progress
//	<prefix>{p3}:g7:<entity view>:<id>          hash of the entity's fields
//	<prefix>{p3}:g7:<index view>[:<key>]        sorted set of ids
//	<prefix>{p3}:g7:<aggregate view>            hash count:<group>, sum:<name>:<group>
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
var reserved = map[string]bool{"offsets": true, "pos": true, "snap": true, "generation": true}
