package status

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/cdcflow/cdcflow/capture/replication"
)

// failover adds the failover slot's lines (Config.Failover): the primary's
// side from conn, and the standby's from Config.StandbyDSN when set.
func (g *gatherer) failover(ctx context.Context, conn *pgx.Conn) {
	p, err := replication.ReadFailover(ctx, conn, g.cfg.Slot)
	if err != nil {
		g.add("source", "failover", pgError(err), "", Fail)
		return
	}
	g.addFindings(replication.JudgePrimary(g.cfg.Slot, p))
	if p.Supported() && p.Slot.Exists {
		g.add("source", "failover slot on primary", slotText(p.Slot), "", OK)
	}
	if g.cfg.StandbyDSN == "" {
		g.add("source", "failover standby", "source.standby_dsn is not set: the standby's side is not checked", "", OK)
		return
	}
	sconn, err := pgx.Connect(ctx, g.cfg.StandbyDSN)
	if err != nil {
		g.add("source", "failover standby", "unreachable: "+pgError(err), "", Fail)
		return
	}
	defer sconn.Close(context.WithoutCancel(ctx))
	s, err := replication.ReadFailover(ctx, sconn, g.cfg.Slot)
	if err != nil {
		g.add("source", "failover standby", pgError(err), "", Fail)
		return
	}
	var list []string
	if p.Supported() && !hidden(p, "synchronized_standby_slots") {
		list = p.StandbySlots()
		if list == nil {
			list = []string{} // known to be empty
		}
	}
	g.addFindings(replication.JudgeStandby(g.cfg.Slot, list, s))
	if s.Supported() && s.Slot.Exists {
		g.add("source", "failover slot on standby", slotText(s.Slot), "", OK)
	}
}

// addFindings adds one line per finding, its fix after its value.
func (g *gatherer) addFindings(fs []replication.FailoverFinding) {
	for _, f := range fs {
		v := OK
		switch f.Level {
		case replication.FailoverWarn:
			v = Warn
		case replication.FailoverFail:
			v = Fail
		}
		value := f.Value
		if f.Fix != "" {
			value += ": " + f.Fix
		}
		g.add("source", "failover "+f.Name, value, "", v)
	}
}

// slotText shows a slot's failover columns.
func slotText(s replication.FailoverSlot) string {
	inv := s.InvalidationReason
	if inv == "" {
		inv = "none"
	}
	return fmt.Sprintf("failover %t, synced %t, temporary %t, invalidation_reason %s", s.Failover, s.Synced, s.Temporary, inv)
}

func hidden(s replication.ServerFailover, name string) bool {
	for _, h := range s.Hidden {
		if h == name {
			return true
		}
	}
	return false
}
