package pgxscope_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

// BenchmarkPointSelect compares a point select by id under row level
// security through pgxscope with two unscoped baselines on a table without
// RLS, all over one pooled connection to the real server:
//
//	mode=a-autocommit   SELECT … WHERE tenant_id = $1 AND id = $2, autocommit (1 round trip)
//	mode=b-plain-batch  BEGIN; SELECT … WHERE id = $1; COMMIT pipelined in one batch (1 round trip)
//	mode=scoped-batch   set_config + SELECT … WHERE id = $1 under RLS, one implicit transaction (1 round trip)
//	mode=b-plain-tx     pgx Begin, SELECT, Commit (3 round trips)
//	mode=b-batch-tx     BEGIN through pgx's Batch.BeginTx (as pgxscope.Tx sends it), SELECT, COMMIT (3 round trips)
//	mode=scoped-tx      pgxscope.Tx: BEGIN+set_config, SELECT, COMMIT (3 round trips)
func BenchmarkPointSelect(b *testing.B) {
	f := newFixture(b, 1)
	ctx := f.ctxA
	tid := f.a.ID
	var name string
	run := func(b *testing.B, op func(i int64) error) {
		b.ReportAllocs()
		for range 50 { // warm statement caches
			if err := op(1); err != nil {
				b.Fatal(err)
			}
		}
		var i int64
		for b.Loop() {
			if err := op(i % 100); err != nil {
				b.Fatal(err)
			}
			i++
		}
	}
	b.Run("mode=a-autocommit", func(b *testing.B) {
		run(b, func(id int64) error {
			return f.pool.QueryRow(context.Background(), `SELECT name FROM leads_plain WHERE tenant_id = $1 AND id = $2`, tid, id).Scan(&name)
		})
	})
	b.Run("mode=b-plain-batch", func(b *testing.B) {
		run(b, func(id int64) error {
			batch := &pgx.Batch{}
			batch.BeginTx(pgx.TxOptions{})
			batch.Queue(`SELECT name FROM leads_plain WHERE id = $1`, id).QueryRow(func(r pgx.Row) error { return r.Scan(&name) })
			batch.Queue(`commit`)
			br := f.pool.SendBatch(context.Background(), batch)
			err := br.Close()
			// The batch committed; Rollback only hands the connection
			// back to the pool (it answers ErrTxClosed).
			_ = br.Tx().Rollback(context.Background())
			return err
		})
	})
	b.Run("mode=scoped-batch", func(b *testing.B) {
		run(b, func(id int64) error {
			batch := &pgx.Batch{}
			batch.Queue(`SELECT name FROM leads WHERE id = $1`, id)
			br := f.scope.SendBatch(ctx, f.pool, batch)
			if err := br.QueryRow().Scan(&name); err != nil {
				br.Close()
				return err
			}
			return br.Close()
		})
	})
	b.Run("mode=b-plain-tx", func(b *testing.B) {
		run(b, func(id int64) error {
			return pgx.BeginFunc(context.Background(), f.pool, func(tx pgx.Tx) error {
				return tx.QueryRow(context.Background(), `SELECT name FROM leads_plain WHERE id = $1`, id).Scan(&name)
			})
		})
	})
	b.Run("mode=b-batch-tx", func(b *testing.B) {
		run(b, func(id int64) error {
			batch := &pgx.Batch{}
			batch.BeginTx(pgx.TxOptions{})
			br := f.pool.SendBatch(context.Background(), batch)
			tx := br.Tx()
			if err := br.Close(); err != nil {
				_ = tx.Rollback(context.Background())
				return err
			}
			if err := tx.QueryRow(context.Background(), `SELECT name FROM leads_plain WHERE id = $1`, id).Scan(&name); err != nil {
				_ = tx.Rollback(context.Background())
				return err
			}
			return tx.Commit(context.Background())
		})
	})
	b.Run("mode=scoped-tx", func(b *testing.B) {
		run(b, func(id int64) error {
			return f.scope.Tx(ctx, f.pool, func(tx pgx.Tx) error {
				return tx.QueryRow(ctx, `SELECT name FROM leads WHERE id = $1`, id).Scan(&name)
			})
		})
	})
}
