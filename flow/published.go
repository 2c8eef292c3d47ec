package flow

import "github.com/cdcflow/cdcflow/capture"

// StoredSource returns the source URI and the LSN of the unit of the stored
// position (what TxPublisher.Start returned): the last position durable in
// Kafka in exactly-once mode; ok is false when there is none. For
// replication.Config.Published, which judges with it whether a failover
// slot may resume on a promoted standby as the same source.
func StoredSource(stored []byte) (source string, lsn capture.LSN, ok bool) {
	c, err := parseTxCursor(stored)
	if err != nil || c.Source == "" {
		return "", 0, false
	}
	return c.Source, c.LSN, true
}
