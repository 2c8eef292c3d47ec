package main

import (
	"errors"
	"fmt"

	"github.com/cdcflow/cdcflow/pipeline"
)

// brokenRuleError adds to err, when a table lost REPLICA IDENTITY FULL under a
// rule that reads old values, the two ways past the changes written without
// the old row. Restoring FULL is not enough: those changes stay in the WAL
// as they were written, and the slot replays them on every restart.
func brokenRuleError(err error, slot, deadLetterTopic string) error {
	var rb *pipeline.RuleBrokenError
	if !errors.As(err, &rb) || !rb.OldRowMissing {
		return err
	}
	return fmt.Errorf("%w\n"+
		"restore FULL first if it is not FULL yet (ALTER TABLE %s REPLICA IDENTITY FULL); that covers later changes only, so get past the ones already written without the old row in one of two ways:\n"+
		"  1. restart once with CDCFLOW_MAPPING_ON_BROKEN_RULE=dead_letter (mapping.on_broken_rule): the table's updates and deletes written without the old row go to %s with this reason, everything else maps as usual; then restart without it, so that a later loss of FULL stops run again; or\n"+
		"  2. re-snapshot: run SELECT pg_drop_replication_slot('%s') and restart; the views drop what the new snapshot epoch no longer holds",
		err, rb.Table, deadLetterTopic, slot)
}
