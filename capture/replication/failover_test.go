package replication

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// Rows as PostgreSQL returns them to failoverSlotQuery (to_jsonb of a
// pg_replication_slots row), recorded from 17.2 and 15.
const (
	// The primary's failover slot, streaming.
	pg17PrimarySlot = `{"xmin": null, "active": true, "synced": false, "datoid": 16384, "plugin": "pgoutput", "database": "shop", "failover": true, "slot_name": "cdcflow", "slot_type": "logical", "temporary": false, "two_phase": false, "wal_status": "reserved", "active_pid": 4242, "conflicting": false, "restart_lsn": "0/3000060", "catalog_xmin": "752", "safe_wal_size": null, "inactive_since": null, "confirmed_flush_lsn": "0/3000098", "invalidation_reason": null}`
	// A slot created without failover (e.g. by pg_copy_logical_replication_slot).
	pg17PlainSlot = `{"xmin": null, "active": false, "synced": false, "datoid": 16384, "plugin": "pgoutput", "database": "shop", "failover": false, "slot_name": "cdcflow", "slot_type": "logical", "temporary": false, "two_phase": false, "wal_status": "reserved", "active_pid": null, "conflicting": false, "restart_lsn": "0/3000060", "catalog_xmin": "752", "safe_wal_size": null, "inactive_since": "2026-12-06 17:00:00.123456+00", "confirmed_flush_lsn": "0/3000098", "invalidation_reason": null}`
	// The standby's synchronized copy, sync-ready.
	pg17SyncedSlot = `{"xmin": null, "active": false, "synced": true, "datoid": 16384, "plugin": "pgoutput", "database": "shop", "failover": true, "slot_name": "cdcflow", "slot_type": "logical", "temporary": false, "two_phase": false, "wal_status": "reserved", "active_pid": null, "conflicting": false, "restart_lsn": "0/3000060", "catalog_xmin": "752", "safe_wal_size": null, "inactive_since": "2026-12-06 17:00:01.5+00", "confirmed_flush_lsn": "0/3000098", "invalidation_reason": null}`
	// A synced slot created but not sync-ready yet (the primary's slot is
	// behind what the standby could reserve).
	pg17SyncingSlot = `{"xmin": null, "active": false, "synced": true, "datoid": 16384, "plugin": "pgoutput", "database": "shop", "failover": true, "slot_name": "cdcflow", "slot_type": "logical", "temporary": true, "two_phase": false, "wal_status": "reserved", "active_pid": null, "conflicting": false, "restart_lsn": "0/3000060", "catalog_xmin": "752", "safe_wal_size": null, "inactive_since": "2026-12-06 17:00:01.5+00", "confirmed_flush_lsn": "0/3000098", "invalidation_reason": null}`
	// A synced slot invalidated on the standby.
	pg17InvalidSlot = `{"xmin": null, "active": false, "synced": true, "datoid": 16384, "plugin": "pgoutput", "database": "shop", "failover": true, "slot_name": "cdcflow", "slot_type": "logical", "temporary": false, "two_phase": false, "wal_status": "lost", "active_pid": null, "conflicting": false, "restart_lsn": null, "catalog_xmin": "752", "safe_wal_size": null, "inactive_since": "2026-12-06 17:00:01.5+00", "confirmed_flush_lsn": "0/3000098", "invalidation_reason": "wal_removed"}`
	// PostgreSQL 15 has none of failover, synced, invalidation_reason.
	pg15Slot = `{"xmin": null, "active": false, "datoid": 16384, "plugin": "pgoutput", "database": "shop", "slot_name": "cdcflow", "slot_type": "logical", "temporary": false, "two_phase": false, "wal_status": "reserved", "active_pid": null, "conflicting": null, "restart_lsn": "0/3000060", "catalog_xmin": "752", "safe_wal_size": null, "confirmed_flush_lsn": "0/3000098"}`
)

// server builds a ServerFailover from a version, recovery state, the
// settings object failoverQuery returns and a slot row ("" for none).
func server(t *testing.T, num int, recovery bool, settings, slot string) ServerFailover {
	t.Helper()
	s := ServerFailover{VersionNum: num, Version: fmt.Sprintf("%d.%d", num/10000, num%100), InRecovery: recovery}
	if err := s.setSettings([]byte(settings)); err != nil {
		t.Fatalf("setSettings(%s): %v", settings, err)
	}
	if slot != "" {
		var err error
		if s.Slot, err = parseFailoverSlot([]byte(slot)); err != nil {
			t.Fatalf("parseFailoverSlot(%s): %v", slot, err)
		}
	}
	return s
}

// Settings objects as failoverQuery returns them.
const (
	primarySettings      = `{"primary_conninfo": "", "primary_slot_name": "", "hot_standby_feedback": "off", "sync_replication_slots": "off", "synchronized_standby_slots": "sb1_slot"}`
	primaryNoList        = `{"primary_conninfo": "", "primary_slot_name": "", "hot_standby_feedback": "off", "sync_replication_slots": "off", "synchronized_standby_slots": ""}`
	primaryListsLogical  = `{"primary_conninfo": "", "primary_slot_name": "", "hot_standby_feedback": "off", "sync_replication_slots": "off", "synchronized_standby_slots": "sb1_slot, cdcflow"}`
	primaryHiddenList    = `{"primary_conninfo": "", "primary_slot_name": "", "hot_standby_feedback": "off", "sync_replication_slots": "off"}`
	standbySettings      = `{"primary_conninfo": "user=replicator password=s3cret host=db-0.db port=5432 dbname=shop sslmode=prefer", "primary_slot_name": "sb1_slot", "hot_standby_feedback": "on", "sync_replication_slots": "on", "synchronized_standby_slots": ""}`
	standbyNoSync        = `{"primary_conninfo": "host=db-0.db user=replicator", "primary_slot_name": "", "hot_standby_feedback": "off", "sync_replication_slots": "off", "synchronized_standby_slots": ""}`
	standbyHiddenConninf = `{"primary_slot_name": "sb1_slot", "hot_standby_feedback": "on", "sync_replication_slots": "on", "synchronized_standby_slots": ""}`
	pg15Settings         = `{"primary_conninfo": "", "primary_slot_name": "", "hot_standby_feedback": "off"}`
)

func TestReadFailoverRows(t *testing.T) {
	tests := []struct {
		name     string
		num      int
		settings string
		slot     string
		want     ServerFailover
	}{
		{"pg17 primary", 170002, primarySettings, pg17PrimarySlot, ServerFailover{
			SynchronizedStandbySlots: "sb1_slot", SyncReplicationSlots: "off", HotStandbyFeedback: "off",
			Slot: FailoverSlot{Exists: true, Failover: true}}},
		{"pg17 standby", 170002, standbySettings, pg17SyncedSlot, ServerFailover{
			SyncReplicationSlots: "on", HotStandbyFeedback: "on", PrimarySlotName: "sb1_slot", PrimaryDBName: "shop",
			Slot: FailoverSlot{Exists: true, Failover: true, Synced: true}}},
		{"pg17 invalidated", 170002, standbySettings, pg17InvalidSlot, ServerFailover{
			SyncReplicationSlots: "on", HotStandbyFeedback: "on", PrimarySlotName: "sb1_slot", PrimaryDBName: "shop",
			Slot: FailoverSlot{Exists: true, Failover: true, Synced: true, InvalidationReason: "wal_removed"}}},
		{"pg17 primary_conninfo hidden", 170002, standbyHiddenConninf, "", ServerFailover{
			SyncReplicationSlots: "on", HotStandbyFeedback: "on", PrimarySlotName: "sb1_slot", Hidden: []string{"primary_conninfo"}}},
		{"pg15: the settings and columns do not exist", 150010, pg15Settings, pg15Slot, ServerFailover{
			HotStandbyFeedback: "off", Slot: FailoverSlot{Exists: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := server(t, tt.num, false, tt.settings, tt.slot)
			got.VersionNum, got.Version = 0, ""
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("read %s / %s = %+v; want %+v", tt.settings, tt.slot, got, tt.want)
			}
		})
	}
}

func TestConninfoDBName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"host=db-0 user=replicator password=s3cret dbname=shop", "shop"},
		{"host=db-0 dbname = 'my shop' password='a b'", "my shop"},
		{`dbname='it\'s' password=x`, "it's"},
		{"password='dbname=evil' host=db-0", ""},
		{"host=db-0 user=replicator", ""},
		{"postgresql://replicator:s3cret@db-0:5432/shop?sslmode=require", "shop"},
		{"postgres://replicator@db-0/?dbname=orders", "orders"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := conninfoDBName(tt.in); got != tt.want {
			t.Errorf("conninfoDBName(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

// findings renders findings one per line, "name=value level".
func findings(fs []FailoverFinding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "%s=%s %s\n", f.Name, f.Value, f.Level)
	}
	return b.String()
}

func TestJudgePrimary(t *testing.T) {
	tests := []struct {
		name     string
		num      int
		recovery bool
		settings string
		slot     string
		want     string
		fix      string // a substring of some finding's Fix
	}{
		{"ready", 170002, false, primarySettings, pg17PrimarySlot,
			"server version=17.2 ok\nslot failover=true ok\nsynchronized_standby_slots=sb1_slot ok\n", ""},
		{"slot not created yet", 170002, false, primarySettings, "",
			"server version=17.2 ok\nslot failover=slot does not exist yet ok\nsynchronized_standby_slots=sb1_slot ok\n", ""},
		{"slot without failover", 170002, false, primarySettings, pg17PlainSlot,
			"server version=17.2 ok\nslot failover=false warn\nsynchronized_standby_slots=sb1_slot ok\n", `ALTER_REPLICATION_SLOT "cdcflow" (FAILOVER true)`},
		{"logical slot listed", 170002, false, primaryListsLogical, pg17PrimarySlot,
			"server version=17.2 ok\nslot failover=true ok\nsynchronized_standby_slots=sb1_slot, cdcflow fail\n", `lists the logical slot "cdcflow" itself`},
		{"empty list", 170002, false, primaryNoList, pg17PrimarySlot,
			"server version=17.2 ok\nslot failover=true ok\nsynchronized_standby_slots=empty warn\n", "can run ahead of the standby"},
		{"list not readable", 170002, false, primaryHiddenList, pg17PrimarySlot,
			"server version=17.2 ok\nslot failover=true ok\nsynchronized_standby_slots=not readable warn\n", "pg_read_all_settings"},
		{"a standby", 170002, true, standbySettings, pg17SyncedSlot,
			"server version=17.2 ok\nrole=standby fail\nslot failover=true ok\nsynchronized_standby_slots=empty warn\n", "target_session_attrs=read-write"},
		{"invalidated", 170002, false, primarySettings, pg17InvalidSlot,
			"server version=17.2 ok\nslot failover=true ok\nslot invalidation_reason=wal_removed fail\nsynchronized_standby_slots=sb1_slot ok\n", "undelivered changes are gone"},
		{"pg15 refused", 150010, false, pg15Settings, pg15Slot,
			"server version=15.10 fail\n", "has no failover slots (server_version_num 150010 < 170000)"},
		{"pg16 refused", 160004, false, pg15Settings, pg15Slot,
			"server version=16.4 fail\n", "upgrade to 17 or later"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := JudgePrimary("cdcflow", server(t, tt.num, tt.recovery, tt.settings, tt.slot))
			if got := findings(fs); got != tt.want {
				t.Errorf("JudgePrimary =\n%s; want\n%s", got, tt.want)
			}
			if tt.fix != "" && !strings.Contains(fmt.Sprint(fs), tt.fix) {
				t.Errorf("JudgePrimary = %+v; want a fix saying %q", fs, tt.fix)
			}
		})
	}
}

func TestJudgeStandby(t *testing.T) {
	tests := []struct {
		name     string
		num      int
		recovery bool
		settings string
		slot     string
		list     []string
		want     string
	}{
		{"ready", 170002, true, standbySettings, pg17SyncedSlot, []string{"sb1_slot"},
			"standby sync_replication_slots=on ok\nstandby hot_standby_feedback=on ok\nstandby primary_slot_name=sb1_slot ok\nstandby primary_conninfo dbname=shop ok\nstandby slot synced=true, ready for failover ok\n"},
		{"not listed on the primary", 170002, true, standbySettings, pg17SyncedSlot, []string{"sb2_slot"},
			"standby sync_replication_slots=on ok\nstandby hot_standby_feedback=on ok\nstandby primary_slot_name=sb1_slot warn\nstandby primary_conninfo dbname=shop ok\nstandby slot synced=true, ready for failover ok\n"},
		{"not sync-ready", 170002, true, standbySettings, pg17SyncingSlot, nil,
			"standby sync_replication_slots=on ok\nstandby hot_standby_feedback=on ok\nstandby primary_slot_name=sb1_slot ok\nstandby primary_conninfo dbname=shop ok\nstandby slot synced=synced true, temporary true fail\n"},
		{"invalidated", 170002, true, standbySettings, pg17InvalidSlot, nil,
			"standby sync_replication_slots=on ok\nstandby hot_standby_feedback=on ok\nstandby primary_slot_name=sb1_slot ok\nstandby primary_conninfo dbname=shop ok\nstandby slot invalidation_reason=wal_removed fail\n"},
		{"no slot sync", 170002, true, standbyNoSync, "", nil,
			"standby sync_replication_slots=off fail\nstandby hot_standby_feedback=off fail\nstandby primary_slot_name=empty fail\nstandby primary_conninfo dbname=none fail\nstandby slot=absent fail\n"},
		{"conninfo hidden", 170002, true, standbyHiddenConninf, pg17SyncedSlot, nil,
			"standby sync_replication_slots=on ok\nstandby hot_standby_feedback=on ok\nstandby primary_slot_name=sb1_slot ok\nstandby primary_conninfo dbname=not readable warn\nstandby slot synced=true, ready for failover ok\n"},
		{"a primary", 170002, false, standbySettings, pg17SyncedSlot, nil, "standby role=primary fail\n"},
		{"pg15", 150010, true, pg15Settings, pg15Slot, nil, "standby version=15.10 fail\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := JudgeStandby("cdcflow", tt.list, server(t, tt.num, tt.recovery, tt.settings, tt.slot))
			if got := findings(fs); got != tt.want {
				t.Errorf("JudgeStandby =\n%s; want\n%s", got, tt.want)
			}
			if strings.Contains(fmt.Sprintf("%+v", fs), "s3cret") {
				t.Errorf("JudgeStandby shows the password: %+v", fs)
			}
		})
	}
}

func TestAlterFailoverCommand(t *testing.T) {
	if got, want := alterFailoverCommand("cdcflow"), `ALTER_REPLICATION_SLOT "cdcflow" ( FAILOVER true )`; got != want {
		t.Errorf("alterFailoverCommand = %q; want %q", got, want)
	}
}

func TestConfigFailoverSlotNeedsPersistentSlot(t *testing.T) {
	base := Config{DSN: "postgres://x", Tables: []string{"t"}, FailoverSlot: true}
	if err := base.Validate(); err != nil {
		t.Fatalf("Validate(failover) = %v", err)
	}
	for _, c := range []Config{
		{DSN: "postgres://x", Tables: []string{"t"}, FailoverSlot: true, Temporary: true},
		{DSN: "postgres://x", Tables: []string{"t"}, FailoverSlot: true, SnapshotMode: SnapshotInitialOnly},
	} {
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "failover slot must be persistent") {
			t.Errorf("Validate(%+v) = %v; want the persistent-slot error", c, err)
		}
	}
}
