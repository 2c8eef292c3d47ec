package pipeline

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cdcflow/cdcflow/capture"
)

// releasedSchemas lists the hash of every released schema file. A released
// version's schema never changes: a change needs a new version (and an
// upcaster). -update only appends files not yet listed; it never rewrites a
// listed hash.
const releasedSchemas = "testdata/released-schemas.sha256"

// schemaDirs are the directories whose schema files are released.
var schemaDirs = []string{"../deploy/examples/orders/schemas", "testdata/upcast/schemas"}

func TestReleasedSchemasNeverChange(t *testing.T) {
	listed := map[string]string{}
	var order []string
	if f, err := os.Open(releasedSchemas); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			sum, path, ok := strings.Cut(line, "  ")
			if !ok {
				t.Fatalf("%s: bad line %q", releasedSchemas, line)
			}
			listed[path] = sum
			order = append(order, path)
		}
		f.Close()
	} else if !*update {
		t.Fatal(err)
	}
	var files []string
	for _, dir := range schemaDirs {
		m, err := filepath.Glob(filepath.Join(dir, "*.v*.json"))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	slices.Sort(files)
	var added []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		got := hex.EncodeToString(sum[:])
		want, ok := listed[filepath.ToSlash(f)]
		switch {
		case !ok && *update:
			added = append(added, fmt.Sprintf("%s  %s", got, filepath.ToSlash(f)))
		case !ok:
			t.Errorf("schema %s is not in %s: once released it must never change; run go test -run TestReleasedSchemas -update to record it", f, releasedSchemas)
		case want != got:
			t.Errorf("released schema %s changed (sha256 %s, recorded %s): add a new version with an upcaster instead", f, got, want)
		}
	}
	for _, p := range order {
		if !slices.Contains(files, filepath.FromSlash(p)) {
			t.Errorf("released schema %s was deleted: consumers and stored events may still need it", p)
		}
	}
	if len(added) > 0 {
		f, err := os.OpenFile(releasedSchemas, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if len(order) == 0 {
			fmt.Fprintln(f, "# sha256 and path of every released event schema; see TestReleasedSchemasNeverChange.")
		}
		for _, a := range added {
			fmt.Fprintln(f, a)
		}
	}
}

// TestReferenceMapping loads the reference mapping against the example
// database's tables (as the golden stream declares them), and proves its
// schemas with the chain check.
func TestReferenceMapping(t *testing.T) {
	s := readStream(t, "testdata/golden/orders/stream.json")
	var rels []*capture.Relation
	for _, r := range s.relations {
		rels = append(rels, r)
	}
	m := loadMapping(t, referenceMapping, LoadOptions{Schema: SchemaOf(rels...), Timezone: "Europe/Berlin"})
	if err := m.CheckUpcasts(); err != nil {
		t.Errorf("CheckUpcasts() = %v", err)
	}
	if err := m.CheckForward(); err != nil {
		t.Errorf("CheckForward() = %v", err)
	}
	for _, et := range m.EventTypes() {
		if len(et.Versions) == 0 {
			t.Errorf("event type %s has no schema", et.Type)
		}
	}
	// Without REPLICA IDENTITY FULL on orders the transition rules are reported.
	for i, r := range rels {
		if r.Table == "orders" {
			c := *r
			c.ReplicaIdentity = 'd'
			rels[i] = &c
		}
	}
	_, err := Load(os.DirFS(filepath.Dir(referenceMapping)), filepath.Base(referenceMapping), LoadOptions{Schema: SchemaOf(rels...)})
	if err == nil || !strings.Contains(err.Error(), "REPLICA IDENTITY FULL") {
		t.Errorf("Load with orders not REPLICA IDENTITY FULL = %v; want the transition rules reported", err)
	}
}
