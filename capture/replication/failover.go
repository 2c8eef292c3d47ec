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

// failoverQuery reads the version, role and settings (pg_settings leaves
// out what the version lacks and what the role may not see);
// failoverSlotQuery the slot's row as JSON, so that one query serves every
// version (the columns PostgreSQL 17 added are simply absent before it).
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
			"the slot can run ahead of the standby: changes sent to cdcflow may be missing on a promoted standby, so after a failover the slot resumes only if nothing was published past the switch point (otherwise: a new snapshot); set it to the standby's physical slot")
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
