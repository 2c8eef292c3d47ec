package services

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultPostgresBinDir is where Debian's postgresql-15 package installs the
// server programs.
const DefaultPostgresBinDir = "/usr/lib/postgresql/15/bin"

// ErrNotInstalled is returned (wrapped) by the Start functions when the
// server program is missing from this machine, so a caller can tell "install
// it" apart from "it failed".
var ErrNotInstalled = errors.New("not installed")

// startTimeout bounds how long a server may take to accept connections when
// the caller's context has no earlier deadline.
const startTimeout = 60 * time.Second

// maxSocketPath is the longest Unix socket path PostgreSQL accepts
// (sizeof(sun_path) - 1 on Linux).
const maxSocketPath = 107

// PostgresOptions configures StartPostgres. The zero value is not usable:
// Dir is required.
type PostgresOptions struct {
	// Dir holds the server's files: data/ (the cluster, created by initdb
	// unless it already holds one), sock/ (the Unix socket directory) and
	// postgres.log. It is created if missing. Keep it short: the socket path
	// under it must fit in 107 bytes.
	Dir string
	// Port is the TCP port on 127.0.0.1; 0 picks a free one.
	Port int
	// Settings are extra postgresql.conf settings that override the
	// defaults, e.g. {"wal_sender_timeout": "2s"} or {"fsync": "on"}. The
	// defaults are wal_level=logical, 20 replication slots and WAL senders,
	// fsync=off (a process crash loses nothing; only an OS crash could) and
	// shared_buffers=16MB. "port" and "unix_socket_directories" are set
	// through Port and Dir.
	Settings map[string]string
	// BinDir holds the PostgreSQL programs; empty means
	// DefaultPostgresBinDir.
	BinDir string
	// Log receives the server's life cycle events; nil discards them. The
	// server's own log goes to LogPath.
	Log *slog.Logger
}

// Postgres is a private PostgreSQL server running as a child process of
// this one. Its methods are safe for concurrent use. The server keeps
// running until Stop or Kill; the caller owns it and must stop it.
type Postgres struct {
	binDir, dir, dataDir, sockDir, logPath string
	port                                   int
	cred                                   *syscall.Credential // nil: run as ourselves
	log                                    *slog.Logger

	mu   sync.Mutex
	proc *process // nil when stopped
}

// settingName is what a postgresql.conf parameter name may look like,
// including custom "extension.name" parameters.
var settingName = regexp.MustCompile(`^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$`)

// StartPostgres prepares a PostgreSQL cluster in o.Dir (running initdb if
// the directory holds none yet) and starts the server. It blocks until the
// server accepts connections, ctx ends, or the server exits; a server that
// fails to start returns an error that includes the tail of its log.
//
// When this process runs as root, the server runs as the "postgres" OS user
// (PostgreSQL refuses root): o.Dir is given to that user, and any ancestor
// directory that user could not traverse gets the o+x bit added.
func StartPostgres(ctx context.Context, o PostgresOptions) (*Postgres, error) {
	if o.Dir == "" {
		return nil, errors.New("start postgres: Dir is required")
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	p := &Postgres{
		binDir:  cmp.Or(o.BinDir, DefaultPostgresBinDir),
		dir:     dir,
		dataDir: filepath.Join(dir, "data"),
		sockDir: filepath.Join(dir, "sock"),
		logPath: filepath.Join(dir, "postgres.log"),
		port:    o.Port,
		log:     o.Log,
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if n := len(p.sockDir) + len("/.s.PGSQL.65535"); n > maxSocketPath {
		return nil, fmt.Errorf("start postgres: socket path under %s is %d bytes, over the %d allowed: use a shorter Dir", dir, n, maxSocketPath)
	}
	settings, err := postgresSettings(o.Settings)
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	for _, prog := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(p.Bin(prog)); err != nil {
			return nil, fmt.Errorf("start postgres: %s: %w (install with: apt-get install postgresql-15)", p.Bin(prog), ErrNotInstalled)
		}
	}
	if err := p.prepareDirs(); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	if err := p.initdb(ctx, settings["fsync"] == "off"); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}

	pick := p.port == 0
	for attempt := 1; ; attempt++ {
		if pick {
			if p.port, err = freePort(); err != nil {
				return nil, fmt.Errorf("start postgres: %w", err)
			}
		}
		if err := p.writeConf(settings); err != nil {
			return nil, fmt.Errorf("start postgres: %w", err)
		}
		err = p.start(ctx)
		if err == nil {
			return p, nil
		}
		// Another process may take a free port between our probe and the
		// server's bind; pick again in that case only, at once: this is
		// not a backoff loop, as waiting would not free the port.
		if !pick || attempt == 3 || !errors.Is(err, errPortInUse) {
			return nil, fmt.Errorf("start postgres: %w", err)
		}
		p.log.Debug("postgres port taken, retrying", "port", p.port)
	}
}

// postgresSettings merges the caller's settings over the defaults.
func postgresSettings(extra map[string]string) (map[string]string, error) {
	s := map[string]string{
		"wal_level":             "logical",
		"max_replication_slots": "20",
		"max_wal_senders":       "20",
		"listen_addresses":      "127.0.0.1",
		"fsync":                 "off",
		"shared_buffers":        "16MB",
	}
	for k, v := range extra {
		switch {
		case k == "port" || k == "unix_socket_directories":
			return nil, fmt.Errorf("setting %q is chosen by Port and Dir", k)
		case !settingName.MatchString(k):
			return nil, fmt.Errorf("invalid setting name %q", k)
		case strings.ContainsAny(v, "\n\r\x00"):
			return nil, fmt.Errorf("setting %q: value holds a line break or NUL", k)
		}
		s[k] = v
	}
	return s, nil
}

// prepareDirs creates the directories and, when running as root, hands
// them to the postgres OS user.
func (p *Postgres) prepareDirs() error {
	for _, d := range []string{p.dir, p.sockDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
	}
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("look up the postgres OS user (PostgreSQL refuses to run as root): %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("parse ids of the postgres OS user: %w", err)
	}
	p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	for _, d := range []string{p.dir, p.sockDir} {
		if err := os.Chown(d, int(uid), int(gid)); err != nil {
			return fmt.Errorf("give %s to the postgres OS user: %w", d, err)
		}
	}
	return p.makeAncestorsTraversable()
}

// makeAncestorsTraversable adds o+x to every ancestor of p.dir that lacks
// it (t.TempDir and os.MkdirTemp create 0700 directories), so the postgres
// OS user can reach its own directory. Nothing becomes readable.
func (p *Postgres) makeAncestorsTraversable() error {
	for d := filepath.Dir(p.dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("stat %s: %w", d, err)
		}
		if mode := fi.Mode().Perm(); mode&0o001 == 0 {
			if err := os.Chmod(d, mode|0o001); err != nil {
				return fmt.Errorf("make %s traversable for the postgres OS user: %w", d, err)
			}
			p.log.Debug("made directory traversable", "dir", d)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// initdb creates the cluster unless p.dataDir already holds one.
func (p *Postgres) initdb(ctx context.Context, noSync bool) error {
	if _, err := os.Stat(filepath.Join(p.dataDir, "PG_VERSION")); err == nil {
		return nil
	}
	args := []string{"-D", p.dataDir, "-A", "trust", "-U", "postgres",
		"--encoding=UTF8", "--locale=C", "--no-instructions"}
	if noSync {
		args = append(args, "--no-sync")
	}
	cmd := exec.CommandContext(ctx, p.Bin("initdb"), args...)
	cmd.Env = childEnv()
	cmd.Dir = p.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	proc, err := startProcess(cmd, p.logPath, syscall.SIGKILL)
	if err != nil {
		return fmt.Errorf("initdb: %w", err)
	}
	<-proc.done
	if proc.err != nil {
		return fmt.Errorf("initdb %s: %w; log %s:\n%s", p.dataDir, proc.err, p.logPath, logTail(p.logPath))
	}
	return nil
}

// writeConf writes cdcflow.conf, included at the end of postgresql.conf,
// so settings can change between starts while ALTER SYSTEM still wins.
func (p *Postgres) writeConf(settings map[string]string) error {
	var b strings.Builder
	b.WriteString("# Written by cdcflow's internal/services at every start; edits are lost.\n")
	all := maps.Clone(settings)
	all["port"] = strconv.Itoa(p.port)
	all["unix_socket_directories"] = p.sockDir
	for _, k := range slices.Sorted(maps.Keys(all)) {
		fmt.Fprintf(&b, "%s = '%s'\n", k, strings.ReplaceAll(all[k], "'", "''"))
	}
	// The data directory is 0700 and owned by postgres; root may write it.
	if err := os.WriteFile(filepath.Join(p.dataDir, "cdcflow.conf"), []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("write cdcflow.conf: %w", err)
	}
	if p.cred != nil {
		if err := os.Chown(filepath.Join(p.dataDir, "cdcflow.conf"), int(p.cred.Uid), int(p.cred.Gid)); err != nil {
			return fmt.Errorf("give cdcflow.conf to the postgres OS user: %w", err)
		}
	}
	main := filepath.Join(p.dataDir, "postgresql.conf")
	conf, err := os.ReadFile(main)
	if err != nil {
		return fmt.Errorf("read postgresql.conf: %w", err)
	}
	const include = "include 'cdcflow.conf'\n"
	if strings.Contains(string(conf), include) {
		return nil
	}
	f, err := os.OpenFile(main, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("open postgresql.conf: %w", err)
	}
	_, err = f.WriteString("\n" + include)
	return errors.Join(err, f.Close())
}

// errPortInUse marks a start that failed because the port was taken.
var errPortInUse = errors.New("port in use")

// start runs the postmaster and waits until it accepts connections.
func (p *Postgres) start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc != nil && !p.proc.exited() {
		return errors.New("already running")
	}
	logStart := fileSize(p.logPath)
	cmd := exec.Command(p.Bin("postgres"), "-D", p.dataDir)
	cmd.Env = childEnv()
	cmd.Dir = p.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	// SIGQUIT is PostgreSQL's immediate shutdown: the postmaster takes its
	// backends down with it if we die first.
	proc, err := startProcess(cmd, p.logPath, syscall.SIGQUIT)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	err = poll(ctx, func() (bool, error) {
		if proc.exited() {
			return false, fmt.Errorf("postgres exited: %v", proc.err)
		}
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		conn, err := pgx.Connect(cctx, p.DSN("postgres"))
		if err != nil {
			return false, nil
		}
		return true, conn.Close(cctx)
	})
	if err != nil {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		kerr := proc.kill(stopCtx)
		tail := logSince(p.logPath, logStart)
		if strings.Contains(tail, "Address already in use") {
			err = fmt.Errorf("%w: %w", errPortInUse, err)
		}
		return errors.Join(fmt.Errorf("wait for postgres on port %d: %w; log %s:\n%s", p.port, err, p.logPath, tail), kerr)
	}
	p.proc = proc
	p.log.Info("postgres started", "port", p.port, "dir", p.dir, "pid", cmd.Process.Pid)
	return nil
}

// Host returns the server's Unix socket directory, usable as a libpq host.
func (p *Postgres) Host() string { return p.sockDir }

// Port returns the server's TCP port on 127.0.0.1.
func (p *Postgres) Port() int { return p.port }

// Dir returns the directory holding the server's files.
func (p *Postgres) Dir() string { return p.dir }

// LogPath returns the file the server logs to.
func (p *Postgres) LogPath() string { return p.logPath }

// Bin returns the path of the PostgreSQL program name (e.g. "pg_recvlogical").
func (p *Postgres) Bin(name string) string { return filepath.Join(p.binDir, name) }

// DSN returns a connection URL for database db as the superuser "postgres"
// over TCP, without TLS.
func (p *Postgres) DSN(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Host:     fmt.Sprintf("127.0.0.1:%d", p.port),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// ReplicationDSN is DSN with replication=database, for a logical
// replication connection to db.
func (p *Postgres) ReplicationDSN(db string) string {
	return p.DSN(db) + "&replication=database"
}

// Stop shuts the server down in PostgreSQL's fast mode (clients are
// disconnected, then a shutdown checkpoint is written) and blocks until
// every server process has exited. If ctx ends first, it kills them. Stop
// on a stopped server does nothing.
func (p *Postgres) Stop(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil {
		return nil
	}
	proc := p.proc
	p.proc = nil
	kids := descendants(proc.cmd.Process.Pid)
	if err := proc.signal(syscall.SIGINT); err != nil {
		return fmt.Errorf("stop postgres: %w", err)
	}
	if err := proc.waitGone(ctx, kids); err != nil {
		killCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		return errors.Join(fmt.Errorf("stop postgres: %w", err), proc.kill(killCtx))
	}
	p.log.Info("postgres stopped", "port", p.port)
	return nil
}

// Kill sends SIGKILL to the postmaster and all its backends at once, as a
// crash would, and blocks until they are gone. The next start runs crash
// recovery. Kill on a stopped server does nothing.
func (p *Postgres) Kill() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil {
		return nil
	}
	proc := p.proc
	p.proc = nil
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := proc.kill(ctx); err != nil {
		return fmt.Errorf("kill postgres: %w", err)
	}
	p.log.Info("postgres killed", "port", p.port)
	return nil
}

// Restart stops the server if it runs, then starts it again on the same
// directory and port; after Kill, the start runs crash recovery. It blocks
// like StartPostgres.
func (p *Postgres) Restart(ctx context.Context) error {
	if err := p.Stop(ctx); err != nil {
		return fmt.Errorf("restart postgres: %w", err)
	}
	if err := p.start(ctx); err != nil {
		return fmt.Errorf("restart postgres: %w", err)
	}
	return nil
}

// fileSize returns the size of the file at path, or 0.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// logSince returns what the file at path gained after offset, bounded like
// logTail.
func logSince(path string, offset int64) string {
	b, err := os.ReadFile(path)
	if err != nil || int64(len(b)) < offset {
		return logTail(path)
	}
	const maxBytes = 4 << 10
	b = b[offset:]
	if len(b) > maxBytes {
		b = b[len(b)-maxBytes:]
	}
	return strings.TrimSpace(string(b))
}
