package snapshot

import "testing"

func TestKeysetQuery(t *testing.T) {
	tests := []struct {
		name  string
		src   source
		cols  []string
		key   []string
		after bool
		limit int
		want  string
	}{
		{
			name: "first chunk, single key",
			src:  source{schema: "public", name: "orders", only: true},
			cols: []string{"id", "total"}, key: []string{"id"}, limit: 10000,
			want: `SELECT "id","total" FROM ONLY "public"."orders" ORDER BY "id" LIMIT 10000`,
		},
		{
			name: "next chunk, single key",
			src:  source{schema: "public", name: "orders", only: true},
			cols: []string{"id", "total"}, key: []string{"id"}, after: true, limit: 10000,
			want: `SELECT "id","total" FROM ONLY "public"."orders" WHERE "id" > $1 ORDER BY "id" LIMIT 10000`,
		},
		{
			name: "first chunk, composite key",
			src:  source{schema: "Sales", name: "Order Lines", only: true},
			cols: []string{"Order", "Line", "Qty"}, key: []string{"Order", "Line"}, limit: 5,
			want: `SELECT "Order","Line","Qty" FROM ONLY "Sales"."Order Lines" ORDER BY "Order","Line" LIMIT 5`,
		},
		{
			name: "next chunk, composite key in index order",
			src:  source{schema: "Sales", name: "Order Lines", only: true},
			cols: []string{"Order", "Line", "Qty"}, key: []string{"Line", "Order"}, after: true, limit: 5,
			want: `SELECT "Order","Line","Qty" FROM ONLY "Sales"."Order Lines" WHERE ("Line","Order") > ($1,$2) ORDER BY "Line","Order" LIMIT 5`,
		},
		{
			name: "partitioned root is read without ONLY",
			src:  source{schema: "public", name: "events"},
			cols: []string{"day", "id"}, key: []string{"day", "id"}, after: true, limit: 1,
			want: `SELECT "day","id" FROM "public"."events" WHERE ("day","id") > ($1,$2) ORDER BY "day","id" LIMIT 1`,
		},
		{
			name: "quotes inside names are doubled",
			src:  source{schema: `we"ird`, name: `ta"ble`, only: true},
			cols: []string{`c"1`}, key: []string{`c"1`}, after: true, limit: 3,
			want: `SELECT "c""1" FROM ONLY "we""ird"."ta""ble" WHERE "c""1" > $1 ORDER BY "c""1" LIMIT 3`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := keysetQuery(tt.src, tt.cols, tt.key, tt.after, tt.limit)
			if got != tt.want {
				t.Errorf("keysetQuery() =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestCTIDQuery(t *testing.T) {
	tests := []struct {
		name     string
		src      source
		cols     []string
		from, to int64
		want     string
	}{
		{
			name: "bounded range",
			src:  source{schema: "public", name: "audit", only: true},
			cols: []string{"at", "Note"}, from: 0, to: 128,
			want: `SELECT "at","Note" FROM ONLY "public"."audit" WHERE ctid >= '(0,0)'::tid AND ctid < '(128,0)'::tid`,
		},
		{
			name: "last range is open",
			src:  source{schema: "public", name: "audit", only: true},
			cols: []string{"at"}, from: 4096, to: -1,
			want: `SELECT "at" FROM ONLY "public"."audit" WHERE ctid >= '(4096,0)'::tid`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ctidQuery(tt.src, tt.cols, tt.from, tt.to)
			if got != tt.want {
				t.Errorf("ctidQuery() =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestValidSnapshotName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"00000003-0000001B-1", true},
		{"00000004-00000002-1", true},
		{"", false},
		{"x'; DROP TABLE t; --", false},
		{"0000'0003", false},
	}
	for _, tt := range tests {
		if got := validSnapshotName(tt.name); got != tt.want {
			t.Errorf("validSnapshotName(%q) = %v; want %v", tt.name, got, tt.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{"zero", Config{}, false},
		{"set", Config{ChunkRows: 5, Progress: func(Progress) {}}, false},
		{"negative chunk", Config{ChunkRows: -1}, true},
	}
	for _, tt := range tests {
		if err := tt.cfg.Validate(); (err != nil) != tt.wantErr {
			t.Errorf("%s: Validate() = %v; want error %v", tt.name, err, tt.wantErr)
		}
	}
}
