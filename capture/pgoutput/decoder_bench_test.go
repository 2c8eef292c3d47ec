package pgoutput

import (
	"strings"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/capture"
)

// BenchmarkDecode decodes an Insert of a 10-column row of common types.
func BenchmarkDecode(b *testing.B) {
	d := NewDecoder(Config{})
	rel := encRelation(16402, "public", "orders", 'd',
		relCol{key: true, name: "id", oid: 20, typmod: -1},
		relCol{name: "customer_id", oid: 20, typmod: -1},
		relCol{name: "status", oid: 25, typmod: -1},
		relCol{name: "amount", oid: 1700, typmod: 655366},
		relCol{name: "currency", oid: 1042, typmod: 7},
		relCol{name: "created_at", oid: 1184, typmod: -1},
		relCol{name: "updated_at", oid: 1184, typmod: -1},
		relCol{name: "paid", oid: 16, typmod: -1},
		relCol{name: "qty", oid: 23, typmod: -1},
		relCol{name: "note", oid: 25, typmod: -1},
	)
	insert := encInsert(16402, txt("123456"), txt("987654"), txt("promised"), txt("1234.5600"), txt("EUR"),
		txt("2026-11-23 10:15:00.123456+00"), txt("2026-11-23 10:16:00.5+00"), txt("t"), txt("3"),
		txt("please deliver to the back door"))
	for _, m := range [][]byte{rel, encBegin(0x100, time.Now(), 5)} {
		if _, err := d.Decode(1, m); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(insert)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode(2, insert); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeWideUpdate decodes an UPDATE of the wide workload's hot
// table under REPLICA IDENTITY FULL (internal/loadgen/wide): a 2 KB filler,
// a 9 KB memo sent in both rows, jsonb, arrays and numerics, old row and new.
// "eager" decodes every value of both rows, as capture did; "deferred"
// decodes only the seven columns of the new row that the wide mapping's
// update rules read, as cdcflow run now does.
func BenchmarkDecodeWideUpdate(b *testing.B) {
	rel := encRelation(16410, "public", "Document", 'f',
		relCol{key: true, name: "DocId", oid: 20, typmod: -1},
		relCol{key: true, name: "kind", oid: 16500, typmod: -1},
		relCol{key: true, name: "stateCode", oid: 21, typmod: -1},
		relCol{key: true, name: "amount", oid: 1700, typmod: 1179656},
		relCol{key: true, name: "tax_rates", oid: 1231, typmod: 327686},
		relCol{key: true, name: "labels", oid: 1009, typmod: -1},
		relCol{key: true, name: "attrs", oid: 3802, typmod: -1},
		relCol{key: true, name: "memo", oid: 25, typmod: -1},
		relCol{key: true, name: "filler", oid: 25, typmod: -1},
		relCol{key: true, name: "revision", oid: 23, typmod: -1},
		relCol{key: true, name: "issued_on", oid: 1082, typmod: -1},
		relCol{key: true, name: "updated_at", oid: 1184, typmod: -1},
	)
	row := func(state, revision string) []tv {
		return []tv{txt("123456"), txt("invoice"), txt(state), txt("1234.5600"), txt("{19.00,7.00}"),
			txt(`{bulk,"north east",priority}`), txt(`{"approver": {"name": "Ada", "level": 3}, "batch": 42, "tags": ["a", "b"]}`),
			txt(strings.Repeat("memo text ", 900)), txt(strings.Repeat("x", 2048)), txt(revision),
			txt("2024-01-01"), txt("2026-11-23 10:15:00.123456+00")}
	}
	update := encUpdate(16410, 'O', row("1", "7"), row("2", "8"))
	read := []int{0, 1, 2, 3, 6, 9, 11} // DocId, kind, stateCode, amount, attrs, revision, updated_at
	for _, deferred := range []bool{false, true} {
		name := "eager"
		if deferred {
			name = "deferred"
		}
		b.Run(name, func(b *testing.B) {
			d := NewDecoder(Config{DeferDecoding: deferred})
			for _, m := range [][]byte{encType(16500, "public", "DocKind"), rel, encBegin(0x100, time.Now(), 5)} {
				if _, err := d.Decode(1, m); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(update)))
			b.ReportAllocs()
			for b.Loop() {
				m, err := d.Decode(2, update)
				if err != nil {
					b.Fatal(err)
				}
				c := m.(*capture.Change)
				for _, i := range read {
					if _, err := c.New[i].Decoded(); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkDecodeBulkInsert decodes one row of the delivery benchmark's
// large transaction (-bigtx: a ~300-byte row of the wide workload's hot
// table) eagerly and deferred, without reading it: its bytes per operation
// are what a decoded change holds until it is mapped.
func BenchmarkDecodeBulkInsert(b *testing.B) {
	rel := encRelation(16410, "public", "Document", 'd',
		relCol{key: true, name: "DocId", oid: 20, typmod: -1},
		relCol{name: "kind", oid: 16500, typmod: -1},
		relCol{name: "stateCode", oid: 21, typmod: -1},
		relCol{name: "amount", oid: 1700, typmod: 1179656},
		relCol{name: "tax_rates", oid: 1231, typmod: 327686},
		relCol{name: "labels", oid: 1009, typmod: -1},
		relCol{name: "attrs", oid: 3802, typmod: -1},
		relCol{name: "memo", oid: 25, typmod: -1},
		relCol{name: "filler", oid: 25, typmod: -1},
		relCol{name: "revision", oid: 23, typmod: -1},
		relCol{name: "issued_on", oid: 1082, typmod: -1},
		relCol{name: "updated_at", oid: 1184, typmod: -1},
	)
	insert := encInsert(16410, txt("1512345"), txt("invoice"), txt("0"), txt("123.4500"), txt("{19.00,7.00}"),
		txt("{bulk}"), txt(`{"i": 12345, "batch": 1000000}`), null, txt(strings.Repeat("x", 200)), txt("1"),
		txt("2024-01-01"), txt("2024-01-01 00:00:00+00"))
	for _, deferred := range []bool{false, true} {
		name := "eager"
		if deferred {
			name = "deferred"
		}
		b.Run(name, func(b *testing.B) {
			d := NewDecoder(Config{DeferDecoding: deferred})
			for _, m := range [][]byte{encType(16500, "public", "DocKind"), rel, encBegin(0x100, time.Now(), 5)} {
				if _, err := d.Decode(1, m); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(insert)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := d.Decode(2, insert); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
