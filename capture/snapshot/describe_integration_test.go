package snapshot_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cdcflow/cdcflow/capture/snapshot"
	"github.com/cdcflow/cdcflow/internal/testenv"
)

// TestIntegrationDescribe reads quoted mixed-case, composite-key, domain,
// enum, array and identity variants from the catalog as pgoutput would
// announce them.
func TestIntegrationDescribe(t *testing.T) {
	db := testenv.Postgres(t).NewDatabase(t)
	db.Exec(t, `
CREATE SCHEMA "Legacy";
CREATE TYPE mood AS ENUM ('sad', 'ok');
CREATE DOMAIN posint AS int4 CHECK (VALUE > 0);
CREATE TABLE "Legacy"."Order Lines" ("B" int, "A" text, gone int, n numeric(10,2), arr int4[], m mood, p posint,
	twice int GENERATED ALWAYS AS ("B" * 2) STORED, PRIMARY KEY ("A", "B"));
ALTER TABLE "Legacy"."Order Lines" DROP COLUMN gone;
CREATE TABLE by_index (id int PRIMARY KEY, code text NOT NULL, x int);
CREATE UNIQUE INDEX by_index_code ON by_index (code);
ALTER TABLE by_index REPLICA IDENTITY USING INDEX by_index_code;
CREATE TABLE full_rows (a int, b text);
ALTER TABLE full_rows REPLICA IDENTITY FULL;`)

	conn := db.Conn(t)
	rels, err := snapshot.Describe(t.Context(), conn, []string{`"Legacy"."Order Lines"`, "by_index", "public.full_rows"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rels {
		var cols []string
		for _, c := range r.Columns {
			cols = append(cols, fmt.Sprintf("%s:%s key=%v", c.Name, c.TypeName, c.Key))
		}
		got = append(got, fmt.Sprintf("%s.%s %c [%s]", r.Schema, r.Table, r.ReplicaIdentity, strings.Join(cols, " ")))
	}
	want := []string{
		"Legacy.Order Lines d [B:int4 key=true A:text key=true n:numeric key=false arr:_int4 key=false m:mood key=false p:int4 key=false]",
		"public.by_index i [id:int4 key=false code:text key=true x:int4 key=false]",
		"public.full_rows f [a:int4 key=true b:text key=true]",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Describe =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	_, err = snapshot.Describe(t.Context(), conn, []string{"by_index", `"Order Lines"`})
	if err == nil || !strings.Contains(err.Error(), `describe table "Order Lines": no such table`) {
		t.Errorf("unknown table: err = %v; want it named", err)
	}
}
