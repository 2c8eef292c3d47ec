package config

import (
	"errors"
	"time"

	"github.com/cdcflow/cdcflow/capture/replication"
)

// LeaseConfig configures the capture lease that lets several `cdcflow run`
// instances of one slot run side by side: one streams, the others stand by
// and take over when it dies or freezes (docs/deployment.md, "HA capture").
type LeaseConfig struct {
	// Timeout is the lease session's idle_session_timeout: a frozen or cut
	// off active instance loses the lease this long after its last ping (it
	// pings every quarter of it). Default 10s; at least 1s.
	Timeout time.Duration `yaml:"timeout"`
	// PollInterval is how often a standby tries to take the lease; below
	// Timeout. Default 1s.
	PollInterval time.Duration `yaml:"poll_interval"`
	// WALSenderTimeout is the replication session's wal_sender_timeout: the
	// server ends the walsender of a process that sent no status update for
	// this long, which frees the slot when the lease holder cannot end a
	// frozen instance's walsender itself. Default 10s; negative keeps the
	// server's setting.
	WALSenderTimeout time.Duration `yaml:"wal_sender_timeout"`
	// TCPUserTimeout is the server-side tcp_user_timeout of the lease
	// session: how long data sent to a vanished host may stay
	// unacknowledged before the server drops the connection. Not set on the
	// replication session, whose window a paused (backpressured) Reader
	// keeps closed on purpose. Default 10s; negative keeps the server's
	// setting.
	TCPUserTimeout time.Duration `yaml:"tcp_user_timeout"`
}

// setDefaults takes the lease's and the Reader's own defaults.
func (l *LeaseConfig) setDefaults() {
	d := replication.LeaseConfig{Timeout: l.Timeout, PollInterval: l.PollInterval, TCPUserTimeout: l.TCPUserTimeout, Instance: "-"}.WithDefaults()
	l.Timeout, l.PollInterval, l.TCPUserTimeout = d.Timeout, d.PollInterval, d.TCPUserTimeout
	l.WALSenderTimeout = replication.Config{WALSenderTimeout: l.WALSenderTimeout}.WithDefaults().WALSenderTimeout
}

func (l *LeaseConfig) validate() error {
	var errs []error
	if l.Timeout < time.Second {
		errs = append(errs, invalidKey("timeout", "%s is below 1s", l.Timeout))
	}
	if l.PollInterval <= 0 || l.PollInterval >= l.Timeout {
		errs = append(errs, invalidKey("poll_interval", "%s must be positive and below timeout (%s)", l.PollInterval, l.Timeout))
	}
	return errors.Join(errs...)
}

// LeaseConfig is the capture lease's configuration for cfg.
func (cfg *Config) LeaseConfig() replication.LeaseConfig {
	return replication.LeaseConfig{
		DSN:            cfg.Source.DSN,
		Slot:           cfg.Capture.Slot,
		Timeout:        cfg.Capture.Lease.Timeout,
		PollInterval:   cfg.Capture.Lease.PollInterval,
		TCPUserTimeout: cfg.Capture.Lease.TCPUserTimeout,
	}
}
