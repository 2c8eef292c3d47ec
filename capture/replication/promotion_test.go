package replication

import (
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/cdcflow/cdcflow/capture"
)

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
		{"published, but this process streamed from the old primary since", func(p *promotion) {
			p.Witness, p.Published, p.StreamedOld = nil, &published{"postgres://7301/shop?tl=1", 0x4F80000}, true
		}, "was empty on the old primary while this process streamed from it"},
		{"resumed already on this server (a reconnect)", func(p *promotion) {
			p.Witness, p.Resumed = nil, true
		}, ""},
		{"resumed already, but the slot is now invalidated", func(p *promotion) {
			p.Witness, p.Resumed = nil, true
			p.Server.Slot.InvalidationReason = "wal_removed"
		}, "invalidated"},
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
	p := promotion{Source: capture.Source{SystemID: "7301", Timeline: 3, Database: "shop"}, Confirmed: 0x4F00000, Hist: hist3,
		Published: &published{"postgres://7301/shop?tl=2", 0x6000000}, StreamedOld: true}
	if got := resumeFrom(p); got != 0x4F00000 {
		t.Errorf("resumeFrom with a stale published position = %s; want the confirmed position", got)
	}
	for _, tt := range tests {
		p := promotion{Source: capture.Source{SystemID: "7301", Timeline: 3, Database: "shop"}, Confirmed: tt.confirmed, Hist: hist3, Published: tt.pub}
		if got := resumeFrom(p); got != tt.want {
			t.Errorf("%s: resumeFrom = %s; want %s", tt.name, got, tt.want)
		}
	}
}
