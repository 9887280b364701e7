package pgxscope

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tenantwall/tenantwall/sqlscope"
)

// Stdlib is the sqlscope.ConnBeginner of pgx's database/sql driver
// (github.com/jackc/pgx/v5/stdlib), for sqlscope.Units: it sends BEGIN and
// set_config(setting, id, true) pipelined in one round trip (pgx's
// Batch.BeginTx, as Scope.Tx does), where database/sql needs two, and
// commits with pgx, which reports as an error a COMMIT that PostgreSQL
// answered with ROLLBACK (a failed transaction).
//
// A connection whose state is not known to be idle after a failure is
// discarded, never handed to the next unit: BeginScoped and the end
// function return driver.ErrBadConn through sql.Conn.Raw, and pgx's
// driver also refuses to reuse a connection left in a transaction. If the
// unit's statements ended the transaction themselves (COMMIT sent as
// text), the end function returns ErrTransactionEnded, as Scope.Tx does.
//
// It does not check the role: sqlscope.NewRLS has checked the handle's
// (sqlscope.WithRLS is required with it). The zero value is ready for use
// and safe for concurrent use.
type Stdlib struct{}

var _ sqlscope.ConnBeginner = Stdlib{}

// BeginScoped implements sqlscope.ConnBeginner.
func (Stdlib) BeginScoped(ctx context.Context, conn *sql.Conn, opts *sql.TxOptions, setting, id string) (func(commit bool) error, error) {
	if conn == nil {
		return nil, fmt.Errorf("%w: nil *sql.Conn", ErrBatcher)
	}
	txo, err := pgxTxOptions(opts)
	if err != nil {
		return nil, err
	}
	var pc *pgx.Conn
	var tx pgx.Tx
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(interface{ Conn() *pgx.Conn })
		if !ok {
			return fmt.Errorf("%w %T: not a connection of pgx's database/sql driver", ErrBatcher, dc)
		}
		pc = c.Conn()
		if s := pc.PgConn().TxStatus(); s != 'I' {
			return errors.Join(fmt.Errorf("pgxscope: connection in transaction status %q before BEGIN", s), driver.ErrBadConn)
		}
		b := &pgx.Batch{}
		b.BeginTx(txo)
		b.Queue(setConfigSQL, setting, id)
		br := pc.SendBatch(ctx, b)
		tx = br.Tx()
		if err := br.Close(); err != nil {
			return discardUnlessIdle(ctx, pc, tx, fmt.Errorf("pgxscope: begin scoped transaction: %w", err))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return func(commit bool) error {
		return conn.Raw(func(any) error {
			if !commit {
				return discardUnlessIdle(ctx, pc, tx, nil)
			}
			if pc.PgConn().TxStatus() == 'I' && !pc.IsClosed() {
				return fmt.Errorf("%w: the statements ended the transaction; those after its end ran without a tenant", ErrTransactionEnded)
			}
			if err := tx.Commit(ctx); err != nil {
				return discardUnlessIdle(ctx, pc, tx, err)
			}
			return nil
		})
	}, nil
}

// discardUnlessIdle rolls tx back (bounded, even after ctx ended) and
// returns err, joined with driver.ErrBadConn — database/sql then closes
// the connection — unless the connection is idle afterwards.
func discardUnlessIdle(ctx context.Context, pc *pgx.Conn, tx pgx.Tx, err error) error {
	if tx != nil && !pc.IsClosed() && pc.PgConn().TxStatus() != 'I' {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
		defer cancel()
		_ = tx.Rollback(rctx)
	}
	if pc.IsClosed() || pc.PgConn().TxStatus() != 'I' {
		return errors.Join(err, driver.ErrBadConn)
	}
	return err
}

// pgxTxOptions maps database/sql transaction options to pgx's.
func pgxTxOptions(opts *sql.TxOptions) (pgx.TxOptions, error) {
	var o pgx.TxOptions
	if opts == nil {
		return o, nil
	}
	if opts.ReadOnly {
		o.AccessMode = pgx.ReadOnly
	}
	switch opts.Isolation {
	case sql.LevelDefault:
	case sql.LevelReadUncommitted:
		o.IsoLevel = pgx.ReadUncommitted
	case sql.LevelReadCommitted:
		o.IsoLevel = pgx.ReadCommitted
	case sql.LevelRepeatableRead:
		o.IsoLevel = pgx.RepeatableRead
	case sql.LevelSerializable:
		o.IsoLevel = pgx.Serializable
	default:
		return o, fmt.Errorf("pgxscope: isolation level %s is not PostgreSQL's", opts.Isolation)
	}
	return o, nil
}
