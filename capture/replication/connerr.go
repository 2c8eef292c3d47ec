package replication

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// ConnectError is a failure to connect to the source database that retrying
// cannot fix: the database does not exist, the role cannot log in or lacks a
// privilege, or TLS settings do not match the server. Fix says what to change
// in the DSN or on the server. The Reader's Run and Preflight return it at
// once instead of reconnecting; an unreachable server or one that is starting
// up is retried instead.
type ConnectError struct {
	Err error
	Fix string
}

func (e *ConnectError) Error() string { return e.Err.Error() + ": " + e.Fix }
func (e *ConnectError) Unwrap() error { return e.Err }

// classifyConnect turns a connection failure that retrying cannot fix into a
// fatal *ConnectError and returns every other error as it is.
func classifyConnect(err error) error {
	if err == nil {
		return nil
	}
	if fix := connectFix(err); fix != "" {
		return fatal(&ConnectError{Err: err, Fix: fix})
	}
	return err
}

// connectFix returns what to do about a connection failure that retrying
// cannot fix, or "" for one worth retrying.
func connectFix(err error) string {
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		switch {
		case pgErr.Code == "3D000":
			return "the database named in the DSN does not exist: check the database name (the path of a URL, or dbname=)"
		case pgErr.Code == "28P01" || pgErr.Code == "28000":
			return "the server refused the login: check the user and password in the DSN (or its password file), and pg_hba.conf for this host and user"
		case pgErr.Code == "42501":
			return "the role lacks a privilege: it needs LOGIN and REPLICATION (ALTER ROLE ... REPLICATION), or use a role that has them"
		}
		return ""
	}
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		return "the server's TLS certificate is not trusted: set sslrootcert to the CA that signed it, or use sslmode=require to encrypt without verifying"
	}
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return "the server's TLS certificate is not trusted: set sslrootcert to the CA that signed it, or use sslmode=require to encrypt without verifying"
	}
	if _, ok := errors.AsType[x509.HostnameError](err); ok {
		return "the server's TLS certificate does not name the host in the DSN: connect by a name the certificate holds, or use sslmode=verify-ca"
	}
	if strings.Contains(err.Error(), "server refused TLS connection") {
		return "the server does not offer TLS but the DSN requires it (sslmode=require or stricter): enable ssl on the server, or set sslmode=prefer or disable"
	}
	return ""
}
