package replication

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cdcflow/cdcflow/capture"
)

// FailoverMinVersion is the first server_version_num with failover slots:
// PostgreSQL 17 added the slots' failover property, the standby's slot
// synchronization (sync_replication_slots) and synchronized_standby_slots.
const FailoverMinVersion = 170000

// ErrFailoverUnsupported is returned (wrapped) when Config.FailoverSlot is
// set and the server is older than PostgreSQL 17.
var ErrFailoverUnsupported = errors.New("failover slots need PostgreSQL 17 or later")

// failoverSettings are the settings read for failover slots, by name.
var failoverSettings = []string{
	"synchronized_standby_slots", "sync_replication_slots", "hot_standby_feedback",
	"primary_slot_name", "primary_conninfo",
}

// ServerFailover is what a server says of failover slots: its version, its
// role and its settings, and one slot's failover columns. Fields of settings
// the server does not have (before 17) or does not show to the role
// (primary_conninfo needs pg_read_all_settings) are "" and listed in Hidden.
type ServerFailover struct {
	// VersionNum is server_version_num (170002 for 17.2), Version its text.
	VersionNum int
	Version    string
	// InRecovery is pg_is_in_recovery(): true on a standby.
	InRecovery bool
	// SynchronizedStandbySlots is the primary's synchronized_standby_slots:
	// the physical slots whose standbys must have received WAL before a
	// failover slot's consumer is sent changes from it.
	SynchronizedStandbySlots string
	// SyncReplicationSlots ("on"/"off"), HotStandbyFeedback, PrimarySlotName
	// and PrimaryDBName (the dbname in primary_conninfo, never the rest of
	// it) are the standby's side of slot synchronization.
	SyncReplicationSlots, HotStandbyFeedback, PrimarySlotName, PrimaryDBName string
	// Hidden lists the settings the role could not read.
	Hidden []string
	// Slot is the slot's row in pg_replication_slots.
	Slot FailoverSlot
}

// FailoverSlot is a slot's row in pg_replication_slots as far as failover is
// concerned. Before PostgreSQL 17 the failover, synced and
// invalidation_reason columns do not exist and read as false and "".
type FailoverSlot struct {
	Exists    bool
	Failover  bool
	Synced    bool
	Temporary bool
	// InvalidationReason is why PostgreSQL invalidated the slot
	// (wal_removed, rows_removed, wal_level_insufficient, idle_timeout); ""
	// while it is valid.
	InvalidationReason string
	// Conflicting is true when a slot on a standby was invalidated by a
	// recovery conflict.
	Conflicting bool
}

// Supported reports whether the server has failover slots.
func (s ServerFailover) Supported() bool { return s.VersionNum >= FailoverMinVersion }

// StandbySlots returns synchronized_standby_slots as a list of names.
func (s ServerFailover) StandbySlots() []string { return splitSlotList(s.SynchronizedStandbySlots) }

// failoverQuery reads the version, role and settings; failoverSlotQuery
// the slot's row as JSON, so that one query serves every version (the
// columns PostgreSQL 17 added are simply absent before it). Both are
// exported to tests through these names, which the unit tests check.
const (
	failoverQuery = `SELECT current_setting('server_version_num')::int, current_setting('server_version'), pg_is_in_recovery(),
		coalesce((SELECT json_object_agg(name, setting) FROM pg_settings WHERE name = ANY($1)), '{}')::text`
	failoverSlotQuery = `SELECT to_jsonb(s)::text FROM pg_replication_slots s WHERE slot_name = $1`
)

// ReadFailover reads what the server behind conn (a normal connection) says
// of failover slots and of slot name. It blocks on the server and works on
// every supported version.
func ReadFailover(ctx context.Context, conn *pgx.Conn, name string) (ServerFailover, error) {
	var s ServerFailover
	var settings string
	if err := conn.QueryRow(ctx, failoverQuery, failoverSettings).Scan(&s.VersionNum, &s.Version, &s.InRecovery, &settings); err != nil {
		return s, fmt.Errorf("read failover settings: %w", err)
	}
	if err := s.setSettings([]byte(settings)); err != nil {
		return s, fmt.Errorf("read failover settings: %w", err)
	}
	var row string
	err := conn.QueryRow(ctx, failoverSlotQuery, name).Scan(&row)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return s, fmt.Errorf("read slot %q: %w", name, err)
	default:
		if s.Slot, err = parseFailoverSlot([]byte(row)); err != nil {
			return s, fmt.Errorf("read slot %q: %w", name, err)
		}
	}
	return s, nil
}

// readFailover is ReadFailover; a test on PostgreSQL 15 replaces it to lend
// a slot the failover columns PostgreSQL 17 would show.
var readFailover = ReadFailover

// setSettings takes the settings from the JSON object failoverQuery
// returns (name: setting).
func (s *ServerFailover) setSettings(b []byte) error {
	var m map[string]*string
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	// A setting the server has but pg_settings does not show the role is
	// hidden; one the version lacks is simply empty.
	get := func(name string, since int) string {
		v, ok := m[name]
		if !ok || v == nil {
			if s.VersionNum >= since {
				s.Hidden = append(s.Hidden, name)
			}
			return ""
		}
		return *v
	}
	s.SynchronizedStandbySlots = get("synchronized_standby_slots", FailoverMinVersion)
	s.SyncReplicationSlots = get("sync_replication_slots", FailoverMinVersion)
	s.HotStandbyFeedback = get("hot_standby_feedback", 0)
	s.PrimarySlotName = get("primary_slot_name", 0)
	conninfo := get("primary_conninfo", 0)
	s.PrimaryDBName = conninfoDBName(conninfo)
	return nil
}

// parseFailoverSlot reads a pg_replication_slots row given as JSON.
func parseFailoverSlot(b []byte) (FailoverSlot, error) {
	var r struct {
		Failover           *bool   `json:"failover"`
		Synced             *bool   `json:"synced"`
		Temporary          bool    `json:"temporary"`
		InvalidationReason *string `json:"invalidation_reason"`
		Conflicting        *bool   `json:"conflicting"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return FailoverSlot{}, err
	}
	s := FailoverSlot{Exists: true, Temporary: r.Temporary}
	if r.Failover != nil {
		s.Failover = *r.Failover
	}
	if r.Synced != nil {
		s.Synced = *r.Synced
	}
	if r.InvalidationReason != nil {
		s.InvalidationReason = *r.InvalidationReason
	}
	if r.Conflicting != nil {
		s.Conflicting = *r.Conflicting
	}
	return s, nil
}

// conninfoDBName returns the dbname of a libpq connection string (keyword/
// value or URI form), and nothing else of it: primary_conninfo may hold a
// password.
func conninfoDBName(s string) string {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://") {
		u, err := url.Parse(s)
		if err != nil {
			return ""
		}
		if db := u.Query().Get("dbname"); db != "" {
			return db
		}
		return strings.TrimPrefix(u.Path, "/")
	}
	for len(s) > 0 {
		s = strings.TrimLeft(s, " \t\n\r")
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return ""
		}
		key := strings.TrimSpace(s[:eq])
		s = strings.TrimLeft(s[eq+1:], " \t\n\r")
		var val strings.Builder
		if strings.HasPrefix(s, "'") {
			i := 1
			for ; i < len(s) && s[i] != '\''; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				val.WriteByte(s[i])
			}
			s = s[min(i+1, len(s)):]
		} else {
			i := 0
			for ; i < len(s) && !strings.ContainsRune(" \t\n\r", rune(s[i])); i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				val.WriteByte(s[i])
			}
			s = s[i:]
		}
		if key == "dbname" {
			return val.String()
		}
	}
	return ""
}

// splitSlotList splits a list setting ("a, b" or `"a", b`) into names.
func splitSlotList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.Trim(strings.TrimSpace(f), `"`)
		if f != "" {
			out = append(out, f)
		}
	}
	return out
}

// FailoverLevel grades a FailoverFinding.
type FailoverLevel int

// The levels of a finding.
const (
	// FailoverOK says the item is as failover needs it.
	FailoverOK FailoverLevel = iota
	// FailoverWarn says failover works but may lose or repeat: e.g. the
	// slot can run ahead of the standby.
	FailoverWarn
	// FailoverFail says the setup cannot work or is refused.
	FailoverFail
)

func (l FailoverLevel) String() string {
	return [...]string{"ok", "warn", "fail"}[l]
}

// FailoverFinding is one judged item of a failover setup.
type FailoverFinding struct {
	Name  string
	Value string
	Level FailoverLevel
	// Fix says what to do when Level is not FailoverOK.
	Fix string
}

// JudgePrimary judges the primary's side of failover slots for slot: the
// version, the slot's failover property and synchronized_standby_slots,
// which must name the standbys' physical slots (never the logical slot
// itself) and should not be empty. It is pure.
func JudgePrimary(slot string, p ServerFailover) []FailoverFinding {
	var out []FailoverFinding
	add := func(name, value string, l FailoverLevel, fix string) {
		out = append(out, FailoverFinding{Name: name, Value: value, Level: l, Fix: fix})
	}
	if !p.Supported() {
		add("server version", p.Version, FailoverFail,
			fmt.Sprintf("PostgreSQL %s has no failover slots (server_version_num %d < %d): upgrade to 17 or later, or turn source.failover_slot off", p.Version, p.VersionNum, FailoverMinVersion))
		return out
	}
	add("server version", p.Version, FailoverOK, "")
	if p.InRecovery {
		add("role", "standby", FailoverFail, "source.dsn reaches a standby: a failover slot is created and streamed on the primary; use a multi-host DSN with target_session_attrs=read-write")
	}
	switch {
	case !p.Slot.Exists:
		add("slot failover", "slot does not exist yet", FailoverOK, "")
	case p.Slot.Failover:
		add("slot failover", "true", FailoverOK, "")
	default:
		add("slot failover", "false", FailoverWarn, fmt.Sprintf("cdcflow run sets it (ALTER_REPLICATION_SLOT %s (FAILOVER true)) at its next session", quoteIdent(slot)))
	}
	if p.Slot.InvalidationReason != "" {
		add("slot invalidation_reason", p.Slot.InvalidationReason, FailoverFail, "the slot was invalidated: its undelivered changes are gone")
	}
	list := p.StandbySlots()
	switch {
	case slices.Contains(p.Hidden, "synchronized_standby_slots"):
		add("synchronized_standby_slots", "not readable", FailoverWarn, "grant pg_read_all_settings to the role so that cdcflow can check it")
	case slices.Contains(list, slot):
		add("synchronized_standby_slots", p.SynchronizedStandbySlots, FailoverFail,
			fmt.Sprintf("it lists the logical slot %q itself: list the standby's physical slot (its primary_slot_name) instead, e.g. ALTER SYSTEM SET synchronized_standby_slots = 'standby1_slot'; SELECT pg_reload_conf();", slot))
	case len(list) == 0:
		add("synchronized_standby_slots", "empty", FailoverWarn,
			"the slot can run ahead of the standby: changes sent to cdcflow may be missing on a promoted standby, so a failover counts as a new source (new snapshot); set it to the standby's physical slot")
	default:
		add("synchronized_standby_slots", p.SynchronizedStandbySlots, FailoverOK, "")
	}
	return out
}

// JudgeStandby judges a standby's side of slot synchronization for slot,
// given the primary's synchronized_standby_slots (nil when unknown):
// sync_replication_slots and hot_standby_feedback on, primary_slot_name set
// (and listed on the primary), a dbname in primary_conninfo, and the slot
// synced, persistent and valid — PostgreSQL's own failover_ready test
// (synced AND NOT temporary AND invalidation_reason IS NULL). It is pure.
func JudgeStandby(slot string, primaryList []string, s ServerFailover) []FailoverFinding {
	var out []FailoverFinding
	add := func(name, value string, l FailoverLevel, fix string) {
		out = append(out, FailoverFinding{Name: name, Value: value, Level: l, Fix: fix})
	}
	if !s.Supported() {
		add("standby version", s.Version, FailoverFail, "the standby needs PostgreSQL 17 or later to synchronize slots")
		return out
	}
	if !s.InRecovery {
		add("standby role", "primary", FailoverFail, "source.standby_dsn reaches a primary, not a standby (after a failover, point it at the new standby)")
		return out
	}
	onOff := func(name, v, fix string) {
		switch {
		case slices.Contains(s.Hidden, name):
			add("standby "+name, "not readable", FailoverWarn, "grant pg_read_all_settings to the role")
		case v == "on":
			add("standby "+name, v, FailoverOK, "")
		default:
			add("standby "+name, cmpOr(v, "off"), FailoverFail, fix)
		}
	}
	onOff("sync_replication_slots", s.SyncReplicationSlots, "run ALTER SYSTEM SET sync_replication_slots = on; SELECT pg_reload_conf(); on the standby")
	onOff("hot_standby_feedback", s.HotStandbyFeedback, "run ALTER SYSTEM SET hot_standby_feedback = on; SELECT pg_reload_conf(); on the standby (slot synchronization needs it)")
	switch {
	case s.PrimarySlotName == "":
		add("standby primary_slot_name", "empty", FailoverFail, "the standby must stream through a physical slot on the primary: set primary_slot_name")
	case primaryList != nil && !slices.Contains(primaryList, s.PrimarySlotName):
		add("standby primary_slot_name", s.PrimarySlotName, FailoverWarn,
			fmt.Sprintf("the primary's synchronized_standby_slots does not list %q: the slot can run ahead of this standby, and its promotion counts as a new source", s.PrimarySlotName))
	default:
		add("standby primary_slot_name", s.PrimarySlotName, FailoverOK, "")
	}
	switch {
	case slices.Contains(s.Hidden, "primary_conninfo"):
		add("standby primary_conninfo dbname", "not readable", FailoverWarn, "grant pg_read_all_settings to the role")
	case s.PrimaryDBName == "":
		add("standby primary_conninfo dbname", "none", FailoverFail, "slot synchronization needs dbname in primary_conninfo")
	default:
		add("standby primary_conninfo dbname", s.PrimaryDBName, FailoverOK, "")
	}
	switch sl := s.Slot; {
	case !sl.Exists:
		add("standby slot", "absent", FailoverFail, fmt.Sprintf("slot %q is not synchronized to the standby (is it a failover slot? is the slot sync worker running?)", slot))
	case !sl.Synced || sl.Temporary:
		add("standby slot synced", fmt.Sprintf("synced %t, temporary %t", sl.Synced, sl.Temporary), FailoverFail,
			"the slot is not sync-ready yet (a temporary synced slot waits for the primary's slot to pass the standby's own position): wait and look again")
	case sl.InvalidationReason != "":
		add("standby slot invalidation_reason", sl.InvalidationReason, FailoverFail, "the standby's copy was invalidated: it cannot take over")
	default:
		add("standby slot synced", "true, ready for failover", FailoverOK, "")
	}
	return out
}

func cmpOr(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

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
	ok, why := witnessCovers(p)
	if ok {
		return true, ""
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
	if p.Published == nil {
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

// alterFailover sets the failover property of slot on the replication
// connection rconn (PostgreSQL 17's ALTER_REPLICATION_SLOT). The slot must
// not be in use.
func alterFailover(ctx context.Context, rconn *pgconn.PgConn, slot string) error {
	if _, err := rconn.Exec(ctx, alterFailoverCommand(slot)).ReadAll(); err != nil {
		return fmt.Errorf("set failover on slot %q: %w", slot, err)
	}
	return nil
}

// alterFailoverCommand is the replication command alterFailover sends.
func alterFailoverCommand(slot string) string {
	return "ALTER_REPLICATION_SLOT " + quoteIdent(slot) + " ( FAILOVER true )"
}

// checkFailover runs once the slot exists, on a session with FailoverSlot:
// it refuses what JudgePrimary fails (a logical slot listed in
// synchronized_standby_slots, a standby, an invalidated slot), warns of
// the rest, and records the witness a later promotion is judged by. It
// reports whether the slot still lacks failover: the caller then sets it
// (alterFailover) once the snapshot is read, since a command on the
// replication connection would end the snapshot it exported. A new slot
// always lacks it: it is a copy of the temporary slot that exported the
// snapshot, and neither a temporary slot nor pg_copy_logical_replication_slot
// carries failover. It uses conn only.
func (r *Reader) checkFailover(ctx context.Context, conn *pgx.Conn, src capture.Source) (alter bool, err error) {
	sf, err := readFailover(ctx, conn, r.cfg.Slot)
	if err != nil {
		return false, err
	}
	var problems []string
	for _, f := range JudgePrimary(r.cfg.Slot, sf) {
		switch {
		case f.Level == FailoverFail:
			problems = append(problems, fmt.Sprintf("%s is %s: %s", f.Name, f.Value, f.Fix))
		case f.Level == FailoverWarn && f.Name != "slot failover":
			r.log.Warn("failover slot setup incomplete", "setting", f.Name, "value", f.Value, "fix", f.Fix)
		}
	}
	if len(problems) > 0 {
		r.witness = nil
		return false, fatal(&NotReadyError{Problems: problems})
	}
	if list := sf.StandbySlots(); len(list) > 0 {
		r.witness = &failoverWitness{SystemID: src.SystemID, Timeline: src.Timeline, StandbySlots: list}
	} else {
		r.witness = nil
	}
	return !sf.Slot.Failover, nil
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
