package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/capture/pgoutput"
)

// drainBare drains the slot with the simplest loop that receives and
// decodes as cdcflow does: one goroutine receiving with pgconn (reading as the
// Reader reads: a 64 KiB buffer, no context per receive) and decoding with
// capture/pgoutput, no handler hand-off, chunking or standby status updates
// beyond the last one. Comparing it with the Reader separates the cost of
// decoding from the cost of the Reader's loop.
func drainBare(ctx context.Context, o drainOptions, end capture.LSN) (drainResult, error) {
	var res drainResult
	cfg, err := pgconn.ParseConfig(o.dsn)
	if err != nil {
		return res, err
	}
	cfg.RuntimeParams["replication"] = "database"
	for k, v := range map[string]string{"DateStyle": "ISO", "IntervalStyle": "postgres", "extra_float_digits": "3",
		"TimeZone": "UTC", "bytea_output": "hex", "lc_monetary": "C"} {
		cfg.RuntimeParams[k] = v
	}
	// Read as the Reader does: through a 64 KiB buffer, without a context
	// per receive (a cancel sets a deadline in the past instead).
	cfg.BuildFrontend = func(r io.Reader, w io.Writer) *pgproto3.Frontend {
		return pgproto3.NewFrontend(bufio.NewReaderSize(r, 64<<10), w)
	}
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return res, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	err = pglogrepl.StartReplication(ctx, conn, o.slot, 0, pglogrepl.StartReplicationOptions{PluginArgs: []string{
		"proto_version '1'", "publication_names '" + o.publication + "'", "messages 'true'"}})
	if err != nil {
		return res, fmt.Errorf("start replication: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Conn().SetDeadline(time.Now()) })
	defer stop()
	dec := pgoutput.NewDecoder(pgoutput.Config{})
	var first time.Time
	for {
		msg, err := conn.ReceiveMessage(context.Background())
		if err != nil {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			return res, fmt.Errorf("receive: %w", err)
		}
		cd, ok := msg.(*pgproto3.CopyData)
		if !ok || len(cd.Data) == 0 || cd.Data[0] != pglogrepl.XLogDataByteID {
			continue
		}
		if first.IsZero() {
			first = time.Now()
		}
		xld, err := pglogrepl.ParseXLogData(cd.Data[1:])
		if err != nil {
			return res, err
		}
		m, err := dec.Decode(capture.LSN(xld.WALStart), xld.WALData)
		if err != nil {
			return res, err
		}
		switch m := m.(type) {
		case *capture.Begin:
			if m.FinalLSN >= end {
				res.Seconds = time.Since(first).Seconds()
				return res, nil
			}
		case *capture.Change:
			res.Changes++
		case *capture.Commit:
			res.Transactions++
		}
	}
}
