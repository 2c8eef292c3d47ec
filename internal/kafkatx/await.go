package kafkatx

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/cdcflow/cdcflow/backpressure"
)

// AwaitNoTransaction polls DescribeTransactions until transactional id has
// no transaction in progress, for at most within. A writer calls it after
// fencing its previous incarnation (InitProducerID): the broker ends the
// fenced transaction asynchronously, so the fence alone does not mean its
// markers are written. Retries are logged on log (nil: not logged).
func AwaitNoTransaction(ctx context.Context, adm *kadm.Client, id string, within time.Duration, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	// Doubling from 10ms to 1s without jitter: one poller, nothing to spread.
	b := backpressure.Backoff{Initial: 10 * time.Millisecond, Max: time.Second, Floor: 1, Op: "await the previous transaction's end", Log: log}
	for {
		described, err := adm.DescribeTransactions(ctx, id)
		if err == nil {
			d, ok := described[id]
			switch {
			case !ok:
				err = fmt.Errorf("transactional id %q not described", id)
			case d.Err != nil:
				err = d.Err
			default:
				switch d.State {
				case "Ongoing", "PrepareCommit", "PrepareAbort", "PrepareEpochFence":
					err = fmt.Errorf("previous transaction of %q still %s", id, d.State)
				default:
					return nil
				}
			}
		}
		if b.Wait(ctx, err) != nil {
			return fmt.Errorf("wait for the previous transaction to end: %w", err)
		}
	}
}
