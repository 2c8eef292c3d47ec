package replication

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// ErrLeaseLost is returned (wrapped) by Lease.Run, and by a Reader that
// uses the lease, when another instance took the capture lease after this
// one held it: this process must publish nothing more and stop, and its
// supervisor starts it again as a standby.
var ErrLeaseLost = errors.New("capture lease lost to another instance")

// LeaseConfig configures a Lease. A zero field means its default.
type LeaseConfig struct {
	// DSN is the source database's connection string (as Config.DSN).
	// Required.
	DSN string
	// Slot names the lease: every instance of one slot competes for one
	// lease. Default "cdcflow".
	Slot string
	// Timeout is the lease session's idle_session_timeout: PostgreSQL ends
	// the session of a holder that stopped pinging (frozen, cut off) this
	// long after its last ping, and so frees the lease. The holder pings
	// every Timeout/4. Default 10s; at least 1s.
	Timeout time.Duration
	// PollInterval is how often a standby tries to take the lease. It must
	// be below Timeout (the standby's own idle session would end). Default 1s.
	PollInterval time.Duration
	// TCPUserTimeout is the lease session's tcp_user_timeout on the server:
	// how long the server's socket may hold unacknowledged data before it
	// gives up on a peer that vanished with its host. Default 10s;
	// negative keeps the server's setting.
	TCPUserTimeout time.Duration
	// Instance names this process in the lease session's
	// application_name. Default "<hostname>:<pid>".
	Instance string
}

func (c *LeaseConfig) setDefaults() {
	if c.Slot == "" {
		c.Slot = "cdcflow"
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.PollInterval == 0 {
		c.PollInterval = time.Second
	}
	if c.TCPUserTimeout == 0 {
		c.TCPUserTimeout = 10 * time.Second
	}
	if c.Instance == "" {
		host, _ := os.Hostname()
		c.Instance = host + ":" + strconv.Itoa(os.Getpid())
	}
}

// WithDefaults returns c with each zero field set to its default.
func (c LeaseConfig) WithDefaults() LeaseConfig {
	c.setDefaults()
	return c
}

// Validate reports the first problem with c, with defaults applied.
func (c LeaseConfig) Validate() error {
	c.setDefaults()
	switch {
	case c.DSN == "":
		return errors.New("lease: source DSN is required")
	case c.Timeout < time.Second:
		return fmt.Errorf("lease timeout %s: must be at least 1s", c.Timeout)
	case c.PollInterval <= 0 || c.PollInterval >= c.Timeout:
		return fmt.Errorf("lease poll interval %s: must be positive and below the lease timeout %s", c.PollInterval, c.Timeout)
	}
	return nil
}

// leaseKey is the advisory lock key of slot's lease.
func leaseKey(slot string) int64 {
	h := fnv.New64a()
	h.Write([]byte("cdcflow capture lease\x00" + slot))
	return int64(h.Sum64())
}

// Application names of the lease sessions. The holder's carries when it
// became active and the takeover count, for `cdcflow status` and for the
// next holder: "cdcflow-lease <unix seconds> <takeovers> <instance>". A
// standby's carries the lease key's low 32 bits (hex), so that status can
// count the standbys of one slot: "cdcflow-standby <key> <instance>".
const (
	leaseAppPrefix   = "cdcflow-lease "
	standbyAppPrefix = "cdcflow-standby "
)

// Lease states.
const (
	leaseStandby     = iota // waiting to take the lease
	leaseHeld               // this process holds it
	leaseReacquiring        // the session broke while held; taking it again
	leaseLost               // another instance took it
)

// Lease is the capture lease of one slot: a PostgreSQL session-level
// advisory lock, keyed by the slot's name, held on a normal connection of
// its own. Exactly one instance holds it and streams; the others are
// standbys that try to take it every PollInterval. PostgreSQL frees it when
// the holder's session ends: at once when the holder dies (its socket
// closes), after Timeout (idle_session_timeout) when it freezes or is cut
// off. The holder ends the slot's stale walsenders before each replication
// session (Reader.WithLease), so a frozen holder's walsender does not delay
// the takeover until wal_sender_timeout.
//
// Create it with NewLease, run it with Run; Acquired, Active and Healthy
// are safe for concurrent use.
type Lease struct {
	cfg LeaseConfig
	key int64
	log *slog.Logger
	m   *LeaseMetrics

	connMu sync.Mutex // serialises the use of conn (Run's pings, the Reader's fence)
	conn   *pgx.Conn

	mu        sync.Mutex
	state     int
	changed   chan struct{} // closed and replaced on every state change
	acquired  chan struct{} // closed when the lease is first held
	since     time.Time     // when this process first took the lease
	takeovers int64         // the takeover count this holder carries
	healthErr error         // the last standby poll's error
	// retrySince is since when a standby's polls fail (zero while they
	// work); onRetrying reports it (the Reader's retrying-since gauge and
	// RetryingSince, see Reader.WithLease).
	retrySince time.Time
	onRetrying func(since time.Time)
	holder     holderInfo // the last holder seen while waiting
	oldPID     uint32     // this process's last lease session's backend
}

// holderInfo is the holder of a lease as pg_locks and pg_stat_activity show it.
type holderInfo struct {
	pid       int32
	app       string
	takeovers int64
	seen      bool
}

// NewLease returns a Lease for cfg; it connects to nothing. A nil log
// discards, a nil m records nothing.
func NewLease(cfg LeaseConfig, log *slog.Logger, m *LeaseMetrics) (*Lease, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	if _, err := pgx.ParseConfig(cfg.DSN); err != nil {
		return nil, fmt.Errorf("lease: parse source DSN: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Lease{
		cfg: cfg, key: leaseKey(cfg.Slot), m: m,
		log:     log.With("component", "lease", "slot", cfg.Slot, "instance", cfg.Instance),
		changed: make(chan struct{}), acquired: make(chan struct{}),
	}, nil
}

// Acquired is closed once this process holds the lease for the first time.
func (l *Lease) Acquired() <-chan struct{} { return l.acquired }

// Active reports whether this process holds the lease (or is taking it back
// after its session broke).
func (l *Lease) Active() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.state == leaseHeld || l.state == leaseReacquiring
}

// Healthy returns nil while a standby's lease session works (it could take
// over), or the error of its last attempt: readiness of a standby.
func (l *Lease) Healthy() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.healthErr
}

func (l *Lease) setState(s int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.state = s
	close(l.changed)
	l.changed = make(chan struct{})
}

// Run waits as a standby until it takes the lease, then keeps it: it pings
// the lease session every Timeout/4 and, when the session breaks, takes the
// lease again on a new one. It returns ctx.Err() after a shutdown (the
// session is closed, which frees the lease) and an error wrapping
// ErrLeaseLost when another instance took the lease meanwhile. Call it
// once; it blocks.
func (l *Lease) Run(ctx context.Context) error {
	defer l.closeConn()
	if err := l.wait(ctx); err != nil {
		return err
	}
	t := time.NewTicker(l.cfg.Timeout / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		err := l.ping(ctx)
		if err == nil || ctx.Err() != nil {
			continue
		}
		l.log.Warn("capture lease session failed, taking the lease again", "err", err)
		l.setState(leaseReacquiring)
		if err := l.reacquire(ctx); err != nil {
			return err
		}
	}
}

// wait tries to take the lease every PollInterval until it does.
func (l *Lease) wait(ctx context.Context) error {
	logged := false
	var warn sparseWarn
	for {
		ok, holder, err := l.try(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		l.standbyHealth(err)
		if err != nil {
			warn.log(l.log, "capture lease: cannot reach the source, retrying", err)
		}
		if ok {
			l.becomeActive()
			return nil
		}
		if err == nil && !logged {
			l.log.Info("standing by: another instance holds the capture lease", "holder_pid", holder.pid, "holder", holder.app)
			logged = true
		}
		if err := sleep(ctx, l.cfg.PollInterval); err != nil {
			return err
		}
	}
}

// standbyHealth records the outcome of a standby's poll: readiness, and
// since when the source is unreachable.
func (l *Lease) standbyHealth(err error) {
	l.mu.Lock()
	changed := (err == nil) != l.retrySince.IsZero()
	if err == nil {
		l.retrySince, l.healthErr = time.Time{}, nil
	} else {
		if l.retrySince.IsZero() {
			l.retrySince = time.Now()
		}
		l.healthErr = fmt.Errorf("standing by, reconnecting to the source since %s: %w", l.retrySince.UTC().Format(time.RFC3339), err)
	}
	since, report := l.retrySince, l.onRetrying
	l.mu.Unlock()
	if changed && report != nil {
		report(since)
	}
}

// becomeActive records the takeover and announces it on the lease session.
func (l *Lease) becomeActive() {
	l.mu.Lock()
	l.since = time.Now()
	takeover := l.holder.seen
	if takeover {
		l.takeovers = l.holder.takeovers + 1
	}
	since, n := l.since, l.takeovers
	l.healthErr = nil
	l.mu.Unlock()
	l.setState(leaseHeld)
	close(l.acquired)
	l.m.active(since, takeover)
	l.announce(context.Background())
	l.log.Info("capture lease taken: this instance is active", "takeover", takeover, "takeovers", n)
}

// announce writes the holder's application_name on the lease session.
// Failing to is harmless (status shows less); it is logged.
func (l *Lease) announce(ctx context.Context) {
	l.mu.Lock()
	app := truncateApp(fmt.Sprintf("%s%d %d %s", leaseAppPrefix, l.since.Unix(), l.takeovers, l.cfg.Instance))
	l.mu.Unlock()
	l.connMu.Lock()
	defer l.connMu.Unlock()
	if l.conn == nil {
		return
	}
	qctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout/2)
	defer cancel()
	if _, err := l.conn.Exec(qctx, "SELECT set_config('application_name', $1, false)", app); err != nil {
		l.log.Warn("capture lease: could not set application_name", "err", err)
	}
}

// reacquire takes the lease again after the holder's session broke. It
// returns nil once held again, ErrLeaseLost when another instance holds it.
func (l *Lease) reacquire(ctx context.Context) error {
	var warn sparseWarn
	for {
		ok, holder, err := l.try(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if ok {
			l.setState(leaseHeld)
			l.announce(ctx)
			l.log.Info("capture lease taken again")
			return nil
		}
		l.mu.Lock()
		old := l.oldPID
		l.mu.Unlock()
		// The old session may not have ended yet on the server: it still
		// holds the lock for this process.
		if err == nil && holder.pid != 0 && uint32(holder.pid) != old {
			l.setState(leaseLost)
			l.m.inactive()
			return fmt.Errorf("%w: held by backend pid %d (%s)", ErrLeaseLost, holder.pid, holder.app)
		}
		if err != nil {
			warn.log(l.log, "capture lease: cannot reach the source, retrying", err)
		}
		if err := sleep(ctx, l.cfg.PollInterval); err != nil {
			return err
		}
	}
}

// sparseWarn logs a repeated failure at most every 30 s, so that a standby
// polling an unreachable source every second does not flood the log.
type sparseWarn struct{ last time.Time }

func (w *sparseWarn) log(log *slog.Logger, msg string, err error) {
	if now := time.Now(); now.Sub(w.last) >= 30*time.Second {
		w.last = now
		log.Warn(msg, "err", err)
	}
}

// try connects if needed and tries to take the lock once. When another
// session holds it, it records and returns the holder (pid 0: the lock was
// released between the two queries).
func (l *Lease) try(ctx context.Context) (bool, holderInfo, error) {
	l.connMu.Lock()
	defer l.connMu.Unlock()
	if l.conn == nil {
		conn, err := l.connect(ctx)
		if err != nil {
			return false, holderInfo{}, err
		}
		l.conn = conn
	}
	qctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout/2)
	defer cancel()
	var ok bool
	if err := l.conn.QueryRow(qctx, "SELECT pg_try_advisory_lock($1)", l.key).Scan(&ok); err != nil {
		l.dropConn()
		return false, holderInfo{}, fmt.Errorf("try capture lease: %w", err)
	}
	if ok {
		l.mu.Lock()
		l.oldPID = l.conn.PgConn().PID()
		l.mu.Unlock()
		return true, holderInfo{}, nil
	}
	var h holderInfo
	err := l.conn.QueryRow(qctx, `SELECT l.pid, coalesce(a.application_name, '')
		FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
		  AND l.classid::int8 = $1 AND l.objid::int8 = $2 AND l.objsubid = 1 AND l.granted`,
		int64(uint64(l.key)>>32), int64(uint64(l.key)&0xffffffff)).Scan(&h.pid, &h.app)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, holderInfo{}, nil // released meanwhile: the next try may take it
	}
	if err != nil {
		l.dropConn()
		return false, holderInfo{}, fmt.Errorf("read capture lease holder: %w", err)
	}
	h.seen = true
	l.mu.Lock()
	defer l.mu.Unlock()
	// A holder that has not yet announced itself keeps the count known.
	h.takeovers = l.holder.takeovers
	if info, ok := parseLeaseApp(h.app); ok {
		h.takeovers = info.Takeovers
	}
	l.holder = h
	return false, h, nil
}

// connect opens the lease session: a normal connection whose idle
// session timeout frees the lease of a holder that stopped pinging.
func (l *Lease) connect(ctx context.Context) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(l.cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("lease: parse source DSN: %w", err)
	}
	cfg.RuntimeParams["application_name"] = truncateApp(fmt.Sprintf("%s%08x %s", standbyAppPrefix, uint32(l.key), l.cfg.Instance))
	cfg.RuntimeParams["idle_session_timeout"] = strconv.FormatInt(l.cfg.Timeout.Milliseconds(), 10)
	cfg.RuntimeParams["idle_in_transaction_session_timeout"] = "0"
	cfg.RuntimeParams["statement_timeout"] = "0"
	if l.cfg.TCPUserTimeout > 0 {
		cfg.RuntimeParams["tcp_user_timeout"] = strconv.FormatInt(l.cfg.TCPUserTimeout.Milliseconds(), 10)
	}
	cctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("lease: connect to source: %w", err)
	}
	return conn, nil
}

// ping checks, on the lease session, that it still holds the lock; the
// query also keeps the session from idling out.
func (l *Lease) ping(ctx context.Context) error {
	l.connMu.Lock()
	defer l.connMu.Unlock()
	if l.conn == nil {
		return errors.New("no lease session")
	}
	held, err := l.holds(ctx)
	if err != nil {
		l.dropConn()
		return err
	}
	if !held {
		l.dropConn()
		return errors.New("the lease session does not hold the lock")
	}
	return nil
}

// holds reports whether the lease session holds the lock. connMu is held.
func (l *Lease) holds(ctx context.Context) (bool, error) {
	qctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout/2)
	defer cancel()
	var held bool
	if err := l.conn.QueryRow(qctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
		AND classid::int8 = $1 AND objid::int8 = $2 AND objsubid = 1 AND granted)`,
		int64(uint64(l.key)>>32), int64(uint64(l.key)&0xffffffff)).Scan(&held); err != nil {
		return false, fmt.Errorf("ping capture lease: %w", err)
	}
	return held, nil
}

// errLeaseNotHeld ends a replication session attempt while the lease is
// not held (its session broke and is being re-established): the Reader
// retries with its backoff and reports that it is reconnecting.
var errLeaseNotHeld = errors.New("capture lease not held: re-establishing its session")

// fence makes sure this process holds the lease, then ends every walsender
// that still streams slot or its snapshot exporter: while this process
// holds the lease, those can only be stale sessions (its own previous one,
// or a frozen former holder's). The check and the termination run in one
// statement on the lease session, so that they happen while the lock is
// held. It waits up to PollInterval for a lease being taken (again); after
// that it returns errLeaseNotHeld, for the Reader to retry. It returns an
// error wrapping ErrLeaseLost when another instance took the lease. A role
// that may not signal the walsender (another role's backend) is logged,
// and the Reader waits for wal_sender_timeout to end it instead.
func (l *Lease) fence(ctx context.Context, slots ...string) error {
	deadline := time.NewTimer(l.cfg.PollInterval)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		state, changed := l.state, l.changed
		l.mu.Unlock()
		switch state {
		case leaseLost:
			return ErrLeaseLost
		case leaseHeld:
			held, pids, err := l.terminate(ctx, slots)
			if err != nil {
				return err
			}
			if held {
				if len(pids) > 0 {
					l.log.Warn("ended stale walsenders of the slot", "pids", pids)
				}
				return nil
			}
			// The session lost the lock: Run notices at its next ping.
			return errLeaseNotHeld
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		case <-deadline.C:
			return errLeaseNotHeld
		}
	}
}

// terminate runs fence's statement.
func (l *Lease) terminate(ctx context.Context, slots []string) (bool, []int32, error) {
	l.connMu.Lock()
	defer l.connMu.Unlock()
	if l.conn == nil {
		return false, nil, nil
	}
	qctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	var held bool
	var pids []int32
	err := l.conn.QueryRow(qctx, `WITH h AS (
			SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
				AND classid::int8 = $2 AND objid::int8 = $3 AND objsubid = 1 AND granted) AS held)
		SELECT h.held, coalesce((SELECT array_agg(x.pid) FROM (
				SELECT s.active_pid AS pid FROM pg_replication_slots s
				WHERE h.held AND s.slot_name::text = ANY($1::text[]) AND s.active_pid IS NOT NULL
				OFFSET 0) x -- OFFSET 0 keeps the filter inside: only these pids are signalled
			WHERE pg_terminate_backend(x.pid, $4)), '{}')
		FROM h`, slots, int64(uint64(l.key)>>32), int64(uint64(l.key)&0xffffffff),
		min(5*time.Second, l.cfg.Timeout/2).Milliseconds()).Scan(&held, &pids)
	if err != nil {
		if ctx.Err() != nil {
			return false, nil, ctx.Err()
		}
		if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == "42501" {
			// Another role's (or a superuser's) walsender: the session
			// still holds the lease, and wal_sender_timeout ends it.
			l.log.Warn("may not end the slot's stale walsender: waiting for wal_sender_timeout", "err", err)
			return true, nil, nil
		}
		l.dropConn() // Run's next ping finds no session and takes the lease again
		return false, nil, fmt.Errorf("end the slot's stale walsenders: %w", err)
	}
	return held, pids, nil
}

// dropConn closes the lease session; connMu is held.
func (l *Lease) dropConn() {
	if l.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = l.conn.Close(ctx)
		l.conn = nil
	}
}

func (l *Lease) closeConn() {
	l.connMu.Lock()
	defer l.connMu.Unlock()
	l.dropConn()
	if l.Active() {
		l.m.inactive()
	}
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// truncateApp cuts an application_name to what PostgreSQL keeps (63 bytes).
func truncateApp(s string) string {
	if len(s) > 63 {
		return s[:63]
	}
	return s
}

// LeaseHolder is the holder of a slot's capture lease as `cdcflow status`
// shows it.
type LeaseHolder struct {
	// Held is false when no instance holds the lease; the other fields are
	// then zero.
	Held bool
	// PID is the holder's lease session backend; ClientAddr its client
	// address ("" over a Unix socket or when not visible to the role).
	PID        int32
	ClientAddr string
	// ApplicationName is the lease session's application_name, from which
	// Instance, Since and Takeovers are read.
	ApplicationName string
	Instance        string
	Since           time.Time
	Takeovers       int64
	// Standbys counts the sessions of standbys waiting for this lease.
	Standbys int
}

// leaseApp is what a holder's application_name says.
type leaseApp struct {
	Since     time.Time
	Takeovers int64
	Instance  string
}

// parseLeaseApp reads a holder's application_name.
func parseLeaseApp(app string) (leaseApp, bool) {
	rest, ok := strings.CutPrefix(app, leaseAppPrefix)
	if !ok {
		return leaseApp{}, false
	}
	f := strings.SplitN(rest, " ", 3)
	if len(f) < 2 {
		return leaseApp{}, false
	}
	sec, err1 := strconv.ParseInt(f[0], 10, 64)
	n, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil {
		return leaseApp{}, false
	}
	out := leaseApp{Since: time.Unix(sec, 0), Takeovers: n}
	if len(f) == 3 {
		out.Instance = f[2]
	}
	return out, true
}

// ReadLease reads who holds slot's capture lease, on conn, a normal
// connection to the slot's database. It blocks on the server.
func ReadLease(ctx context.Context, conn *pgx.Conn, slot string) (LeaseHolder, error) {
	key := leaseKey(slot)
	var h LeaseHolder
	err := conn.QueryRow(ctx, `SELECT l.pid, coalesce(host(a.client_addr), ''), coalesce(a.application_name, '')
		FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
		  AND l.classid::int8 = $1 AND l.objid::int8 = $2 AND l.objsubid = 1 AND l.granted`,
		int64(uint64(key)>>32), int64(uint64(key)&0xffffffff)).Scan(&h.PID, &h.ClientAddr, &h.ApplicationName)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return h, fmt.Errorf("read capture lease of slot %q: %w", slot, err)
	default:
		h.Held = true
		if a, ok := parseLeaseApp(h.ApplicationName); ok {
			h.Instance, h.Since, h.Takeovers = a.Instance, a.Since, a.Takeovers
		}
	}
	if err := conn.QueryRow(ctx, `SELECT count(*)::int FROM pg_stat_activity WHERE application_name LIKE $1`,
		fmt.Sprintf("%s%08x %%", standbyAppPrefix, uint32(key))).Scan(&h.Standbys); err != nil {
		return h, fmt.Errorf("count capture standbys of slot %q: %w", slot, err)
	}
	return h, nil
}

// LeaseMetrics holds a Lease's metrics (listed in the package
// documentation). A nil *LeaseMetrics records nothing; its methods are safe
// for concurrent use.
type LeaseMetrics struct {
	activeG   prometheus.Gauge
	sinceG    prometheus.Gauge
	takeovers prometheus.Counter
}

// NewLeaseMetrics creates a Lease's metrics and registers them with reg. It
// panics if they are already registered with reg, as promauto does.
func NewLeaseMetrics(reg prometheus.Registerer) *LeaseMetrics {
	f := promauto.With(reg)
	return &LeaseMetrics{
		activeG: f.NewGauge(prometheus.GaugeOpts{
			Name: "cdcflow_capture_active",
			Help: "1 while this instance holds the capture lease and streams the slot, 0 while it stands by.",
		}),
		sinceG: f.NewGauge(prometheus.GaugeOpts{
			Name: "cdcflow_capture_active_since_seconds",
			Help: "When this instance took the capture lease (Unix time); 0 while it stands by.",
		}),
		takeovers: f.NewCounter(prometheus.CounterOpts{
			Name: "cdcflow_capture_takeovers_total",
			Help: "Times this instance took the capture lease from another instance (a standby becoming active).",
		}),
	}
}

func (m *LeaseMetrics) active(since time.Time, takeover bool) {
	if m == nil {
		return
	}
	m.activeG.Set(1)
	m.sinceG.Set(float64(since.UnixNano()) / 1e9)
	if takeover {
		m.takeovers.Inc()
	}
}

func (m *LeaseMetrics) inactive() {
	if m == nil {
		return
	}
	m.activeG.Set(0)
	m.sinceG.Set(0)
}
