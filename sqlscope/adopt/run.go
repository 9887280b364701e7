package adopt

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tenantwall/tenantwall/sqlscope"
)

// Progress is what Run reports while it works: once as each step starts,
// after each backfill batch, and once as each step ends.
type Progress struct {
	// Step is the step's number, from 1, of Steps.
	Step, Steps int
	// Phase and Table are the step's.
	Phase, Table string
	// Rows is how many rows the step's backfill has updated so far (by
	// this run), and Total how many rows the table had when inspected.
	Rows, Total int64
	// Elapsed is the time since the step started.
	Elapsed time.Duration
	// Done is true for the report sent when the step has ended.
	Done bool
}

// Rate is rows per second so far in this step.
func (p Progress) Rate() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Rows) / p.Elapsed.Seconds()
}

// Left estimates the time the step's backfill still needs, from Rate and
// the rows left of Total; 0 when unknown.
func (p Progress) Left() time.Duration {
	r := p.Rate()
	if r <= 0 || p.Total <= p.Rows {
		return 0
	}
	return time.Duration(float64(p.Total-p.Rows) / r * float64(time.Second))
}

// RunOption configures Run.
type RunOption func(*runOptions) error

type runOptions struct {
	progress func(Progress)
	retries  int
	backoff  time.Duration
	appRole  string
}

// WithProgress sets a function Run calls with its progress, from the
// goroutine that called Run (default: none). It must return quickly.
func WithProgress(fn func(Progress)) RunOption {
	return func(o *runOptions) error { o.progress = fn; return nil }
}

// WithRetries sets how many times a transaction that hit the lock
// timeout (or a deadlock, or a serialization failure) is retried, after
// a pause that grows from 50ms to 2s (default 100).
func WithRetries(n int) RunOption {
	return func(o *runOptions) error {
		if n < 0 {
			return fmt.Errorf("adopt: WithRetries(%d): want 0 or more", n)
		}
		o.retries = n
		return nil
	}
}

// stateSQL creates the tables Run records its progress in. They have no
// tenant_id: they are not tenant tables, and only the migration role
// reads them.
var stateSQL = []string{
	`CREATE SCHEMA IF NOT EXISTS tenantwall`,
	`CREATE TABLE IF NOT EXISTS tenantwall.adopt_runs (
	schema_name text PRIMARY KEY,
	fingerprint text NOT NULL,
	snapshot jsonb NOT NULL,
	started_at timestamptz NOT NULL DEFAULT now(),
	finished_at timestamptz)`,
	`CREATE TABLE IF NOT EXISTS tenantwall.adopt_steps (
	schema_name text NOT NULL REFERENCES tenantwall.adopt_runs ON DELETE CASCADE,
	step int NOT NULL,
	last_key bigint,
	done boolean NOT NULL DEFAULT false,
	PRIMARY KEY (schema_name, step))`,
}

// Run executes p on db, which must be connected as the tables' owner (or
// a superuser): the migration role, never the application's. The final
// count reads every tenant's rows, so the owner needs BYPASSRLS (a
// superuser has it); without it the migration completes and the
// verification fails, saying so. The
// application may keep reading and writing throughout; see New for the
// steps and their locks.
//
// Run is resumable. It records the plan (its fingerprint and the Schema
// it was made from) before the first step, and each step as it ends, in
// the same transaction as the step's own statements, or, for a backfill,
// the last key done with each batch; a concurrent index build is
// idempotent. Interrupted anywhere (a cancelled ctx, a lost connection,
// a crash), Run again with the plan made from Inspect's answer, which is
// the recorded Schema: it skips what is done and ends in the same state
// as an uninterrupted run. A finished run is a no-op. A different plan
// for a schema whose run is unfinished is refused with ErrPlanChanged;
// two Runs at once with ErrBusy (after waiting up to 3 s for the lock,
// which a just-cancelled run may hold while its session ends).
//
// Run returns the Report of Verify, made as the last thing it does.
func Run(ctx context.Context, db *sql.DB, p *Plan, opts ...RunOption) (*Report, error) {
	o := runOptions{retries: 100, backoff: 50 * time.Millisecond}
	for _, f := range opts {
		if err := f(&o); err != nil {
			return nil, err
		}
	}
	if p.schema.Dialect == sqlscope.SQLite {
		if o.appRole != "" {
			return nil, fmt.Errorf("adopt: WithAppRole: SQLite has no roles")
		}
		return runSQLite(ctx, db, p, o)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	r := &runner{conn: conn, p: p, o: o}
	if err := r.lock(ctx); err != nil {
		return nil, err
	}
	defer r.unlock()
	done, keys, err := r.start(ctx)
	if err != nil {
		return nil, err
	}
	for i, st := range p.steps {
		if done[i] {
			continue
		}
		if err := r.step(ctx, i, st, keys[i]); err != nil {
			return nil, fmt.Errorf("adopt: step %d/%d [%s] %s: %w", i+1, len(p.steps), st.Phase, st.Table, err)
		}
	}
	if _, err := conn.ExecContext(ctx, `UPDATE tenantwall.adopt_runs SET finished_at = coalesce(finished_at, now()) WHERE schema_name = $1`, p.schema.Name); err != nil {
		return nil, err
	}
	return verify(ctx, conn, p, o.appRole)
}

type runner struct {
	conn *sql.Conn
	p    *Plan
	o    runOptions
}

// lock takes a session advisory lock on the schema's adoption, so that
// two runs never interleave their steps. It waits up to lockWait for the
// lock: a run that was just cancelled may leave its session ending, still
// holding the lock for a moment, and a rerun must not take that for a
// second run. A lock still held after lockWait is another run: ErrBusy.
// The wait is a SET LOCAL lock_timeout inside a transaction; the advisory
// lock itself is the session's and outlives it.
func (r *runner) lock(ctx context.Context) error {
	tx, err := r.conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`SET LOCAL lock_timeout = %d`, lockWait.Milliseconds())); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_lock(hashtext('tenantwall.adopt'), hashtext($1))`, r.p.schema.Name); err != nil {
		var se interface{ SQLState() string }
		if errors.As(err, &se) && se.SQLState() == "55P03" { // lock_not_available
			return fmt.Errorf("%w: schema %s", ErrBusy, r.p.schema.Name)
		}
		return err
	}
	return tx.Commit()
}

// lockWait is how long lock waits for the adoption lock.
const lockWait = 3 * time.Second

func (r *runner) unlock() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = r.conn.ExecContext(ctx, `SELECT pg_advisory_unlock(hashtext('tenantwall.adopt'), hashtext($1))`, r.p.schema.Name)
}

// start records the run, or checks it against the recorded one, and
// returns the steps done and the backfills' last keys.
func (r *runner) start(ctx context.Context) (map[int]bool, map[int]int64, error) {
	snap, err := json.Marshal(r.p.schema)
	if err != nil {
		return nil, nil, err
	}
	err = r.tx(ctx, func(tx *sql.Tx) error {
		for _, s := range stateSQL {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO tenantwall.adopt_runs (schema_name, fingerprint, snapshot)
VALUES ($1, $2, $3) ON CONFLICT (schema_name) DO NOTHING`, r.p.schema.Name, r.p.fingerprint, string(snap))
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	var fp string
	if err := r.conn.QueryRowContext(ctx, `SELECT fingerprint FROM tenantwall.adopt_runs WHERE schema_name = $1`, r.p.schema.Name).Scan(&fp); err != nil {
		return nil, nil, err
	}
	if fp != r.p.fingerprint {
		return nil, nil, fmt.Errorf("%w: schema %s (plan it with the Schema Inspect returns, and the same assignments and setting)", ErrPlanChanged, r.p.schema.Name)
	}
	rows, err := r.conn.QueryContext(ctx, `SELECT step, coalesce(last_key, 0), done FROM tenantwall.adopt_steps WHERE schema_name = $1`, r.p.schema.Name)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	done, keys := map[int]bool{}, map[int]int64{}
	for rows.Next() {
		var i int
		var k int64
		var d bool
		if err := rows.Scan(&i, &k, &d); err != nil {
			return nil, nil, err
		}
		done[i], keys[i] = d, k
	}
	return done, keys, rows.Err()
}

func (r *runner) report(pr Progress) {
	if r.o.progress != nil {
		r.o.progress(pr)
	}
}

func (r *runner) step(ctx context.Context, i int, st Step, lastKey int64) error {
	start := time.Now()
	pr := Progress{Step: i + 1, Steps: len(r.p.steps), Phase: st.Phase, Table: st.Table}
	if t, ok := r.p.schema.table(st.Table); ok && st.Kind == Batches {
		pr.Total = t.Rows
	}
	r.report(pr)
	var err error
	switch st.Kind {
	case InTransaction:
		err = r.retry(ctx, func() error {
			return r.tx(ctx, func(tx *sql.Tx) error {
				if err := r.lockTimeout(ctx, tx); err != nil {
					return err
				}
				for _, s := range st.Statements {
					if _, err := tx.ExecContext(ctx, s.SQL, s.Args...); err != nil {
						return fmt.Errorf("%s: %w", firstLine(s.SQL), err)
					}
				}
				return r.markDone(ctx, tx, i)
			})
		})
	case Concurrently:
		err = r.index(ctx, i, st)
	case Batches:
		err = r.backfill(ctx, i, st, lastKey, start, &pr)
	default:
		err = fmt.Errorf("adopt: step of unknown kind %d", st.Kind)
	}
	if err != nil {
		return err
	}
	pr.Elapsed, pr.Done = time.Since(start), true
	r.report(pr)
	return nil
}

func (r *runner) lockTimeout(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `SELECT set_config('lock_timeout', $1, true)`, fmt.Sprintf("%dms", r.p.lockTimeout.Milliseconds()))
	return err
}

func (r *runner) markDone(ctx context.Context, ex interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, i int) error {
	_, err := ex.ExecContext(ctx, `INSERT INTO tenantwall.adopt_steps (schema_name, step, done) VALUES ($1, $2, true)
ON CONFLICT (schema_name, step) DO UPDATE SET done = true`, r.p.schema.Name, i)
	return err
}

// index builds a unique index concurrently. An interrupted build leaves
// an invalid index behind, which IF NOT EXISTS would take for done: it is
// dropped first.
func (r *runner) index(ctx context.Context, i int, st Step) error {
	idx := indexOf(st.Statements[0].SQL)
	return r.retry(ctx, func() error {
		var invalid bool
		err := r.conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 AND NOT x.indisvalid)`,
			r.p.schema.Name, idx).Scan(&invalid)
		if err != nil {
			return err
		}
		if invalid {
			if _, err := r.conn.ExecContext(ctx, `DROP INDEX CONCURRENTLY IF EXISTS "`+r.p.schema.Name+`".`+idx); err != nil {
				return err
			}
		}
		if _, err := r.conn.ExecContext(ctx, st.Statements[0].SQL); err != nil {
			return err
		}
		return r.markDone(ctx, r.conn, i)
	})
}

// indexOf returns the index name of the plan's CREATE UNIQUE INDEX
// CONCURRENTLY IF NOT EXISTS statement (the plan wrote it, from name).
func indexOf(sql string) string {
	const pre = "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "
	rest := sql[len(pre):]
	for j := 0; j < len(rest); j++ {
		if rest[j] == ' ' {
			return rest[:j]
		}
	}
	return rest
}

func (r *runner) backfill(ctx context.Context, i int, st Step, lastKey int64, start time.Time, pr *Progress) error {
	for {
		var hi sql.NullInt64
		var n int64
		err := r.retry(ctx, func() error {
			return r.tx(ctx, func(tx *sql.Tx) error {
				if err := r.lockTimeout(ctx, tx); err != nil {
					return err
				}
				if err := tx.QueryRowContext(ctx, st.Statements[0].SQL, lastKey, r.p.batch).Scan(&hi); err != nil {
					return err
				}
				if !hi.Valid {
					return nil
				}
				args := append([]any{lastKey, hi.Int64}, st.Statements[1].Args...)
				res, err := tx.ExecContext(ctx, st.Statements[1].SQL, args...)
				if err != nil {
					return err
				}
				n, _ = res.RowsAffected()
				_, err = tx.ExecContext(ctx, `INSERT INTO tenantwall.adopt_steps (schema_name, step, last_key) VALUES ($1, $2, $3)
ON CONFLICT (schema_name, step) DO UPDATE SET last_key = excluded.last_key`, r.p.schema.Name, i, hi.Int64)
				return err
			})
		})
		if err != nil {
			return err
		}
		if !hi.Valid {
			break
		}
		lastKey = hi.Int64
		pr.Rows += n
		pr.Elapsed = time.Since(start)
		r.report(*pr)
	}
	var left int64
	if err := r.conn.QueryRowContext(ctx, st.Statements[2].SQL).Scan(&left); err != nil {
		return err
	}
	if left > 0 {
		return fmt.Errorf("%w: %s has %d row(s) whose tenant_id is NULL or empty (the assignment found no tenant for them): fix or delete them, then run again", ErrUnassigned, st.Table, left)
	}
	return r.markDone(ctx, r.conn, i)
}

func (r *runner) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := r.conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// retry runs fn again while it fails with a lock timeout, a deadlock or
// a serialization failure, pausing a little longer each time.
func (r *runner) retry(ctx context.Context, fn func() error) error {
	pause := r.o.backoff
	for attempt := 0; ; attempt++ {
		err := fn()
		if err == nil || attempt >= r.o.retries || !transient(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, 2*time.Second)
	}
}

// transient reports the server errors that a retry can clear:
// lock_not_available, deadlock_detected, serialization_failure.
func transient(err error) bool {
	var se interface{ SQLState() string }
	if !errors.As(err, &se) {
		return false
	}
	switch se.SQLState() {
	case "55P03", "40P01", "40001":
		return true
	}
	return false
}

// firstLine is s up to its first line break.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
