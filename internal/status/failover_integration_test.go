package status

import (
	"strings"
	"testing"

	"github.com/cdcflow/cdcflow/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// On PostgreSQL 15 the failover lines say, for the primary and for the
// standby, that failover slots need 17, and fail the status.
func TestIntegrationStatusFailoverPG15(t *testing.T) {
	db := testenv.Postgres(t).NewDatabase(t)
	slot := "st_" + strings.ToLower(db.Name)
	slot = slot[:min(len(slot), 60)]
	db.Exec(t, "SELECT pg_create_logical_replication_slot($1, 'pgoutput')", slot)

	s, err := Gather(t.Context(), Config{SourceDSN: db.DSN, Slot: slot, Failover: true, StandbyDSN: db.DSN})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Line{}
	for _, l := range s.Lines {
		got[l.Name] = l
	}
	for name, want := range map[string]string{
		"failover server version":  "has no failover slots",
		"failover standby version": "needs PostgreSQL 17 or later",
	} {
		if l := got[name]; l.Verdict != Fail || !strings.Contains(l.Value, want) {
			t.Errorf("line %q = %+v; want fail saying %q", name, l, want)
		}
	}
	if s.Verdict != Fail {
		t.Errorf("verdict %s; want fail", s.Verdict)
	}

	// Without the switch, no failover line.
	s, err = Gather(t.Context(), Config{SourceDSN: db.DSN, Slot: slot})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range s.Lines {
		if strings.HasPrefix(l.Name, "failover") {
			t.Errorf("line %+v without source.failover_slot", l)
		}
	}
}
