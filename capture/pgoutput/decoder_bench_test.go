package pgoutput

import (
	"testing"
	"time"
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
