package replication

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// replConn is what the streaming loop uses of the replication connection. The
// loop is its only user: a *pgconn.PgConn is not safe for concurrent use.
// Each method is one call on the connection, so going through the interface
// costs one indirect call per received message and nothing per row.
type replConn interface {
	// receive returns the next message from the server, or nil and no error
	// when the read deadline passed first.
	receive() (pgproto3.BackendMessage, error)
	// sendStatus sends a standby status update.
	sendStatus(u pglogrepl.StandbyStatusUpdate) error
	// setReadDeadline sets the time at which a blocked receive returns.
	setReadDeadline(t time.Time) error
}

// pgReplConn is a replConn over a replication connection.
type pgReplConn struct{ conn *pgconn.PgConn }

// receive uses no context: ReceiveMessage arms pgconn's context watcher for
// every call with one. The read deadline bounds the wait instead, and the
// session's end sets a deadline in the past (see interruptOnDone).
func (c pgReplConn) receive() (pgproto3.BackendMessage, error) {
	msg, err := c.conn.ReceiveMessage(context.Background())
	if err != nil && pgconn.Timeout(err) {
		return nil, nil
	}
	return msg, err
}

func (c pgReplConn) sendStatus(u pglogrepl.StandbyStatusUpdate) error {
	// SendStandbyStatusUpdate ignores its context: a write blocked on a full
	// send buffer ends with the deadline interruptOnDone sets.
	return pglogrepl.SendStandbyStatusUpdate(context.Background(), c.conn, u)
}

func (c pgReplConn) setReadDeadline(t time.Time) error {
	return c.conn.Conn().SetReadDeadline(t)
}

// interruptOnDone ends a receive blocked on rconn, or a status update stuck
// on a full send buffer, as soon as ctx is done, by setting a deadline in the
// past on the connection. The loop checks ctx after setting its own read
// deadline, so it cannot undo this one. Call the returned stop when the
// session ends.
func interruptOnDone(ctx context.Context, rconn *pgconn.PgConn) (stop func() bool) {
	return context.AfterFunc(ctx, func() { _ = rconn.Conn().SetDeadline(time.Now()) })
}

// readDeadline is the replication connection's read deadline, set on the
// connection only when it changes, not per message.
type readDeadline struct {
	conn replConn
	at   time.Time
}

func (d *readDeadline) set(t time.Time) error {
	if t.Equal(d.at) {
		return nil
	}
	if err := d.conn.setReadDeadline(t); err != nil {
		return fmt.Errorf("set read deadline: %w", err)
	}
	d.at = t
	return nil
}
