package replication

import (
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/cdcflow/cdcflow/capture"
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

// history2 and history3 are timeline history files as PostgreSQL writes
// them (00000002.history, 00000003.history).
const (
	history2 = "1\t0/5000000\tno recovery target specified\n"
	history3 = "1\t0/5000000\tno recovery target specified\n\n2\t0/7A0000A0\tno recovery target specified\n"
)

func TestTimelineAt(t *testing.T) {
	hist, err := parseHistory([]byte(history3))
	if err != nil {
		t.Fatal(err)
	}
	if want := []tlSwitch{{1, 0x5000000}, {2, 0x7A0000A0}}; !reflect.DeepEqual(hist, want) {
		t.Fatalf("parseHistory = %v; want %v", hist, want)
	}
	tests := []struct {
		lsn  capture.LSN
		want int32
	}{
		{0x1000000, 1}, {0x4FFFFFF, 1}, {0x5000000, 2}, {0x7A00009F, 2}, {0x7A0000A0, 3}, {0x90000000, 3},
	}
	for _, tt := range tests {
		if got := timelineAt(hist, 3, tt.lsn); got != tt.want {
			t.Errorf("timelineAt(%s) = %d; want %d", tt.lsn, got, tt.want)
		}
	}
}

// verified is a promotion that keepIdentity accepts: the promoted standby
// (now timeline 2 of cluster 7301) with its synced failover slot, after
// this process verified synchronized_standby_slots on timeline 1.
func verified(t *testing.T) promotion {
	s := server(t, 170002, false, standbySettings, pg17SyncedSlot)
	hist, err := parseHistory([]byte(history2))
	if err != nil {
		t.Fatal(err)
	}
	return promotion{
		Hist:       hist,
		Configured: true, Server: s,
		Source:    capture.Source{SystemID: "7301", Timeline: 2, Database: "shop"},
		Confirmed: 0x3000098,
		Witness:   &failoverWitness{SystemID: "7301", Timeline: 1, StandbySlots: []string{"sb1_slot"}},
	}
}

func TestKeepIdentity(t *testing.T) {
	tests := []struct {
		name   string
		change func(p *promotion)
		why    string // "" = kept
	}{
		{"verified", func(*promotion) {}, ""},
		{"two standbys listed", func(p *promotion) { p.Witness.StandbySlots = []string{"sb0_slot", "sb1_slot"} }, ""},
		{"switch off", func(p *promotion) { p.Configured = false }, "source.failover_slot is off"},
		{"pg15", func(p *promotion) { p.Server = server(t, 150010, false, pg15Settings, pg15Slot) }, "PostgreSQL 15.10 has no failover slots"},
		{"not a failover slot", func(p *promotion) { p.Server.Slot.Failover = false }, "not a failover slot"},
		{"a stale copy", func(p *promotion) { p.Server.Slot.Synced = false }, "synced = false"},
		{"not sync-ready", func(p *promotion) { p.Server.Slot.Temporary = true }, "not sync-ready"},
		{"invalidated", func(p *promotion) { p.Server.Slot.InvalidationReason = "rows_removed" }, "invalidated (rows_removed)"},
		{"no witness", func(p *promotion) { p.Witness = nil }, "started after the failover"},
		{"another cluster", func(p *promotion) { p.Witness.SystemID = "9999" }, "another cluster"},
		{"same timeline", func(p *promotion) { p.Witness.Timeline = 2 }, "not on an earlier one"},
		{"no primary_slot_name", func(p *promotion) { p.Server.PrimarySlotName = "" }, "no primary_slot_name"},
		{"another standby", func(p *promotion) { p.Witness.StandbySlots = []string{"sb2_slot"} }, `did not list this server's physical slot "sb1_slot"`},
		{"list was empty", func(p *promotion) { p.Witness.StandbySlots = nil }, "did not list"},
		// A process started after the failover knows what Kafka holds.
		{"published before the switch", func(p *promotion) {
			p.Witness, p.Published = nil, &published{"postgres://7301/shop?tl=1", 0x4F80000}
		}, ""},
		{"published after the switch, on the new timeline", func(p *promotion) {
			p.Witness, p.Published = nil, &published{"postgres://7301/shop?tl=2", 0x5000100}
		}, ""},
		{"published past the switch by the old primary", func(p *promotion) {
			p.Witness, p.Published = nil, &published{"postgres://7301/shop?tl=1", 0x5000100}
		}, "the old primary ran ahead of this server"},
		{"published by another cluster", func(p *promotion) {
			p.Witness, p.Published = nil, &published{"postgres://9999/shop?tl=1", 0x4F80000}
		}, "is not in this server's history"},
		{"published, but the slot is a stale copy", func(p *promotion) {
			p.Witness, p.Published = nil, &published{"postgres://7301/shop?tl=1", 0x4F80000}
			p.Server.Slot.Synced = false
		}, "synced = false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := verified(t)
			tt.change(&p)
			keep, why := keepIdentity(p)
			if keep != (tt.why == "") || !strings.Contains(why, tt.why) {
				t.Errorf("keepIdentity = %v, %q; want kept %v, %q", keep, why, tt.why == "", tt.why)
			}
		})
	}
}

// TestCrossTimeline follows a session that resumed a failover slot on the
// promoted server (timeline 2, switch at 0/5000000) from a position the old
// primary (timeline 1) had confirmed: it names timeline 1 until the switch,
// so the events it re-sends keep the source, and so the ids and the
// exactly-once position, they had; from the switch on, timeline 2.
func TestCrossTimeline(t *testing.T) {
	hist, err := parseHistory([]byte(history2))
	if err != nil {
		t.Fatal(err)
	}
	old := capture.Source{SystemID: "7301", Timeline: 1, Database: "shop"} // what the old primary named
	cur := capture.Source{SystemID: "7301", Timeline: 2, Database: "shop"} // IDENTIFY_SYSTEM on the promoted server
	r := &Reader{log: slog.New(slog.DiscardHandler), identity: &identityPlan{hist: hist, tl: cur.Timeline}}
	r.source = r.identity.sourceAt(cur, 0x4F00000) // the slot's confirmed_flush_lsn
	if r.source.URI() != old.URI() {
		t.Fatalf("session source = %s; want the old primary's %s", r.source.URI(), old.URI())
	}
	msgs := []capture.Message{
		&capture.Begin{FinalLSN: 0x4F80000}, &capture.Change{FinalLSN: 0x4F80000}, &capture.Commit{FinalLSN: 0x4F80000, EndLSN: 0x4F80100},
		&capture.Marker{Kind: capture.MarkerHeartbeat, LSN: 0x4FFFF00},
		&capture.Begin{FinalLSN: 0x5000100}, &capture.Change{FinalLSN: 0x5000100}, &capture.Commit{FinalLSN: 0x5000100, EndLSN: 0x5000200},
		&capture.Begin{FinalLSN: 0x5100000},
	}
	var got []string
	for _, m := range msgs {
		if c := r.crossTimeline(m); c != nil {
			got = append(got, fmt.Sprintf("connected %s from %s", c.Source.URI(), c.StartLSN))
		}
		got = append(got, fmt.Sprintf("%T %s", m, r.source.URI()))
	}
	want := []string{
		"*capture.Begin postgres://7301/shop?tl=1",
		"*capture.Change postgres://7301/shop?tl=1",
		"*capture.Commit postgres://7301/shop?tl=1",
		"*capture.Marker postgres://7301/shop?tl=1",
		"connected postgres://7301/shop?tl=2 from 0/5000000",
		"*capture.Begin postgres://7301/shop?tl=2",
		"*capture.Change postgres://7301/shop?tl=2",
		"*capture.Commit postgres://7301/shop?tl=2",
		"*capture.Begin postgres://7301/shop?tl=2",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("crossTimeline:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if r.identity != nil {
		t.Errorf("identity plan kept after reaching the current timeline")
	}
}

// TestCrossTimelineNone: a session that did not resume across a promotion
// (no identity plan) never hands on a second Connected.
func TestCrossTimelineNone(t *testing.T) {
	r := &Reader{source: capture.Source{SystemID: "7301", Timeline: 2, Database: "shop"}}
	for _, m := range []capture.Message{&capture.Begin{FinalLSN: 1}, &capture.Marker{LSN: 0x90000000}} {
		if c := r.crossTimeline(m); c != nil {
			t.Errorf("crossTimeline(%v) = %+v; want nil", m, c)
		}
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

func TestResumeFrom(t *testing.T) {
	hist3, err := parseHistory([]byte(history3)) // switches at 0/5000000 (1→2) and 0/7A0000A0 (2→3)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		confirmed capture.LSN
		pub       *published
		want      capture.LSN
	}{
		{"nothing known downstream", 0x4F00000, nil, 0x4F00000},
		{"stored before the switch", 0x4F00000, &published{"postgres://7301/shop?tl=1", 0x4F80000}, 0x4F00000},
		{"stored after the first switch", 0x4F00000, &published{"postgres://7301/shop?tl=2", 0x6000000}, 0x5000000},
		{"stored after both switches", 0x4F00000, &published{"postgres://7301/shop?tl=3", 0x7B000000}, 0x7A0000A0},
		{"stored not in the history", 0x4F00000, &published{"postgres://7301/shop?tl=1", 0x6000000}, 0x4F00000},
		{"confirmed past the switch already", 0x5100000, &published{"postgres://7301/shop?tl=2", 0x6000000}, 0x5100000},
	}
	for _, tt := range tests {
		p := promotion{Source: capture.Source{SystemID: "7301", Timeline: 3, Database: "shop"}, Confirmed: tt.confirmed, Hist: hist3, Published: tt.pub}
		if got := resumeFrom(p); got != tt.want {
			t.Errorf("%s: resumeFrom = %s; want %s", tt.name, got, tt.want)
		}
	}
}
