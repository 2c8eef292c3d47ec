package quickstart

import (
	"fmt"
	"net"
	"strings"
)

// MappingFile is the reference mapping's path in the repository, which
// StatusHint's command names.
const MappingFile = "deploy/examples/orders/mapping.yaml"

// PostgresHint says where the private PostgreSQL listens and how to look.
func PostgresHint(port int, dsn string) string {
	return fmt.Sprintf("PostgreSQL 15 (wal_level=logical) listens on 127.0.0.1:%d; while this runs, look with:\n  psql '%s'\n", port, dsn)
}

// CaptureHint says where the flow captures to: the embedded broker's
// directory and the topics.
func CaptureHint(kafkaDir string, topics []string) string {
	return fmt.Sprintf("capturing into the embedded Kafka broker in %s (topics %s); Ctrl-C stops\n", kafkaDir, strings.Join(topics, ", "))
}

// StatusHint is the `cdcflow status` command that shows every stage's
// position of the quickstart (source at dsn, in zone, state in dataDir),
// run from the repository in another terminal.
func StatusHint(dsn, zone, dataDir string) string {
	return fmt.Sprintf("every stage's position, from the repository in another terminal:\n  CDCFLOW_SOURCE_DSN='%s' CDCFLOW_SOURCE_TIMEZONE=%s CDCFLOW_MAPPING_FILE=%s CDCFLOW_DATA_DIR=%s cdcflow status\n",
		dsn, zone, MappingFile, dataDir)
}

// RedisHint says where the private Redis listens and how to list the
// views' keys under prefix.
func RedisHint(addr string, port int, prefix string) string {
	return fmt.Sprintf("Redis listens on %s; the reference views go there under %q:\n  redis-cli -p %d --scan --pattern '%s*'\n",
		addr, prefix, port, prefix)
}

// DashboardHint says where the dashboard and the query API answer.
func DashboardHint(addr string) string {
	return fmt.Sprintf("dashboard and query API on http://%s/ (curl http://%s/v1/views)\n", addr, addr)
}

// LoadStatus is the load generator's part of the live status line.
func LoadStatus(transactions int64) string {
	return fmt.Sprintf("load %d tx", transactions)
}

// FreeOr returns addr, or 127.0.0.1:0 (a free port) when addr is taken, so
// that a second quickstart, or a test, does not fail on a busy port 8080.
// An empty addr (turned off) stays empty.
func FreeOr(addr string) string {
	if addr == "" {
		return ""
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "127.0.0.1:0"
	}
	l.Close()
	return addr
}
