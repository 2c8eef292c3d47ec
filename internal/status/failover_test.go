package status

import (
	"reflect"
	"testing"

	"github.com/cdcflow/cdcflow/capture/replication"
)

func TestAddFindings(t *testing.T) {
	g := &gatherer{s: &Status{}}
	g.addFindings([]replication.FailoverFinding{
		{Name: "synchronized_standby_slots", Value: "sb1_slot", Level: replication.FailoverOK},
		{Name: "synchronized_standby_slots", Value: "empty", Level: replication.FailoverWarn, Fix: "set it"},
		{Name: "standby slot", Value: "absent", Level: replication.FailoverFail, Fix: "is it synced?"},
	})
	want := []Line{
		{Stage: "source", Name: "failover synchronized_standby_slots", Value: "sb1_slot", Verdict: OK},
		{Stage: "source", Name: "failover synchronized_standby_slots", Value: "empty: set it", Verdict: Warn},
		{Stage: "source", Name: "failover standby slot", Value: "absent: is it synced?", Verdict: Fail},
	}
	if !reflect.DeepEqual(g.s.Lines, want) {
		t.Errorf("addFindings lines = %+v; want %+v", g.s.Lines, want)
	}
}

func TestSlotText(t *testing.T) {
	got := slotText(replication.FailoverSlot{Exists: true, Failover: true, Synced: true, InvalidationReason: "wal_removed"})
	if want := "failover true, synced true, temporary false, invalidation_reason wal_removed"; got != want {
		t.Errorf("slotText = %q; want %q", got, want)
	}
}
