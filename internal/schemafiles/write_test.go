package schemafiles

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cdcflow/cdcflow/cep"
	"github.com/cdcflow/cdcflow/pipeline"
)

func TestDir(t *testing.T) {
	tests := []struct {
		name, mappingFile, schemasDir, out, want string
	}{
		{"out wins", "conf/mapping.yaml", "s", "elsewhere", "elsewhere"},
		{"the mapping's directory", "conf/mapping.yaml", "my-schemas", "", filepath.Join("conf", "my-schemas")},
		{"schemas next to the mapping", "conf/mapping.yaml", "", "", filepath.Join("conf", "schemas")},
		{"mapping in the working directory", "mapping.yaml", "", "", "schemas"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Dir(tt.mappingFile, tt.schemasDir, tt.out); got != tt.want {
				t.Errorf("Dir(%q, %q, %q) = %q; want %q", tt.mappingFile, tt.schemasDir, tt.out, got, tt.want)
			}
		})
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWriteDrafts(t *testing.T) {
	drafts := []pipeline.DraftSchema{
		{Type: "A", Version: 1, File: "A.v1.json", JSON: []byte("{\"new\":\"a\"}\n")},
		{Type: "B", Version: 2, File: "B.v2.json", JSON: []byte("{\"new\":\"b\"}\n"), Unknown: []string{"city", "lines.note"}},
	}
	tests := []struct {
		name      string
		force     bool
		existing  map[string]string // file -> content before
		wantKept  int
		wantOut   []string // with DIR for the directory
		wantFiles map[string]string
	}{
		{"empty directory", false, nil, 0, []string{
			"wrote  DIR/A.v1.json",
			"wrote  DIR/B.v2.json",
			"       field city: its type is not known (a CEL expression): the draft accepts any value; edit it",
			"       field lines.note: its type is not known (a CEL expression): the draft accepts any value; edit it",
		}, map[string]string{"A.v1.json": "{\"new\":\"a\"}\n", "B.v2.json": "{\"new\":\"b\"}\n"}},
		{"an existing file is kept", false, map[string]string{"A.v1.json": "edited"}, 1, []string{
			"kept   DIR/A.v1.json (it exists; --force overwrites it)",
			"wrote  DIR/B.v2.json",
			"       field city: its type is not known (a CEL expression): the draft accepts any value; edit it",
			"       field lines.note: its type is not known (a CEL expression): the draft accepts any value; edit it",
		}, map[string]string{"A.v1.json": "edited", "B.v2.json": "{\"new\":\"b\"}\n"}},
		{"force overwrites", true, map[string]string{"A.v1.json": "edited and much longer than the draft"}, 0, []string{
			"wrote  DIR/A.v1.json",
			"wrote  DIR/B.v2.json",
			"       field city: its type is not known (a CEL expression): the draft accepts any value; edit it",
			"       field lines.note: its type is not known (a CEL expression): the draft accepts any value; edit it",
		}, map[string]string{"A.v1.json": "{\"new\":\"a\"}\n", "B.v2.json": "{\"new\":\"b\"}\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "new", "schemas") // created by WriteDrafts
			if len(tt.existing) > 0 {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for f, c := range tt.existing {
				if err := os.WriteFile(filepath.Join(dir, f), []byte(c), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var out bytes.Buffer
			kept, err := WriteDrafts(&out, dir, drafts, tt.force)
			if err != nil {
				t.Fatalf("WriteDrafts: %v", err)
			}
			if kept != tt.wantKept {
				t.Errorf("WriteDrafts kept %d; want %d", kept, tt.wantKept)
			}
			want := strings.ReplaceAll(strings.Join(tt.wantOut, "\n")+"\n", "DIR/", dir+string(filepath.Separator))
			if out.String() != want {
				t.Errorf("WriteDrafts wrote:\n%s\nwant:\n%s", out.String(), want)
			}
			for f, c := range tt.wantFiles {
				if got := readFile(t, filepath.Join(dir, f)); got != c {
					t.Errorf("%s = %q; want %q", f, got, c)
				}
			}
		})
	}
}

func TestWriteFailures(t *testing.T) {
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteDrafts(&bytes.Buffer{}, notDir, nil, false); err == nil || !strings.HasPrefix(err.Error(), "schemas draft: mkdir "+notDir) {
		t.Errorf("WriteDrafts into a file = %v; want schemas draft: mkdir ...", err)
	}
	if err := WriteDerived(&bytes.Buffer{}, notDir, nil, false); err == nil || !strings.HasPrefix(err.Error(), "schemas derived: mkdir "+notDir) {
		t.Errorf("WriteDerived into a file = %v; want schemas derived: mkdir ...", err)
	}
	// A directory where the file should be: it cannot be opened for writing.
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "A.v1.json"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := WriteDrafts(&bytes.Buffer{}, dir, []pipeline.DraftSchema{{File: "A.v1.json", JSON: []byte("{}")}}, true)
	if err == nil || !strings.HasPrefix(err.Error(), "schemas draft: write "+filepath.Join(dir, "A.v1.json")+": ") {
		t.Errorf("WriteDrafts over a directory = %v; want schemas draft: write ...", err)
	}
}

func TestWriteDraftSummary(t *testing.T) {
	tests := []struct {
		name                         string
		mappingFile, schemasDir, dir string
		drafted, kept                int
		want                         string
	}{
		{"the mapping names no schemas", filepath.Join("conf", "mapping.yaml"), "", filepath.Join("conf", "schemas"), 3, 1,
			"\n3 schema(s) drafted, 2 written, 1 kept.\nAdd to conf/mapping.yaml (the schemas directory, relative to the mapping):\n\n  schemas: schemas\n\n" +
				"Review the drafts, then run: cdcflow check --config c.yaml\n"},
		{"the mapping names them", filepath.Join("conf", "mapping.yaml"), "s", filepath.Join("conf", "s"), 2, 0,
			"\n2 schema(s) drafted, 2 written, 0 kept.\nconf/mapping.yaml already names them (schemas: s).\n" +
				"Review the drafts, then run: cdcflow check --config c.yaml\n"},
		{"another directory", filepath.Join("conf", "mapping.yaml"), "s", filepath.Join("out", "x"), 1, 0,
			"\n1 schema(s) drafted, 1 written, 0 kept.\nAdd to conf/mapping.yaml (the schemas directory, relative to the mapping):\n\n  schemas: ../out/x\n\n" +
				"Review the drafts, then run: cdcflow check --config c.yaml\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			WriteDraftSummary(&out, tt.mappingFile, tt.schemasDir, tt.dir, tt.drafted, tt.kept, "cdcflow check --config c.yaml")
			if out.String() != tt.want {
				t.Errorf("WriteDraftSummary:\n%q\nwant:\n%q", out.String(), tt.want)
			}
		})
	}
}

func TestWriteDerived(t *testing.T) {
	ds := []cep.DerivedSchema{
		{Type: "Late", Version: 1, Rule: "late", File: "Late.v1.json", JSON: []byte("{\"late\":1}\n")},
		{Type: "Slow", Version: 1, Rule: "slow", File: "Slow.v1.json", JSON: []byte("{\"slow\":1}\n"), Unknown: []string{"why"}},
	}
	tests := []struct {
		name      string
		force     bool
		existing  map[string]string
		wantOut   []string
		wantErr   string
		wantFiles map[string]string
	}{
		{"new", false, nil, []string{
			"wrote  DIR/Late.v1.json (rule late)",
			"wrote  DIR/Slow.v1.json (rule slow)",
			"       field why: its type is not known (a CEL expression): the schema accepts any value; edit it",
		}, "", map[string]string{"Late.v1.json": "{\"late\":1}\n", "Slow.v1.json": "{\"slow\":1}\n"}},
		{"same and differs", false, map[string]string{"Late.v1.json": "{\"late\":1}\n", "Slow.v1.json": "released"}, []string{
			"same   DIR/Late.v1.json",
			"DIFFERS DIR/Slow.v1.json (rule slow): a released version's schema never changes: give the rule's emit a new version (--force overwrites)",
		}, "schemas derived: 1 schema(s) differ from what the rules derive: Slow.v1.json",
			map[string]string{"Late.v1.json": "{\"late\":1}\n", "Slow.v1.json": "released"}},
		{"force overwrites what differs", true, map[string]string{"Slow.v1.json": "released"}, []string{
			"wrote  DIR/Late.v1.json (rule late)",
			"wrote  DIR/Slow.v1.json (rule slow)",
			"       field why: its type is not known (a CEL expression): the schema accepts any value; edit it",
		}, "", map[string]string{"Late.v1.json": "{\"late\":1}\n", "Slow.v1.json": "{\"slow\":1}\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "schemas")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for f, c := range tt.existing {
				if err := os.WriteFile(filepath.Join(dir, f), []byte(c), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var out bytes.Buffer
			err := WriteDerived(&out, dir, ds, tt.force)
			if (err == nil && tt.wantErr != "") || (err != nil && err.Error() != tt.wantErr) {
				t.Errorf("WriteDerived = %v; want %q", err, tt.wantErr)
			}
			want := strings.ReplaceAll(strings.Join(tt.wantOut, "\n")+"\n", "DIR/", dir+string(filepath.Separator))
			if out.String() != want {
				t.Errorf("WriteDerived wrote:\n%s\nwant:\n%s", out.String(), want)
			}
			for f, c := range tt.wantFiles {
				if got := readFile(t, filepath.Join(dir, f)); got != c {
					t.Errorf("%s = %q; want %q", f, got, c)
				}
			}
		})
	}
}
