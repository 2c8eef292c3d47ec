package redisview

import (
	"strings"
	"testing"

	"github.com/cdcflow/cdcflow/deploy/examples/orders"
	"github.com/cdcflow/cdcflow/pipeline"
)

func TestCheckFile(t *testing.T) {
	m, err := pipeline.Load(orders.Files, orders.MappingFile, pipeline.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, src string
		views     int
		want      []string // lines of the error, in order
	}{
		{name: "valid", views: 1, src: `version: 1
views:
  - name: requested
    kind: entity
    aggregate: order
    on:
      - type: OrderRequested
        set: {total: data.total}
`},
		{name: "problems with lines", src: `version: 1
views:
  - name: requested
    kind: entity
    aggregate: order
    on:
      - type: OrderRequested
        set: {total: data.totl}
`, want: []string{`v.yaml:8: view "requested": `}},
		{name: "not YAML", src: "views: [", want: []string{"v.yaml:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defs, err := CheckFile("v.yaml", []byte(tt.src), m)
			if tt.want == nil {
				if err != nil || len(defs.Names()) != tt.views {
					t.Fatalf("CheckFile() = %d view(s), %v; want %d, nil", len(defs.Names()), err, tt.views)
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckFile() error = nil; want lines starting %q", tt.want)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) < len(tt.want) {
				t.Fatalf("CheckFile() error = %q; want lines starting %q", err, tt.want)
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("CheckFile() error line %d = %q; want it to start %q", i, lines[i], w)
				}
			}
		})
	}
}
