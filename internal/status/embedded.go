package status

import (
	"context"
	"net"
	"os"
	"time"

	"github.com/cdcflow/cdcflow/internal/services"
)

// EmbeddedBroker finds the embedded broker whose state is in dir
// (<data_dir>/kafka) for a status that has no kafka.brokers. When the
// address recorded there (recorded, from `cdcflow run`) answers, a process
// holds the broker and its address is returned. Otherwise, when dir holds
// a broker's state, a broker is started on it for the caller, who must call
// stop once done (it writes back the state it read). Otherwise no brokers
// are returned, and note says why: "embedded broker: not running".
func EmbeddedBroker(ctx context.Context, dir string, recorded []string) (brokers []string, stop func(), note string) {
	stop = func() {}
	if len(recorded) > 0 {
		var d net.Dialer
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		conn, err := d.DialContext(dctx, "tcp", recorded[0])
		cancel()
		if err == nil {
			conn.Close()
			return recorded, stop, ""
		}
	}
	if !holdsState(dir) {
		return nil, stop, "embedded broker: not running (no broker state in " + dir + ")"
	}
	k, err := services.StartKafka(ctx, services.KafkaOptions{DataDir: dir, NoAutoCreateTopics: true})
	if err != nil {
		return nil, stop, "embedded broker: not running (open " + dir + ": " + err.Error() + ")"
	}
	return k.Addrs(), k.Close, ""
}

// holdsState reports whether dir holds more than the recorded address.
func holdsState(dir string) bool {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if e.Name() != "broker.addr" {
			return true
		}
	}
	return false
}
