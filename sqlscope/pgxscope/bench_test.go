package pgxscope_test

import (
	"context"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/sqlscope"
)

// benchTables creates bench_plain (no RLS) and bench_rls (isolated with
// sqlscope.EnableRLS, the default policy) with the same rows: 100 tenants
// of 1,000 rows each, so the planner sees a table of realistic size — on a
// table of a few hundred rows it would scan the heap instead of using the
// primary key, and the benchmark would compare two different plans. The
// fixture's tenant A owns ids 0–999, tenant B ids 1000–1999.
func benchTables(b *testing.B, f *fixture) {
	b.Helper()
	ctx := context.Background()
	for _, s := range []struct {
		sql  string
		args []any
	}{
		{sql: `CREATE TABLE bench_plain (id bigint PRIMARY KEY, tenant_id text NOT NULL, name text NOT NULL)`},
		{sql: `INSERT INTO bench_plain SELECT i, CASE i / 1000 WHEN 0 THEN $1 WHEN 1 THEN $2 ELSE md5((i / 1000)::text)::uuid::text END, 'lead ' || i FROM generate_series(0, 99999) i`,
			args: []any{f.a.ID, f.b.ID}},
		{sql: `CREATE TABLE bench_rls (LIKE bench_plain INCLUDING ALL)`},
		{sql: `INSERT INTO bench_rls SELECT * FROM bench_plain`},
	} {
		if _, err := f.admin.ExecContext(ctx, s.sql, s.args...); err != nil {
			b.Fatal(err)
		}
	}
	if err := sqlscope.EnableRLS(ctx, f.admin, "", "bench_rls"); err != nil {
		b.Fatal(err)
	}
	// VACUUM now, so that autovacuum does not wake up on the fresh rows in
	// the middle of one of the modes.
	for _, s := range []string{`GRANT SELECT ON bench_plain, bench_rls TO ` + f.role, `VACUUM ANALYZE bench_plain`, `VACUUM ANALYZE bench_rls`} {
		if _, err := f.admin.ExecContext(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
	// Both point selects must use the primary key, or the comparison is
	// between plans, not between scoped and unscoped.
	for _, table := range []string{"bench_plain", "bench_rls"} {
		batch := &pgx.Batch{}
		var plan []string
		batch.Queue(`EXPLAIN SELECT name FROM `+table+` WHERE id = $1`, int64(1)).Query(func(r pgx.Rows) error {
			var line string
			_, err := pgx.ForEachRow(r, []any{&line}, func() error { plan = append(plan, line); return nil })
			return err
		})
		if err := f.scope.SendBatch(f.ctxA, f.pool, batch).Close(); err != nil {
			b.Fatal(err)
		}
		if len(plan) == 0 || !strings.Contains(plan[0], "Index Scan using "+table+"_pkey") {
			b.Fatalf("%s: the point select does not use the primary key:\n%s", table, strings.Join(plan, "\n"))
		}
	}
}

// BenchmarkPointSelect compares a point select by primary key under row
// level security through pgxscope with unscoped baselines on a table
// without RLS, all over one pooled connection to the real server, as an
// application role that is neither superuser, owner nor BYPASSRLS:
//
//	mode=a-autocommit   SELECT … WHERE tenant_id = $1 AND id = $2, autocommit (1 round trip)
//	mode=b-plain-batch  BEGIN; SELECT … WHERE id = $1; COMMIT pipelined in one batch (1 round trip)
//	mode=scoped-batch   pgxscope.SendBatch: set_config + SELECT … WHERE id = $1 under RLS, one implicit transaction (1 round trip)
//	mode=b-plain-tx     pgx Begin, SELECT, Commit (3 round trips)
//	mode=b-batch-tx     BEGIN through pgx's Batch.BeginTx (as pgxscope.Tx sends it), SELECT, COMMIT (3 round trips)
//	mode=scoped-tx      pgxscope.Tx: BEGIN+set_config, SELECT, COMMIT (3 round trips)
func BenchmarkPointSelect(b *testing.B) {
	f := newFixture(b, 1)
	benchTables(b, f)
	ctx := f.ctxA
	tid := f.a.ID
	bg := context.Background()
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
			if err := op(i % 1000); err != nil {
				b.Fatal(err)
			}
			i++
		}
	}
	// The order of the modes rotates from one process to the next, so that
	// no mode always runs first or right after its baseline in a series of
	// processes (drift over a process's life would fall on one side).
	modes := []struct {
		name string
		fn   func(b *testing.B)
	}{
		{"mode=a-autocommit", func(b *testing.B) {
			run(b, func(id int64) error {
				return f.pool.QueryRow(bg, `SELECT name FROM bench_plain WHERE tenant_id = $1 AND id = $2`, tid, id).Scan(&name)
			})
		}},
		{"mode=b-plain-batch", func(b *testing.B) {
			run(b, func(id int64) error {
				batch := &pgx.Batch{}
				batch.BeginTx(pgx.TxOptions{})
				batch.Queue(`SELECT name FROM bench_plain WHERE id = $1`, id).QueryRow(func(r pgx.Row) error { return r.Scan(&name) })
				batch.Queue(`commit`)
				br := f.pool.SendBatch(bg, batch)
				err := br.Close()
				// The batch committed; Rollback only hands the connection
				// back to the pool (it answers ErrTxClosed).
				_ = br.Tx().Rollback(bg)
				return err
			})
		}},
		{"mode=scoped-batch", func(b *testing.B) {
			run(b, func(id int64) error {
				batch := &pgx.Batch{}
				batch.Queue(`SELECT name FROM bench_rls WHERE id = $1`, id)
				br := f.scope.SendBatch(ctx, f.pool, batch)
				if err := br.QueryRow().Scan(&name); err != nil {
					br.Close()
					return err
				}
				return br.Close()
			})
		}},
		{"mode=b-plain-tx", func(b *testing.B) {
			run(b, func(id int64) error {
				return pgx.BeginFunc(bg, f.pool, func(tx pgx.Tx) error {
					return tx.QueryRow(bg, `SELECT name FROM bench_plain WHERE id = $1`, id).Scan(&name)
				})
			})
		}},
		{"mode=b-batch-tx", func(b *testing.B) {
			run(b, func(id int64) error {
				batch := &pgx.Batch{}
				batch.BeginTx(pgx.TxOptions{})
				br := f.pool.SendBatch(bg, batch)
				tx := br.Tx()
				if err := br.Close(); err != nil {
					_ = tx.Rollback(bg)
					return err
				}
				if err := tx.QueryRow(bg, `SELECT name FROM bench_plain WHERE id = $1`, id).Scan(&name); err != nil {
					_ = tx.Rollback(bg)
					return err
				}
				return tx.Commit(bg)
			})
		}},
		{"mode=scoped-tx", func(b *testing.B) {
			run(b, func(id int64) error {
				return f.scope.Tx(ctx, f.pool, func(tx pgx.Tx) error {
					return tx.QueryRow(ctx, `SELECT name FROM bench_rls WHERE id = $1`, id).Scan(&name)
				})
			})
		}},
	}
	first := os.Getpid() % len(modes)
	for k := range modes {
		m := modes[(first+k)%len(modes)]
		b.Run(m.name, m.fn)
	}
}

// BenchmarkScanGuard counts tenant A's 1,000 rows of the 100,000 with a
// sequential scan (no index on tenant_id), to measure what the guard costs
// per row in the policy sqlscope writes and in the obvious alternative:
//
//	policy=none       bench_plain, WHERE tenant_id = $1, no RLS (baseline)
//	policy=subselect  sqlscope's policy: tenant_id = (SELECT tenantwall.current_tenant()),
//	                  an InitPlan evaluated once per statement
//	policy=inline     tenant_id = tenantwall.current_tenant(), which PostgreSQL
//	                  inlines and evaluates per row (not what sqlscope writes)
func BenchmarkScanGuard(b *testing.B) {
	f := newFixture(b, 1)
	benchTables(b, f)
	bg := context.Background()
	for _, s := range []string{
		`CREATE TABLE bench_inline AS SELECT * FROM bench_rls`,
		`ALTER TABLE bench_inline ENABLE ROW LEVEL SECURITY`,
		`ALTER TABLE bench_inline FORCE ROW LEVEL SECURITY`,
		`CREATE POLICY inline ON bench_inline USING (tenant_id = tenantwall.current_tenant())`,
		`GRANT SELECT ON bench_inline TO ` + f.role,
		`VACUUM ANALYZE bench_inline`,
	} {
		if _, err := f.admin.ExecContext(bg, s); err != nil {
			b.Fatal(err)
		}
	}
	var n int64
	count := func(b *testing.B, query string, args ...any) {
		b.ReportAllocs()
		for b.Loop() {
			batch := &pgx.Batch{}
			// One process per scan: parallel workers would measure the
			// machine's idle cores, not the guard.
			batch.Queue(`SET LOCAL max_parallel_workers_per_gather = 0`)
			batch.Queue(query, args...).QueryRow(func(r pgx.Row) error { return r.Scan(&n) })
			if err := f.scope.SendBatch(f.ctxA, f.pool, batch).Close(); err != nil {
				b.Fatal(err)
			}
			if n != 1000 {
				b.Fatalf("counted %d rows, want 1000", n)
			}
		}
	}
	b.Run("policy=none", func(b *testing.B) { count(b, `SELECT count(*) FROM bench_plain WHERE tenant_id = $1`, f.a.ID) })
	b.Run("policy=subselect", func(b *testing.B) { count(b, `SELECT count(*) FROM bench_rls`) })
	b.Run("policy=inline", func(b *testing.B) { count(b, `SELECT count(*) FROM bench_inline`) })
}

// BenchmarkScopedBatchPaired measures the scoped batch against the
// unscoped batches sent the same way, interleaved operation by operation
// on one pooled connection: every iteration runs each mode once, in an
// order that rotates from one iteration to the next, so that no mode
// always follows another and the load of a shared machine falls on every
// mode alike. It reports each mode's median time per operation (medians:
// a stall of the machine lands in one sample, not in a mean) and the
// throughput ratios of the scoped batch, which benchstat then compares
// across processes:
//
//	implicit      SELECT … WHERE id = $1 alone in a batch (one implicit transaction), no RLS
//	plain-batch   BEGIN; SELECT … WHERE id = $1; COMMIT in one batch, no RLS
//	scoped-batch  pgxscope.SendBatch: set_config + the same SELECT under RLS, one implicit transaction
//	from-batch    as scoped-batch with the earlier set_config statement, "select from set_config(…)"
//	set-plain     set_config + the SELECT on the table without RLS: what the setting costs alone
func BenchmarkScopedBatchPaired(b *testing.B) {
	f := newFixture(b, 1)
	benchTables(b, f)
	bg := context.Background()
	var name string
	scan := func(r pgx.Row) error { return r.Scan(&name) }
	const sel = `SELECT name FROM bench_plain WHERE id = $1`
	const selRLS = `SELECT name FROM bench_rls WHERE id = $1`
	modes := []struct {
		name string
		op   func(id int64) error
	}{
		{"implicit", func(id int64) error {
			batch := &pgx.Batch{}
			batch.Queue(sel, id).QueryRow(scan)
			return f.pool.SendBatch(bg, batch).Close()
		}},
		{"plain-batch", func(id int64) error {
			batch := &pgx.Batch{}
			batch.Queue(`begin`)
			batch.Queue(sel, id).QueryRow(scan)
			batch.Queue(`commit`)
			return f.pool.SendBatch(bg, batch).Close()
		}},
		{"scoped-batch", func(id int64) error {
			batch := &pgx.Batch{}
			batch.Queue(selRLS, id).QueryRow(scan)
			return f.scope.SendBatch(f.ctxA, f.pool, batch).Close()
		}},
		{"set-plain", func(id int64) error {
			batch := &pgx.Batch{}
			batch.Queue(`select set_config($1, $2, true)`, sqlscope.DefaultSetting, f.a.ID)
			batch.Queue(sel, id).QueryRow(scan)
			return f.pool.SendBatch(bg, batch).Close()
		}},
		{"from-batch", func(id int64) error {
			batch := &pgx.Batch{}
			batch.Queue(`select from set_config($1, $2, true)`, sqlscope.DefaultSetting, f.a.ID)
			batch.Queue(selRLS, id).QueryRow(scan)
			return f.pool.SendBatch(bg, batch).Close()
		}},
	}
	for _, m := range modes {
		for range 50 { // warm statement caches
			if err := m.op(1); err != nil {
				b.Fatal(m.name, err)
			}
		}
	}
	b.ReportAllocs()
	samples := make([][]time.Duration, len(modes))
	var i int
	for b.Loop() {
		for k := range modes {
			j := (k + i) % len(modes)
			t0 := time.Now()
			if err := modes[j].op(int64(i % 1000)); err != nil {
				b.Fatal(modes[j].name, err)
			}
			samples[j] = append(samples[j], time.Since(t0))
		}
		i++
	}
	med := make(map[string]float64, len(modes))
	for j, m := range modes {
		slices.Sort(samples[j])
		med[m.name] = float64(samples[j][len(samples[j])/2].Nanoseconds())
		b.ReportMetric(med[m.name], m.name+"-ns/op")
	}
	b.ReportMetric(med["plain-batch"]/med["scoped-batch"], "scoped/plain-batch")
	b.ReportMetric(med["implicit"]/med["scoped-batch"], "scoped/implicit")
	b.ReportMetric(med["plain-batch"]/med["from-batch"], "from/plain-batch")
	b.ReportMetric(med["plain-batch"]/med["set-plain"], "set-plain/plain-batch")
}

// BenchmarkPointSelectPgBouncer compares scoped point selects on the same
// RLS table over one direct connection and over one client connection
// through a PgBouncer in transaction mode (pool of one server connection),
// both in pgx's exec mode, which PgBouncer 1.18 needs (no prepared
// statements), next to a direct connection in pgx's default mode:
//
//	via=direct-cache   direct, cache_statement (pgx's default)
//	via=direct-exec    direct, exec
//	via=pgbouncer-exec through PgBouncer, exec
//
// shape=tx is pgxscope.Tx (3 round trips), shape=batch pgxscope.SendBatch (1).
func BenchmarkPointSelectPgBouncer(b *testing.B) {
	f := newFixture(b, 1)
	benchTables(b, f)
	bouncer := testenv.StartPgBouncer(b, 1)
	ctx := f.ctxA
	pools := []struct {
		name string
		url  string
	}{
		{"direct-cache", f.roleURL},
		{"direct-exec", withExecMode(b, f.roleURL)},
		{"pgbouncer-exec", bouncer.URL(b, f.roleURL, "exec")},
	}
	var name string
	for _, p := range pools {
		cfg, err := pgxpool.ParseConfig(p.url)
		if err != nil {
			b.Fatal(err)
		}
		cfg.MaxConns = 1
		pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(pool.Close)
		ops := map[string]func(id int64) error{
			"tx": func(id int64) error {
				return f.scope.Tx(ctx, pool, func(tx pgx.Tx) error {
					return tx.QueryRow(ctx, `SELECT name FROM bench_rls WHERE id = $1`, id).Scan(&name)
				})
			},
			"batch": func(id int64) error {
				batch := &pgx.Batch{}
				batch.Queue(`SELECT name FROM bench_rls WHERE id = $1`, id)
				br := f.scope.SendBatch(ctx, pool, batch)
				if err := br.QueryRow().Scan(&name); err != nil {
					br.Close()
					return err
				}
				return br.Close()
			},
		}
		for _, shape := range []string{"tx", "batch"} {
			op := ops[shape]
			b.Run("shape="+shape+"/via="+p.name, func(b *testing.B) {
				b.ReportAllocs()
				for range 50 {
					if err := op(1); err != nil {
						b.Fatal(err)
					}
				}
				var i int64
				for b.Loop() {
					if err := op(i % 1000); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		}
	}
}

func withExecMode(b *testing.B, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		b.Fatal(err)
	}
	q := u.Query()
	q.Set("default_query_exec_mode", "exec")
	u.RawQuery = q.Encode()
	return u.String()
}

// BenchmarkPolicyForm measures, on plain PostgreSQL, what sqlscope's two
// policy forms cost on the same 100,000 rows, through pgxscope.SendBatch
// (one round trip):
//
//	policy=guard  RLSSQL: tenant_id = (SELECT tenantwall.current_tenant())
//	policy=citus  CitusRLSSQL: tenant_id = current_setting('tenantwall.tenant_id', true)
//
// query=point is a select by primary key; query=scan counts tenant A's
// 1,000 rows with a sequential scan (no index on tenant_id, no parallel
// workers), where the Citus form reads the setting once per row.
func BenchmarkPolicyForm(b *testing.B) {
	f := newFixture(b, 1)
	benchTables(b, f)
	bg := context.Background()
	for _, s := range []string{
		`CREATE TABLE bench_citus (LIKE bench_plain INCLUDING ALL)`,
		`INSERT INTO bench_citus SELECT * FROM bench_plain`,
	} {
		if _, err := f.admin.ExecContext(bg, s); err != nil {
			b.Fatal(err)
		}
	}
	if err := sqlscope.EnableCitusRLS(bg, f.admin, "", "bench_citus"); err != nil {
		b.Fatal(err)
	}
	for _, s := range []string{`GRANT SELECT ON bench_citus TO ` + f.role, `VACUUM ANALYZE bench_citus`} {
		if _, err := f.admin.ExecContext(bg, s); err != nil {
			b.Fatal(err)
		}
	}
	var name string
	var n int64
	for _, q := range []string{"point", "scan"} {
		for _, p := range []struct{ name, table string }{{"guard", "bench_rls"}, {"citus", "bench_citus"}} {
			b.Run("query="+q+"/policy="+p.name, func(b *testing.B) {
				b.ReportAllocs()
				var i int64
				for b.Loop() {
					batch := &pgx.Batch{}
					if q == "point" {
						batch.Queue(`SELECT name FROM `+p.table+` WHERE id = $1`, i%1000).QueryRow(func(r pgx.Row) error { return r.Scan(&name) })
					} else {
						batch.Queue(`SET LOCAL max_parallel_workers_per_gather = 0`)
						batch.Queue(`SELECT count(*) FROM ` + p.table).QueryRow(func(r pgx.Row) error { return r.Scan(&n) })
					}
					if err := f.scope.SendBatch(f.ctxA, f.pool, batch).Close(); err != nil {
						b.Fatal(err)
					}
					if q == "scan" && n != 1000 {
						b.Fatalf("counted %d rows, want 1000", n)
					}
					i++
				}
			})
		}
	}
}
