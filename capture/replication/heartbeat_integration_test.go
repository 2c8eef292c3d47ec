package replication

import (
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/internal/testenv"
)

// TestIntegrationHeartbeatClock: a heartbeat's content is the server's
// clock in UTC, in the form the decoder parses, whatever the session's
// time zone and date style.
func TestIntegrationHeartbeatClock(t *testing.T) {
	db := testenv.Postgres(t).NewDatabase(t)
	conn := db.Conn(t)
	for _, set := range []string{"SET TimeZone = 'UTC'", "SET TimeZone = 'Pacific/Chatham'", "SET DateStyle = 'SQL, DMY'"} {
		if _, err := conn.Exec(t.Context(), set); err != nil {
			t.Fatal(err)
		}
		var text string
		var server time.Time
		if err := conn.QueryRow(t.Context(), "SELECT "+heartbeatClock+", clock_timestamp()").Scan(&text, &server); err != nil {
			t.Fatalf("%s: %v", set, err)
		}
		got, err := time.Parse(time.RFC3339Nano, text)
		if err != nil {
			t.Fatalf("%s: heartbeat content %q does not parse as RFC 3339: %v", set, text, err)
		}
		if d := server.Sub(got); d < 0 || d > time.Second {
			t.Errorf("%s: heartbeat content %s, server clock right after %s: want the server's clock", set, got, server)
		}
	}
}
