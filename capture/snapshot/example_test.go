package snapshot_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/capture/snapshot"
)

// The caller (capture/replication) has created a slot with an exported
// snapshot and keeps its replication connection open while Run imports it.
func ExampleSnapshotter_Run() {
	ctx := context.Background()
	report := func(p snapshot.Progress) {
		fmt.Fprintf(os.Stderr, "%s: %d of about %d rows, %.0f rows/s\n", p.Table, p.Rows, p.RowsEstimated, p.Rate())
	}
	s, err := snapshot.New(snapshot.Config{ChunkRows: 5000, Progress: report},
		slog.Default(), snapshot.NewMetrics(prometheus.NewRegistry()))
	if err != nil {
		fmt.Println(err)
		return
	}
	var (
		dsn             = "postgres://cdcflow@db.internal/orders"
		snapshotName    = "00000003-0000001B-1" // from CREATE_REPLICATION_SLOT ... EXPORT_SNAPSHOT
		consistentPoint = capture.LSN(0x16B374D848)
		orders          = snapshot.Table{OID: 16384}
	)
	err = s.Run(ctx, dsn, snapshotName, []snapshot.Table{orders}, 1, consistentPoint-1,
		func(ctx context.Context, msgs []capture.Message) error {
			for _, m := range msgs {
				if c, ok := m.(*capture.Change); ok {
					_ = c.Key() // hand the row on; this may block (backpressure)
				}
			}
			return nil
		})
	if err != nil {
		fmt.Println(err)
	}
}
