package replication

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestClassifyConnect(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		fatal   bool
		fixHint string
	}{
		{"database does not exist", &pgconn.PgError{Code: "3D000"}, true, "does not exist"},
		{"password", &pgconn.PgError{Code: "28P01"}, true, "user and password"},
		{"no pg_hba entry", &pgconn.PgError{Code: "28000"}, true, "pg_hba.conf"},
		{"privilege", &pgconn.PgError{Code: "42501"}, true, "REPLICATION"},
		{"starting up", &pgconn.PgError{Code: "57P03"}, false, ""},
		{"too many connections", &pgconn.PgError{Code: "53300"}, false, ""},
		{"tls refused", errors.New("tls error: server refused TLS connection"), true, "sslmode=prefer"},
		{"unknown CA", x509.UnknownAuthorityError{}, true, "sslrootcert"},
		{"unreachable", io.ErrUnexpectedEOF, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := classifyConnect(fmt.Errorf("connect to source: %w", tt.err))
			_, isFatal := errors.AsType[*fatalError](err)
			ce, isConnect := errors.AsType[*ConnectError](err)
			if isFatal != tt.fatal || isConnect != tt.fatal {
				t.Fatalf("classifyConnect(%v) = %v (fatal %v, ConnectError %v); want fatal %v", tt.err, err, isFatal, isConnect, tt.fatal)
			}
			if tt.fatal && !strings.Contains(ce.Fix, tt.fixHint) {
				t.Errorf("fix = %q; want it to mention %q", ce.Fix, tt.fixHint)
			}
		})
	}
	if classifyConnect(nil) != nil {
		t.Error("classifyConnect(nil) != nil")
	}
}
