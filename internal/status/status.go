package status

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/capture/replication"
	"github.com/cdcflow/cdcflow/internal/thresholds"
	"github.com/cdcflow/cdcflow/sinks/kafka"
	"github.com/cdcflow/cdcflow/sinks/redisview"
)

// Config says where Gather looks. The zero value of an optional field leaves
// that part out.
type Config struct {
	// SourceDSN and Slot name the source database and its slot.
	SourceDSN, Slot string
	// Failover adds the failover slot's lines (source.failover_slot):
	// the primary's setup and, when StandbyDSN is set, the standby's.
	Failover   bool
	StandbyDSN string
	// Topics are the event topics (the mapping's), DeadLetterTopics the
	// dead-letter topics of the publisher and of the views.
	Topics, DeadLetterTopics []string
	// Kafka connects to the brokers; with no Brokers, Kafka is not read and
	// KafkaNote says why (e.g. "embedded broker: not running").
	Kafka     kafka.Config
	KafkaNote string
	// Redis and ViewsPrefix locate the views, which follow ViewTopics
	// (some of Topics); a nil Redis leaves them out.
	Redis       redis.UniversalClient
	ViewsPrefix string
	ViewTopics  []string
	// MetricsAddr is the live process's metrics address (host:port); empty
	// when none is configured.
	MetricsAddr string
	// Thresholds judge every line.
	Thresholds thresholds.Thresholds
	// Timeout bounds each service's reads. Default 5s.
	Timeout time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Status is where a pipeline stands at Time. Its JSON form is what
// `cdcflow status --json` prints.
type Status struct {
	Time time.Time `json:"time"`
	// Verdict is the worst verdict of Lines.
	Verdict Verdict `json:"verdict"`
	// Positions are the stages' positions side by side, in flow order:
	// postgresql, slot, then kafka per topic, then view per topic and
	// partition.
	Positions []Position `json:"positions"`
	// Lines are every judged figure, in display order.
	Lines []Line `json:"lines"`
	// Live is the running process's figures; nil when MetricsAddr did not
	// answer.
	Live *Live `json:"live,omitempty"`
	// Capture is the capture lease: which instance is active, since when,
	// after how many takeovers, and how many stand by; nil when it could
	// not be read.
	Capture *CaptureLease `json:"capture,omitempty"`
}

// CaptureLease is the holder of the slot's capture lease (active and
// standby instances, docs/deployment.md).
type CaptureLease struct {
	// Active is false when no instance holds the lease.
	Active bool `json:"active"`
	// Instance is the holder's "<host>:<pid>"; BackendPID and ClientAddr
	// its lease session's backend and client address.
	Instance   string `json:"instance,omitempty"`
	BackendPID int32  `json:"backend_pid,omitempty"`
	ClientAddr string `json:"client_addr,omitempty"`
	// Since is when the holder took the lease.
	Since *time.Time `json:"since,omitempty"`
	// Takeovers counts the takeovers the holders observed in turn, from the
	// first holder of the lease.
	Takeovers int64 `json:"takeovers"`
	// Standbys counts the instances waiting for the lease.
	Standbys int `json:"standbys"`
}

// Position is one stage's position. WAL positions are given as PostgreSQL
// prints them (LSN) and as a number (WAL) for comparisons.
type Position struct {
	Stage      string `json:"stage"` // postgresql, slot, kafka, view
	Topic      string `json:"topic,omitempty"`
	Partition  *int32 `json:"partition,omitempty"`
	Generation int64  `json:"generation,omitempty"`
	// LSN is the WAL position reached: for kafka and view, the commit LSN
	// of the last record held or applied ("" when unknown).
	LSN string `json:"lsn,omitempty"`
	WAL uint64 `json:"wal,omitempty"`
	// Offset is, for kafka, the end offset (summed over a topic's
	// partitions); for view, the next offset to apply.
	Offset *int64 `json:"offset,omitempty"`
	// BehindBytes is the slot's WAL behind PostgreSQL's current position;
	// BehindSeconds the slot's lag measured by the heartbeats (live only);
	// BehindRecords a view partition's records left to apply.
	BehindBytes   *int64   `json:"behind_bytes,omitempty"`
	BehindSeconds *float64 `json:"behind_seconds,omitempty"`
	BehindRecords *int64   `json:"behind_records,omitempty"`
}

// Line is one judged figure.
type Line struct {
	Stage     string  `json:"stage"` // source, kafka, views, process
	Name      string  `json:"name"`
	Value     string  `json:"value"`
	Threshold string  `json:"threshold,omitempty"`
	Verdict   Verdict `json:"verdict"`
}

// Verdict is a line's judgement: ok, warn or fail.
type Verdict string

// The verdicts, from thresholds.Verdict.
const (
	OK   Verdict = "ok"
	Warn Verdict = "warn"
	Fail Verdict = "fail"
)

func verdictOf(v thresholds.Verdict) Verdict { return Verdict(v.String()) }

func (v Verdict) rank() int {
	switch v {
	case Warn:
		return 1
	case Fail:
		return 2
	}
	return 0
}

// Gather reads every source cfg names and judges what it read. A source it
// cannot read becomes a failed line, not an error: the error is for ctx
// ending. It blocks on the services.
func Gather(ctx context.Context, cfg Config) (*Status, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	g := &gatherer{cfg: cfg, th: cfg.Thresholds, s: &Status{Time: cfg.Now().UTC()}}
	g.live(ctx)
	g.source(ctx)
	g.kafka(ctx)
	if g.insp != nil {
		defer g.insp.Close()
	}
	g.views(ctx)
	g.process()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, l := range g.s.Lines {
		if l.Verdict.rank() > g.s.Verdict.rank() {
			g.s.Verdict = l.Verdict
		}
	}
	if g.s.Verdict == "" {
		g.s.Verdict = OK
	}
	return g.s, nil
}

type gatherer struct {
	cfg Config
	th  thresholds.Thresholds
	s   *Status
	// ends are the end offsets and last records of the event topics.
	ends map[string]map[int32]kafka.PartitionOffsets
	last map[string]map[int32]kafka.LastRecord
	insp *kafka.Inspector
}

func (g *gatherer) add(stage, name, value, threshold string, v Verdict) {
	g.s.Lines = append(g.s.Lines, Line{Stage: stage, Name: name, Value: value, Threshold: threshold, Verdict: v})
}

func (g *gatherer) timeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, g.cfg.Timeout)
}

// source reads the slot.
func (g *gatherer) source(ctx context.Context) {
	if g.cfg.SourceDSN == "" {
		g.add("source", "postgresql", "source.dsn is not set", "", Fail)
		return
	}
	ctx, cancel := g.timeout(ctx)
	defer cancel()
	conn, err := pgx.Connect(ctx, g.cfg.SourceDSN)
	if err != nil {
		g.add("source", "postgresql", "unreachable: "+pgError(err), "", Fail)
		return
	}
	defer conn.Close(context.WithoutCancel(ctx))
	st, err := replication.ReadSlot(ctx, conn, g.cfg.Slot)
	if err != nil {
		g.add("source", "postgresql", pgError(err), "", Fail)
		return
	}
	g.s.Positions = append(g.s.Positions, Position{Stage: "postgresql", LSN: st.CurrentLSN.String(), WAL: uint64(st.CurrentLSN)})
	g.add("source", "postgresql", "current WAL "+st.CurrentLSN.String(), "", OK)
	if g.cfg.Failover {
		defer g.failover(ctx, conn)
	}
	if !st.Exists {
		g.add("source", "slot", fmt.Sprintf("slot %q does not exist: nothing is captured (cdcflow run creates it)", g.cfg.Slot), "", Fail)
		return
	}
	p := Position{Stage: "slot", LSN: st.ConfirmedLSN.String(), WAL: uint64(st.ConfirmedLSN), BehindBytes: &st.LagBytes}
	lag := fmt.Sprintf("confirmed %s, %s behind", st.ConfirmedLSN, bytesText(st.LagBytes))
	if l := g.s.Live; l != nil && l.SlotLagSeconds != nil {
		p.BehindSeconds = l.SlotLagSeconds
		d := seconds(*l.SlotLagSeconds)
		lag += ", " + durText(d) + " behind"
		g.add("source", "slot lag", lag, durThreshold(g.th.SourceLag), verdictOf(g.th.SourceLag.Verdict(d)))
	} else {
		g.add("source", "slot lag", lag+" (seconds behind: from a live process only)", durThreshold(g.th.SourceLag), OK)
	}
	g.s.Positions = append(g.s.Positions, p)
	g.add("source", "slot retained WAL", bytesText(st.RetainedBytes)+" since restart_lsn "+st.RestartLSN.String(),
		bytesThreshold(g.th.SlotRetainedWAL), verdictOf(g.th.SlotRetainedWAL.Verdict(st.RetainedBytes)))
	g.add("source", "slot wal_status", st.WALStatus, walThreshold(g.th.SlotWALStatus), verdictOf(g.th.SlotWALStatus.Verdict(st.WALStatus)))
	safe := "unlimited (max_slot_wal_keep_size = -1)"
	if st.SafeWALSize >= 0 {
		safe = bytesText(st.SafeWALSize) + " before the slot is lost"
	}
	g.add("source", "slot safe_wal_size", safe, "", OK)
	switch {
	case st.Active:
		by := fmt.Sprintf("active, pid %d", st.ActivePID)
		if st.ActiveApp != "" {
			by += " (" + st.ActiveApp + ")"
		}
		g.add("source", "slot active", by, "", OK)
	default:
		g.add("source", "slot active", "not active: no process streams from the slot, so it retains WAL", "active", Warn)
	}
	g.lease(ctx, conn)
}

// lease reads which instance holds the capture lease.
func (g *gatherer) lease(ctx context.Context, conn *pgx.Conn) {
	h, err := replication.ReadLease(ctx, conn, g.cfg.Slot)
	if err != nil {
		g.add("source", "capture lease", pgError(err), "", Warn)
		return
	}
	c := &CaptureLease{Active: h.Held, Instance: h.Instance, BackendPID: h.PID, ClientAddr: h.ClientAddr, Takeovers: h.Takeovers, Standbys: h.Standbys}
	g.s.Capture = c
	if !h.Held {
		g.add("source", "capture lease", fmt.Sprintf("no instance is active (%d standing by)", h.Standbys), "held", Warn)
		return
	}
	who := h.Instance
	if who == "" {
		who = h.ApplicationName
	}
	v := fmt.Sprintf("active: %s (lease session pid %d", who, h.PID)
	if h.ClientAddr != "" {
		v += " from " + h.ClientAddr
	}
	v += ")"
	if !h.Since.IsZero() {
		since := h.Since.UTC()
		c.Since = &since
		v += ", since " + since.Format(time.RFC3339)
	}
	v += fmt.Sprintf(", %d takeovers, %d standing by", h.Takeovers, h.Standbys)
	g.add("source", "capture lease", v, "", OK)
}

// kafka reads the event topics' and dead-letter topics' offsets and the
// last record of every partition.
func (g *gatherer) kafka(ctx context.Context) {
	if len(g.cfg.Kafka.Brokers) == 0 {
		note := g.cfg.KafkaNote
		if note == "" {
			note = "no brokers"
		}
		g.add("kafka", "kafka", note, "", Warn)
		return
	}
	insp, err := kafka.NewInspector(g.cfg.Kafka)
	if err != nil {
		g.add("kafka", "kafka", err.Error(), "", Fail)
		return
	}
	g.insp = insp
	tctx, cancel := g.timeout(ctx)
	defer cancel()
	topics := append(append([]string(nil), g.cfg.Topics...), g.cfg.DeadLetterTopics...)
	offs, err := insp.Offsets(tctx, topics...)
	if err != nil {
		g.add("kafka", "kafka", "unreachable: "+err.Error(), "", Fail)
		return
	}
	g.ends = map[string]map[int32]kafka.PartitionOffsets{}
	before := map[string]map[int32]int64{}
	for _, t := range g.cfg.Topics {
		g.ends[t] = offs[t]
		before[t] = map[int32]int64{}
		for p, o := range offs[t] {
			before[t][p] = o.End
		}
	}
	if g.last, err = insp.RecordsBefore(tctx, before); err != nil {
		g.add("kafka", "kafka", "read the last records: "+err.Error(), "", Fail)
		return
	}
	for _, t := range g.cfg.Topics {
		parts := offs[t]
		if parts == nil {
			g.add("kafka", "topic "+t, "does not exist yet", "", OK)
			continue
		}
		var end int64
		var top kafka.LastRecord
		for _, p := range sortedParts(parts) {
			end += parts[p].End
			if r, ok := g.last[t][p]; ok && top.Cursor.Less(r.Cursor) {
				top = r
			}
		}
		pos := Position{Stage: "kafka", Topic: t, Offset: &end}
		value := fmt.Sprintf("%d records in %d partition(s)", end, len(parts))
		if top.Cursor.LSN > 0 {
			lsn := capture.LSN(top.Cursor.LSN)
			pos.LSN, pos.WAL = lsn.String(), uint64(lsn)
			value += ", last at " + lsn.String()
		}
		g.s.Positions = append(g.s.Positions, pos)
		g.add("kafka", "topic "+t, value, "", OK)
	}
	if l := g.s.Live; l != nil && l.KafkaLastAck != nil && l.KafkaInflight > 0 {
		d := g.s.Time.Sub(*l.KafkaLastAck)
		g.add("kafka", "last acknowledgement", fmt.Sprintf("%s ago, %d records waiting", durText(d), l.KafkaInflight),
			durThreshold(g.th.KafkaAck), verdictOf(g.th.KafkaAck.Verdict(d)))
	}
	g.deadLetters(tctx, offs)
}

// deadLetters counts the records of the dead-letter topics; a dead letter
// within the window is a warning, as the alert says.
func (g *gatherer) deadLetters(ctx context.Context, offs map[string]map[int32]kafka.PartitionOffsets) {
	for _, t := range uniq(g.cfg.DeadLetterTopics) {
		var n int64
		before := map[string]map[int32]int64{t: {}}
		for p, o := range offs[t] {
			n += o.Len()
			before[t][p] = o.End
		}
		value := fmt.Sprintf("%d records", n)
		v := OK
		if n > 0 {
			v = Warn // unless the last is known to be older than the window
			last, err := g.insp.RecordsBefore(ctx, before)
			var newest time.Time
			for _, r := range last[t] {
				if r.Time.After(newest) {
					newest = r.Time
				}
			}
			if err == nil && !newest.IsZero() {
				age := g.s.Time.Sub(newest)
				value += ", the last " + durText(age) + " ago"
				if age > g.th.DeadLetters.Window {
					v = OK
				}
			}
		}
		g.add("kafka", "dead letters "+t, value, "none within "+durText(g.th.DeadLetters.Window), v)
	}
}

// views reads the generations and the offsets each view partition applied.
func (g *gatherer) views(ctx context.Context) {
	if g.cfg.Redis == nil {
		return
	}
	ctx, cancel := g.timeout(ctx)
	defer cancel()
	prefix := g.cfg.ViewsPrefix
	cur, err := redisview.CurrentGeneration(ctx, g.cfg.Redis, prefix)
	if err != nil {
		g.add("views", "redis", "unreachable: "+err.Error(), "", Fail)
		return
	}
	if cur == 0 {
		g.add("views", "generation", "none yet: no materializer has run", "", OK)
		return
	}
	g.add("views", "generation", fmt.Sprintf("%d", cur), "", OK)
	if g.ends == nil {
		g.add("views", "lag", "unknown: Kafka not read", "", Warn)
		return
	}
	applied := map[string]map[int32]int64{}
	for _, t := range g.cfg.ViewTopics {
		stored, err := redisview.StoredOffsets(ctx, g.cfg.Redis, prefix, cur, t, sortedParts(g.ends[t]))
		if err != nil {
			g.add("views", "offsets", err.Error(), "", Fail)
			return
		}
		applied[t] = stored
	}
	var last map[string]map[int32]kafka.LastRecord
	if g.insp != nil {
		if last, err = g.insp.RecordsBefore(ctx, applied); err != nil {
			g.add("views", "offsets", "read the last applied records: "+err.Error(), "", Fail)
		}
	}
	for _, t := range g.cfg.ViewTopics {
		for _, p := range sortedParts(g.ends[t]) {
			end := g.ends[t][p].End
			next := applied[t][p]
			lag := max(end-next, 0)
			pos := Position{Stage: "view", Topic: t, Partition: &p, Generation: cur, Offset: &next, BehindRecords: &lag}
			if r, ok := last[t][p]; ok {
				lsn := capture.LSN(r.Cursor.LSN)
				pos.LSN, pos.WAL = lsn.String(), uint64(lsn)
			}
			g.s.Positions = append(g.s.Positions, pos)
			name := fmt.Sprintf("view %s[%d]", t, p)
			g.add("views", name+" lag", fmt.Sprintf("%d records (applied to offset %d of %d)", lag, next, end),
				recordsThreshold(g.th.ConsumerLag), verdictOf(g.th.ConsumerLag.Verdict(lag)))
		}
	}
	g.staleness(last)
	g.replay(ctx, cur)
}

// staleness judges the age of the newest event applied per partition: the
// live process's figure, or else the timestamp of the last record applied.
func (g *gatherer) staleness(last map[string]map[int32]kafka.LastRecord) {
	ages := map[int32]time.Duration{}
	from := "live"
	if l := g.s.Live; l != nil && len(l.ViewsStaleness) > 0 {
		for p, s := range l.ViewsStaleness {
			ages[p] = seconds(s)
		}
	} else {
		from = "record time, no live process"
		newest := map[int32]time.Time{}
		for _, parts := range last {
			for p, r := range parts {
				if r.Time.After(newest[p]) {
					newest[p] = r.Time
				}
			}
		}
		for p, t := range newest {
			ages[p] = g.s.Time.Sub(t)
		}
	}
	ps := make([]int32, 0, len(ages))
	for p := range ages {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	for _, p := range ps {
		g.add("views", fmt.Sprintf("views staleness[%d]", p), durText(ages[p])+" ("+from+")",
			durThreshold(g.th.ViewsStaleness), verdictOf(g.th.ViewsStaleness.Verdict(ages[p])))
	}
}

// replay reports a generation above the current one: a replay building it,
// or one interrupted that the next replay resumes.
func (g *gatherer) replay(ctx context.Context, cur int64) {
	gens, err := redisview.Generations(ctx, g.cfg.Redis, g.cfg.ViewsPrefix)
	if err != nil {
		g.add("views", "replay", err.Error(), "", Fail)
		return
	}
	for _, gen := range gens {
		if gen <= cur {
			continue
		}
		var done, total int64
		for _, t := range g.cfg.ViewTopics {
			stored, err := redisview.StoredOffsets(ctx, g.cfg.Redis, g.cfg.ViewsPrefix, gen, t, sortedParts(g.ends[t]))
			if err != nil {
				g.add("views", "replay", err.Error(), "", Fail)
				return
			}
			for p, o := range g.ends[t] {
				total += o.End
				done += min(stored[p], o.End)
			}
		}
		g.add("views", fmt.Sprintf("replay generation %d", gen),
			fmt.Sprintf("%d of %d records applied (%.0f%%); building, or interrupted and resumed by the next replay", done, total, pct(done, total)), "", OK)
	}
}

// process judges the live process: up, ready, heartbeats, retries,
// snapshot.
func (g *gatherer) process() {
	if g.cfg.MetricsAddr == "" {
		g.add("process", "metrics", "no metrics.addr configured: live figures unknown", "", OK)
		return
	}
	l := g.s.Live
	if l == nil {
		g.add("process", "process", "not running (metrics at "+g.cfg.MetricsAddr+" do not answer)", "", OK)
		return
	}
	up := l.Command
	if l.Version != "" {
		up += " " + l.Version
	}
	g.add("process", "process", "up: "+up+" at "+g.cfg.MetricsAddr, "", OK)
	if l.Ready != nil {
		if *l.Ready {
			g.add("process", "ready", "ready", "", OK)
		} else {
			g.add("process", "ready", "not ready (see /readyz)", "ready", Warn)
		}
	}
	if l.LastHeartbeat != nil {
		d := g.s.Time.Sub(*l.LastHeartbeat)
		g.add("process", "heartbeat age", durText(d), durThreshold(g.th.HeartbeatAge), verdictOf(g.th.HeartbeatAge.Verdict(d)))
	}
	if l.RetryingSince != nil {
		d := g.s.Time.Sub(*l.RetryingSince)
		g.add("process", "source retrying", "reconnecting for "+durText(d), durThreshold(g.th.SourceRetrying), verdictOf(g.th.SourceRetrying.Verdict(d)))
	}
	if sn := l.Snapshot; sn != nil {
		value := fmt.Sprintf("%d tables left, %d rows read, about %d left", sn.TablesRemaining, sn.Rows, sn.RowsRemaining)
		if sn.Rate > 0 {
			value += fmt.Sprintf(", %.0f rows/s", sn.Rate)
			if sn.RowsRemaining > 0 {
				value += ", ETA " + durText(time.Duration(float64(sn.RowsRemaining)/sn.Rate*float64(time.Second)))
			}
		}
		v, th := OK, ""
		if sn.LastProgress != nil {
			d := g.s.Time.Sub(*sn.LastProgress)
			value += ", last progress " + durText(d) + " ago"
			v, th = verdictOf(g.th.SnapshotStall.Verdict(d)), "stall "+durThreshold(g.th.SnapshotStall)
		}
		g.add("process", "snapshot", value, th, v)
	}
	if l.DeadLetters > 0 {
		g.add("process", "dead letters (since start)", fmt.Sprintf("%.0f", l.DeadLetters), "", OK)
	}
}

func sortedParts[V any](m map[int32]V) []int32 {
	ps := make([]int32, 0, len(m))
	for p := range m {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	return ps
}

func uniq(ss []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func pct(done, total int64) float64 {
	if total <= 0 {
		return 100
	}
	return 100 * float64(done) / float64(total)
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// pgError is the text of a PostgreSQL error (pgx's never carry the
// password).
func pgError(err error) string { return err.Error() }
