package replication

import (
	"fmt"
	"slices"
	"strings"

	"github.com/cdcflow/cdcflow/capture"
)

// failoverWitness is what a session on a primary verified: that slot
// streams as a failover slot with synchronized_standby_slots naming
// StandbySlots (physical slots, never the logical one). The Reader keeps
// the last one in memory; a promoted standby's synced slot resumes with
// the same identity only when it was one of those standbys.
type failoverWitness struct {
	SystemID     string
	Timeline     int32
	StandbySlots []string
}

// promotion is what the first session on a timeline newer than the slot's
// position sees: the server's failover state, the slot's position, the
// timeline history and what this process verified on the old primary.
type promotion struct {
	Configured bool // Config.FailoverSlot
	Server     ServerFailover
	Source     capture.Source // the current server's identity
	Confirmed  capture.LSN
	Witness    *failoverWitness
	// Hist is the current timeline's history; Published the last position
	// known durable downstream (Config.Published), nil when unknown.
	Hist      []tlSwitch
	Published *published
	// Resumed says this process already resumed the slot on this server
	// (a reconnect before the slot confirmed past the switch point);
	// StreamedOld that it streamed from an earlier timeline of this
	// cluster, which makes Published, read at its start, stale.
	Resumed, StreamedOld bool
}

// published is a position known durable downstream: the source URI it was
// published under and its commit LSN.
type published struct {
	Source string
	LSN    capture.LSN
}

// keepIdentity decides whether a slot whose position predates the current
// timeline may resume as the same source (no new snapshot, event ids kept),
// and says why not when it may not. It is pure.
//
// It may when the slot is a failover slot that PostgreSQL's slot
// synchronization carried over (synced, persistent, valid on the promoted
// server) and nothing cdcflow published can be missing from this server's
// history. That is known in two ways: this process verified, on the old
// primary of the same cluster, that synchronized_standby_slots named this
// server's physical slot (the old primary then sent no change to cdcflow
// before this server had flushed it: walsender.c NeedToWaitForStandbys);
// or the last position durable downstream lies in this server's history
// (the timeline that wrote it there is the one it was published under).
func keepIdentity(p promotion) (bool, string) {
	if ok, why := slotCarried(p); !ok {
		return false, why
	}
	if p.Resumed {
		return true, ""
	}
	ok, why := witnessCovers(p)
	if ok {
		return true, ""
	}
	if p.StreamedOld {
		// What it handed on since Published was read is unknown there.
		return false, why
	}
	if p.Published == nil {
		return false, why
	}
	if ok, whyP := publishedInHistory(p); !ok {
		return false, why + "; and " + whyP
	}
	return true, ""
}

// resumeFrom returns where a slot kept across a promotion resumes: its
// confirmed position or, when the position durable downstream lies in this
// server's history on a timeline that began after it, that timeline's
// switch point. Everything before that switch point is then durable
// downstream, and starting there makes the session name the timeline the
// stored position names, so that the exactly-once skip recognises what
// follows. It is pure.
func resumeFrom(p promotion) capture.LSN {
	start := p.Confirmed
	if p.Published == nil || p.StreamedOld {
		return start
	}
	if ok, _ := publishedInHistory(p); !ok {
		return start
	}
	for _, h := range p.Hist {
		if h.Switch <= p.Published.LSN && h.Switch > start {
			start = h.Switch
		}
	}
	return start
}

// publishedInHistory reports whether the last published position lies in
// the current timeline's history.
func publishedInHistory(p promotion) (bool, string) {
	pub := p.Published
	tl := timelineAt(p.Hist, p.Source.Timeline, pub.LSN)
	want := capture.Source{SystemID: p.Source.SystemID, Timeline: tl, Database: p.Source.Database}.URI()
	if pub.Source != want {
		return false, fmt.Sprintf("the last position published (%s under %s) is not in this server's history, where timeline %d wrote that position: the old primary ran ahead of this server", pub.LSN, pub.Source, tl)
	}
	return true, ""
}

// slotCarried checks the configuration and the slot's row: a failover slot
// that slot synchronization carried over, sync-ready and valid.
func slotCarried(p promotion) (bool, string) {
	s := p.Server
	switch {
	case !p.Configured:
		return false, "source.failover_slot is off"
	case !s.Supported():
		return false, fmt.Sprintf("PostgreSQL %s has no failover slots", s.Version)
	case !s.Slot.Failover:
		return false, "the slot is not a failover slot (failover = false): it was not synchronized from the old primary"
	case !s.Slot.Synced:
		return false, "the slot was not synchronized from the old primary (synced = false): it is a stale copy, not the primary's slot"
	case s.Slot.Temporary:
		return false, "the synchronized slot was not sync-ready (temporary) at the promotion"
	case s.Slot.InvalidationReason != "":
		return false, "the slot was invalidated (" + s.Slot.InvalidationReason + ")"
	}
	return true, ""
}

// witnessCovers checks what this process verified on the old primary.
func witnessCovers(p promotion) (bool, string) {
	s, w := p.Server, p.Witness
	switch {
	case w == nil && p.StreamedOld:
		return false, "synchronized_standby_slots was empty on the old primary while this process streamed from it, so the slot may have run ahead of this server"
	case w == nil:
		return false, "this process did not verify synchronized_standby_slots on the old primary (it started after the failover), so the slot may have run ahead of this server"
	case w.SystemID != p.Source.SystemID:
		return false, fmt.Sprintf("the old primary verified was another cluster (system identifier %s)", w.SystemID)
	case w.Timeline >= p.Source.Timeline:
		return false, fmt.Sprintf("the verification was made on timeline %d, not on an earlier one", w.Timeline)
	case s.PrimarySlotName == "":
		return false, "this server has no primary_slot_name left from its standby days to match against synchronized_standby_slots"
	case !slices.Contains(w.StandbySlots, s.PrimarySlotName):
		return false, fmt.Sprintf("the old primary's synchronized_standby_slots (%s) did not list this server's physical slot %q", strings.Join(w.StandbySlots, ", "), s.PrimarySlotName)
	}
	return true, ""
}

// tlSwitch is one line of a timeline history file: timeline Parent ended
// where the next one began, at LSN Switch.
type tlSwitch struct {
	Parent int32
	Switch capture.LSN
}

// parseHistory reads a timeline history file ("<parent tli>\t<switch
// lsn>\t<reason>" per line, oldest first).
func parseHistory(content []byte) ([]tlSwitch, error) {
	var out []tlSwitch
	for _, line := range strings.Split(string(content), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		var tli int32
		if _, err := fmt.Sscanf(f[0], "%d", &tli); err != nil {
			continue
		}
		lsn, err := capture.ParseLSN(f[1])
		if err != nil {
			return nil, err
		}
		out = append(out, tlSwitch{Parent: tli, Switch: lsn})
	}
	return out, nil
}

// timelineAt returns the timeline that wrote WAL position lsn in the
// history of timeline tl: a record that starts before a switch point
// belongs to that switch's parent (PostgreSQL's tliOfPointInHistory).
func timelineAt(hist []tlSwitch, tl int32, lsn capture.LSN) int32 {
	for _, h := range hist {
		if lsn < h.Switch {
			return h.Parent
		}
	}
	return tl
}

// identityPlan is how a session names its source when it resumes a slot
// across a promotion: the source's timeline is the one that wrote each
// position, so a position keeps the id it had on the old primary. Events
// from Switch on take timeline Next.
type identityPlan struct {
	hist []tlSwitch
	tl   int32 // the current timeline
}

// sourceAt returns src with the timeline that wrote lsn.
func (p *identityPlan) sourceAt(src capture.Source, lsn capture.LSN) capture.Source {
	src.Timeline = timelineAt(p.hist, p.tl, lsn)
	return src
}

// crossTimeline returns the Connected that must precede msg, when the
// session resumed a slot across a promotion (Reader.identity) and msg is
// the first message written by a newer timeline: its events take that
// timeline in their source. It returns nil otherwise.
func (r *Reader) crossTimeline(msg capture.Message) *capture.Connected {
	if r.identity == nil {
		return nil
	}
	var lsn capture.LSN
	switch m := msg.(type) {
	case *capture.Begin:
		lsn = m.FinalLSN
	case *capture.Marker:
		lsn = m.LSN
	default:
		return nil
	}
	next := r.identity.sourceAt(r.source, lsn)
	if next == r.source {
		return nil
	}
	start := lsn
	for _, h := range r.identity.hist {
		if h.Parent == r.source.Timeline {
			start = h.Switch
		}
	}
	r.log.Info("stream crossed the timeline switch: the following events take the new timeline in their source",
		"from_timeline", r.source.Timeline, "to_timeline", next.Timeline, "switch_lsn", start)
	r.source = next
	if next.Timeline == r.identity.tl {
		r.identity = nil // on the current timeline: nothing more to cross
	}
	return &capture.Connected{Source: next, StartLSN: start}
}
