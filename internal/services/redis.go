package services

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// RedisOptions configures StartRedis. The zero value is not usable: Dir is
// required.
type RedisOptions struct {
	// Dir is the server's working directory: its RDB and AOF files and
	// redis.log. It is created if missing.
	Dir string
	// Port is the TCP port on 127.0.0.1; 0 picks a free one.
	Port int
	// Args are extra redis-server arguments placed after the defaults
	// (--save "" --appendonly no: nothing is persisted), so they override
	// them; e.g. {"--appendonly", "yes"} makes writes survive Kill. Restart
	// starts the server with the same arguments.
	Args []string
	// Bin is the redis-server program; empty means "redis-server" in PATH.
	Bin string
	// Log receives the server's life cycle events; nil discards them. The
	// server's own log goes to LogPath.
	Log *slog.Logger
}

// Redis is a private redis-server running as a child process of this one.
// Its methods are safe for concurrent use. The server keeps running until
// Stop or Kill; the caller owns it and must stop it.
type Redis struct {
	bin, dir, logPath string
	port              int
	args              []string
	log               *slog.Logger

	mu   sync.Mutex
	proc *process // nil when stopped
}

// StartRedis starts redis-server in o.Dir and blocks until it answers PING,
// ctx ends, or the server exits; a server that fails to start returns an
// error that includes the tail of its log.
func StartRedis(ctx context.Context, o RedisOptions) (*Redis, error) {
	if o.Dir == "" {
		return nil, errors.New("start redis: Dir is required")
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("start redis: %w", err)
	}
	bin := o.Bin
	if bin == "" {
		bin = "redis-server"
	}
	if bin, err = exec.LookPath(bin); err != nil {
		return nil, fmt.Errorf("start redis: %w: %w (install with: apt-get install redis-server)", err, ErrNotInstalled)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("start redis: create %s: %w", dir, err)
	}
	r := &Redis{
		bin:     bin,
		dir:     dir,
		logPath: filepath.Join(dir, "redis.log"),
		port:    o.Port,
		args:    append([]string(nil), o.Args...),
		log:     o.Log,
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	pick := r.port == 0
	for attempt := 1; ; attempt++ {
		if pick {
			if r.port, err = freePort(); err != nil {
				return nil, fmt.Errorf("start redis: %w", err)
			}
		}
		err = r.start(ctx)
		if err == nil {
			return r, nil
		}
		// Another process may take a free port between our probe and the
		// server's bind; pick again in that case only, at once: this is
		// not a backoff loop, as waiting would not free the port.
		if !pick || attempt == 3 || !errors.Is(err, errPortInUse) {
			return nil, fmt.Errorf("start redis: %w", err)
		}
		r.log.Debug("redis port taken, retrying", "port", r.port)
	}
}

// start runs redis-server and waits until it answers PING.
func (r *Redis) start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc != nil && !r.proc.exited() {
		return errors.New("already running")
	}
	args := append([]string{
		"--port", strconv.Itoa(r.port),
		"--bind", "127.0.0.1",
		"--dir", r.dir,
		"--save", "",
		"--appendonly", "no",
		"--daemonize", "no",
		"--logfile", "", // stdout, which goes to redis.log
	}, r.args...)
	logStart := fileSize(r.logPath)
	cmd := exec.Command(r.bin, args...)
	cmd.Env = childEnv()
	cmd.Dir = r.dir
	proc, err := startProcess(cmd, r.logPath, syscall.SIGKILL)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	err = poll(ctx, func() (bool, error) {
		if proc.exited() {
			return false, fmt.Errorf("redis-server exited: %v", proc.err)
		}
		return r.ping(ctx) == nil, nil
	})
	if err != nil {
		killCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		kerr := proc.kill(killCtx)
		tail := logSince(r.logPath, logStart)
		if strings.Contains(tail, "Address already in use") {
			err = fmt.Errorf("%w: %w", errPortInUse, err)
		}
		return errors.Join(fmt.Errorf("wait for redis on port %d: %w; log %s:\n%s", r.port, err, r.logPath, tail), kerr)
	}
	r.proc = proc
	r.log.Info("redis started", "addr", r.Addr(), "dir", r.dir, "pid", cmd.Process.Pid)
	return nil
}

// ping sends PING and expects PONG; a server still loading its data
// answers -LOADING, which is not ready.
func (r *Redis) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", r.Addr())
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		if err := c.SetDeadline(dl); err != nil {
			return err
		}
	}
	if _, err := c.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line = strings.TrimSpace(line); line != "+PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// Addr returns the server's address, 127.0.0.1:port.
func (r *Redis) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)) }

// Port returns the server's TCP port on 127.0.0.1.
func (r *Redis) Port() int { return r.port }

// Dir returns the server's working directory.
func (r *Redis) Dir() string { return r.dir }

// LogPath returns the file the server logs to.
func (r *Redis) LogPath() string { return r.logPath }

// Stop shuts the server down with SIGTERM (it writes its AOF or RDB file
// if configured to) and blocks until it has exited. If ctx ends first, it
// kills it. Stop on a stopped server does nothing.
func (r *Redis) Stop(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc == nil {
		return nil
	}
	proc := r.proc
	r.proc = nil
	if err := proc.signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop redis: %w", err)
	}
	if err := proc.waitGone(ctx, nil); err != nil {
		killCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		return errors.Join(fmt.Errorf("stop redis: %w", err), proc.kill(killCtx))
	}
	r.log.Info("redis stopped", "addr", r.Addr())
	return nil
}

// Kill sends SIGKILL to the server, as a crash would, and blocks until it
// is gone. Only what reached its AOF survives. Kill on a stopped server
// does nothing.
func (r *Redis) Kill() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc == nil {
		return nil
	}
	proc := r.proc
	r.proc = nil
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := proc.kill(ctx); err != nil {
		return fmt.Errorf("kill redis: %w", err)
	}
	r.log.Info("redis killed", "addr", r.Addr())
	return nil
}

// Restart stops the server if it runs, then starts it again with the same
// directory, port and arguments, so it reloads whatever it persisted. It
// blocks like StartRedis.
func (r *Redis) Restart(ctx context.Context) error {
	if err := r.Stop(ctx); err != nil {
		return fmt.Errorf("restart redis: %w", err)
	}
	if err := r.start(ctx); err != nil {
		return fmt.Errorf("restart redis: %w", err)
	}
	return nil
}
