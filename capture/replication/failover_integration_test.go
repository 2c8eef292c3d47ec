package replication

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cdcflow/cdcflow/internal/testenv"
)

// On PostgreSQL 15 (the only version here) the failover queries run, find
// no failover columns or settings, and a failover slot is refused clearly:
// by Preflight, and by Run before it creates anything.
func TestIntegrationFailoverSlotRefusedBefore17(t *testing.T) {
	db := testenv.Postgres(t).NewDatabase(t)
	db.Exec(t, `CREATE TABLE "Order Lines" (id int PRIMARY KEY)`)
	slot := "fo_" + strings.ToLower(db.Name)
	slot = slot[:min(len(slot), 60)]

	conn := db.Conn(t)
	sf, err := ReadFailover(t.Context(), conn, slot)
	if err != nil {
		t.Fatalf("ReadFailover: %v", err)
	}
	num := testenv.QueryValue[int32](t, db, "SELECT current_setting('server_version_num')::int")
	if sf.VersionNum != int(num) || sf.Supported() || sf.InRecovery || sf.Slot.Exists {
		t.Fatalf("ReadFailover = %+v; want version %d, unsupported, a primary, no slot", sf, num)
	}
	if sf.HotStandbyFeedback != "off" || len(sf.Hidden) != 0 {
		t.Errorf("ReadFailover settings = %+v; want hot_standby_feedback off and nothing hidden from the superuser", sf)
	}
	// primary_conninfo is for superusers and pg_read_all_settings only.
	role := "fo_" + strings.ToLower(db.Name)
	role = role[:min(len(role), 60)]
	db.Exec(t, `CREATE ROLE `+role+` LOGIN`)
	t.Cleanup(func() { cleanupExec(t, db, `DROP ROLE `+role) })
	rconn, err := pgx.Connect(t.Context(), roleDSN(t, db, role))
	if err != nil {
		t.Fatal(err)
	}
	defer rconn.Close(context.WithoutCancel(t.Context()))
	if sf, err := ReadFailover(t.Context(), rconn, slot); err != nil || strings.Join(sf.Hidden, ",") != "primary_conninfo" {
		t.Errorf("ReadFailover as %s = %+v, %v; want primary_conninfo hidden", role, sf, err)
	}

	db.Exec(t, "SELECT pg_create_logical_replication_slot($1, 'pgoutput')", slot)
	if sf, err = ReadFailover(t.Context(), conn, slot); err != nil || !sf.Slot.Exists || sf.Slot.Failover || sf.Slot.Synced {
		t.Fatalf("ReadFailover = %+v, %v; want the slot, without failover or synced (no such columns before 17)", sf.Slot, err)
	}
	db.Exec(t, "SELECT pg_drop_replication_slot($1)", slot)

	cfg := Config{DSN: db.DSN, Slot: slot, Tables: []string{`public."Order Lines"`}, FailoverSlot: true}
	err = Preflight(t.Context(), cfg)
	if !errors.As(err, new(*NotReadyError)) || !strings.Contains(err.Error(), "has no failover slots (server_version_num") {
		t.Errorf("Preflight = %v; want a NotReadyError saying the version has no failover slots", err)
	}

	rr := start(t, cfg, &collector{}, nil)
	err = rr.wait(t, 30*time.Second)
	if !errors.Is(err, ErrFailoverUnsupported) || !strings.Contains(err.Error(), "turn source.failover_slot off") {
		t.Fatalf("Run = %v; want ErrFailoverUnsupported saying what to do", err)
	}
	if n := testenv.QueryValue[int64](t, db, "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE $1", slot+"%"); n != 0 {
		t.Errorf("%d slots created; want none", n)
	}
}
