package placement_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/placement"
	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/sqlscope/pgxscope"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

const schemaSQL = `
CREATE TABLE leads (
	tenant_id text NOT NULL,
	id uuid NOT NULL DEFAULT gen_random_uuid(),
	name text NOT NULL,
	score numeric(10,2),
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, id)
);
CREATE TABLE notes (
	tenant_id text NOT NULL,
	id uuid NOT NULL DEFAULT gen_random_uuid(),
	lead_id uuid NOT NULL,
	body text NOT NULL,
	PRIMARY KEY (tenant_id, id),
	FOREIGN KEY (tenant_id, lead_id) REFERENCES leads (tenant_id, id)
);`

var tables = []string{"leads", "notes"}

// side is one placement's database: its owner (admin) handle and the
// application role's.
type side struct {
	admin *sql.DB
	role  string // the application role
	p     placement.Placement
}

func newSide(t *testing.T, adminURL string, admin *sql.DB) side {
	t.Helper()
	ctx := context.Background()
	_, err := admin.ExecContext(ctx, schemaSQL)
	require.NoError(t, err)
	require.NoError(t, sqlscope.EnableRLS(ctx, admin, "", tables...))
	role, roleURL := testenv.PostgresRole(t, admin, adminURL)
	_, err = admin.ExecContext(ctx, `GRANT SELECT, INSERT, UPDATE, DELETE ON leads, notes TO `+role)
	require.NoError(t, err)
	app, err := sql.Open("pgx", roleURL)
	require.NoError(t, err)
	t.Cleanup(func() { app.Close() })
	rls, err := sqlscope.NewRLS(ctx, app)
	require.NoError(t, err)
	pool, err := pgxpool.New(ctx, roleURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	scope, err := pgxscope.New()
	require.NoError(t, err)
	return side{admin: admin, role: role, p: placement.Placement{DB: app, RLS: rls, Pool: pool, Scope: scope}}
}

type fixture struct {
	dir         *placement.SQLDirectory
	router      *placement.Router
	audit       *tenanttest.AuditRecorder
	pooled, big side
}

// platform is the context of a Move: platform work.
var platform, _ = tenant.WithPlatformScope(context.Background(), "placement test")

// newFixture places tenants on two PostgreSQL clusters: "pooled", a
// database on the shared server, and "big", a database on a cluster the
// test starts. The directory lives in the pooled database.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	cluster := testenv.StartPostgresCluster(t)
	bigAdmin, err := sql.Open("pgx", cluster.URL("postgres", "postgres"))
	require.NoError(t, err)
	t.Cleanup(func() { bigAdmin.Close() })
	_, err = bigAdmin.ExecContext(ctx, `CREATE DATABASE app`)
	require.NoError(t, err)
	bigURL := cluster.URL("postgres", "app")
	bigDB, err := sql.Open("pgx", bigURL)
	require.NoError(t, err)
	t.Cleanup(func() { bigDB.Close() })

	pooledURL, pooledDB := testenv.PostgresDB(t)
	f := &fixture{pooled: newSide(t, pooledURL, pooledDB), big: newSide(t, bigURL, bigDB)}
	_, err = pooledDB.ExecContext(ctx, placement.DirectorySQL)
	require.NoError(t, err)
	f.dir, err = placement.NewSQLDirectory(ctx, pooledDB)
	require.NoError(t, err)
	f.audit = &tenanttest.AuditRecorder{}
	f.router, err = placement.New(f.dir, map[string]placement.Placement{"pooled": f.pooled.p, "big": f.big.p},
		placement.WithAuditor(f.audit))
	require.NoError(t, err)
	return f
}

// place creates a tenant in placement name and gives it n leads with a
// note each, through the router.
func (f *fixture) place(t *testing.T, name string, n int) context.Context {
	t.Helper()
	id := tenant.NewID()
	require.NoError(t, f.dir.Place(context.Background(), id, name))
	ctx := tenant.NewContext(context.Background(), tenant.Tenant{ID: id})
	require.NoError(t, f.router.Tx(ctx, func(tx *sql.Tx) error {
		for i := range n {
			var lead string
			if err := tx.QueryRowContext(ctx, `INSERT INTO leads (name, score) VALUES ($1, $2) RETURNING id`,
				fmt.Sprintf("%s lead %d", id, i), float64(i)/3).Scan(&lead); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO notes (lead_id, body) VALUES ($1, $2)`, lead, "note "+lead); err != nil {
				return err
			}
		}
		return nil
	}))
	return ctx
}

// count is the number of id's leads in a side's database, as its owner.
func count(t *testing.T, s side, id string) int {
	t.Helper()
	var n int
	require.NoError(t, s.admin.QueryRowContext(context.Background(), `SELECT count(*) FROM leads WHERE tenant_id = $1`, id).Scan(&n))
	return n
}

// digest hashes id's rows of every table in a side's database.
func digest(t *testing.T, s side, id string) string {
	t.Helper()
	return digestOf(t, s, id, tables...)
}

// digestOf hashes id's rows of the named tables in a side's database.
func digestOf(t *testing.T, s side, id string, tables ...string) string {
	t.Helper()
	var out string
	for _, table := range tables {
		var d string
		require.NoError(t, s.admin.QueryRowContext(context.Background(), `SELECT count(*) || ':' || coalesce(md5(string_agg(r, E'\n' ORDER BY r)), '')
FROM (SELECT row_to_json(t)::text AS r FROM `+table+` t WHERE tenant_id = $1) s`, id).Scan(&d))
		out += table + "=" + d + " "
	}
	return out
}

func idOf(ctx context.Context) string {
	id, _ := tenant.IDFromContext(ctx)
	return id
}

// readPgx is readAll through pgx (Handle.PgxTx).
func readPgx(ctx context.Context, r *placement.Router) (int, error) {
	h, err := r.For(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	err = h.PgxTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT tenant_id FROM leads`)
		if err != nil {
			return err
		}
		var owner string
		_, err = pgx.ForEachRow(rows, []any{&owner}, func() error {
			if owner != idOf(ctx) {
				return fmt.Errorf("tenant %s read a row of %s", idOf(ctx), owner)
			}
			n++
			return nil
		})
		return err
	})
	return n, err
}

// readAll reads the context tenant's leads through the router and fails
// on any row of another tenant.
func readAll(ctx context.Context, r *placement.Router) (int, error) {
	n := 0
	err := r.Tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT tenant_id FROM leads`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var owner string
			if err := rows.Scan(&owner); err != nil {
				return err
			}
			if owner != idOf(ctx) {
				return fmt.Errorf("tenant %s read a row of %s", idOf(ctx), owner)
			}
			n++
		}
		return rows.Err()
	})
	return n, err
}

func TestRouterServesEachTenantFromItsPlacement(t *testing.T) {
	f := newFixture(t)
	a := f.place(t, "pooled", 3)
	b := f.place(t, "pooled", 2)
	c := f.place(t, "big", 4)

	for _, want := range []struct {
		ctx         context.Context
		pooled, big int
	}{{a, 3, 0}, {b, 2, 0}, {c, 0, 4}} {
		assert.Equal(t, want.pooled, count(t, f.pooled, idOf(want.ctx)))
		assert.Equal(t, want.big, count(t, f.big, idOf(want.ctx)))
		n, err := readAll(want.ctx, f.router)
		require.NoError(t, err)
		assert.Equal(t, want.pooled+want.big, n)
		n, err = readPgx(want.ctx, f.router)
		require.NoError(t, err)
		assert.Equal(t, want.pooled+want.big, n, "through pgx")
	}
	h, err := f.router.For(c)
	require.NoError(t, err)
	assert.Equal(t, "big", h.Name())

	t.Run("a context without a tenant is refused", func(t *testing.T) {
		_, err := f.router.For(context.Background())
		assert.ErrorIs(t, err, tenant.ErrNoTenant)
		err = f.router.Tx(context.Background(), func(*sql.Tx) error { return errors.New("ran") })
		assert.ErrorIs(t, err, tenant.ErrNoTenant)
	})
	t.Run("a tenant without a placement is refused", func(t *testing.T) {
		ctx := tenant.NewContext(context.Background(), tenant.Tenant{ID: tenant.NewID()})
		err := f.router.Tx(ctx, func(*sql.Tx) error { return errors.New("ran") })
		assert.ErrorIs(t, err, placement.ErrNotPlaced)
	})
	t.Run("a placement the router does not know is refused, never defaulted", func(t *testing.T) {
		ctx := tenant.NewContext(context.Background(), tenant.Tenant{ID: tenant.NewID()})
		require.NoError(t, f.dir.Place(ctx, idOf(ctx), "elsewhere"))
		_, err := f.router.For(ctx)
		assert.ErrorIs(t, err, placement.ErrUnknownPlacement)
	})
	t.Run("a handle refuses another tenant's context", func(t *testing.T) {
		err := h.Tx(a, func(*sql.Tx) error { return errors.New("ran") })
		assert.ErrorIs(t, err, placement.ErrTenantMismatch)
	})
	t.Run("an auditor of nil is refused", func(t *testing.T) {
		_, err := placement.New(f.dir, map[string]placement.Placement{}, placement.WithAuditor(nil))
		assert.ErrorContains(t, err, "WithAuditor(nil)")
	})
	t.Run("hostile placement names are refused", func(t *testing.T) {
		for _, name := range []string{"", "big; DROP TABLE leads", "a\x00b", "../x"} {
			assert.Error(t, f.dir.Place(context.Background(), tenant.NewID(), name), "%q", name)
		}
		_, err := placement.New(f.dir, map[string]placement.Placement{"bad name": f.big.p})
		assert.Error(t, err)
		_, err = placement.New(f.dir, map[string]placement.Placement{"empty": {}})
		assert.Error(t, err)
		_, err = placement.New(f.dir, map[string]placement.Placement{"half": {DB: f.big.p.DB, RLS: f.big.p.RLS, Pool: f.big.p.Pool}})
		assert.Error(t, err)
	})
}

// waitFor polls cond every 20 ms for up to 10 s: the move waits in
// another process (PostgreSQL's lock manager), which sends no signal.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMoveFreezesOnlyTheTenantAndSwitchesItsPlacement(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a := f.place(t, "pooled", 50)
	b := f.place(t, "pooled", 5)
	before := digest(t, f.pooled, idOf(a))
	bBefore := digest(t, f.pooled, idOf(b))

	stale, err := f.router.For(a) // a handle made before the move
	require.NoError(t, err)
	require.Equal(t, "pooled", stale.Name())

	// A transaction of a in flight when the move starts: the move waits
	// for it, and copies what it wrote.
	inFlight := make(chan error, 1)
	release := make(chan struct{})
	started := make(chan struct{})
	go func() {
		inFlight <- f.router.Tx(a, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(a, `INSERT INTO leads (name) VALUES ('written during the move')`); err != nil {
				return err
			}
			close(started)
			<-release
			return nil
		})
	}()
	<-started
	moved := make(chan error, 1)
	go func() { moved <- f.router.Move(platform, idOf(a), "big") }()
	waitFor(t, "the move to wait for the tenant's lock", func() bool {
		var waiting bool
		require.NoError(t, f.pooled.admin.QueryRowContext(ctx,
			`SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND mode = 'ExclusiveLock' AND NOT granted
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))`).Scan(&waiting))
		return waiting
	})

	t.Run("while it waits, the tenant's new transactions are refused", func(t *testing.T) {
		_, err := readAll(a, f.router)
		assert.ErrorIs(t, err, placement.ErrMoving)
		_, err = readPgx(a, f.router)
		assert.ErrorIs(t, err, placement.ErrMoving)
		err = f.router.Tx(a, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(a, `INSERT INTO leads (name) VALUES ('refused')`)
			return err
		})
		assert.ErrorIs(t, err, placement.ErrMoving)
	})
	t.Run("another tenant of the same placement reads and writes", func(t *testing.T) {
		require.NoError(t, f.router.Tx(b, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(b, `UPDATE leads SET name = name`)
			return err
		}))
		n, err := readAll(b, f.router)
		require.NoError(t, err)
		assert.Equal(t, 5, n)
		n, err = readPgx(b, f.router)
		require.NoError(t, err)
		assert.Equal(t, 5, n)
	})

	close(release)
	require.NoError(t, <-inFlight)
	require.NoError(t, <-moved)

	t.Run("the data is identical after", func(t *testing.T) {
		after := digest(t, f.big, idOf(a))
		assert.NotEqual(t, before, after, "the in-flight transaction's lead was moved too")
		assert.Equal(t, 51, count(t, f.big, idOf(a)))
		// The source as it was when the move began, with the in-flight
		// lead: compare without it.
		var n int
		require.NoError(t, f.big.admin.QueryRowContext(ctx, `SELECT count(*) FROM leads WHERE tenant_id = $1 AND name = 'written during the move'`, idOf(a)).Scan(&n))
		assert.Equal(t, 1, n)
		require.NoError(t, f.big.p.RLS.Tx(a, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(a, `DELETE FROM leads WHERE name = 'written during the move'`)
			return err
		}))
		assert.Equal(t, before, digest(t, f.big, idOf(a)), "every column of every row")
	})
	t.Run("the placement is switched and the source removed", func(t *testing.T) {
		name, err := f.dir.Placement(ctx, idOf(a))
		require.NoError(t, err)
		assert.Equal(t, "big", name)
		assert.Zero(t, count(t, f.pooled, idOf(a)))
		var notes int
		require.NoError(t, f.pooled.admin.QueryRowContext(ctx, `SELECT count(*) FROM notes WHERE tenant_id = $1`, idOf(a)).Scan(&notes))
		assert.Zero(t, notes)
	})
	t.Run("the tenant is served from its new placement", func(t *testing.T) {
		n, err := readAll(a, f.router)
		require.NoError(t, err)
		assert.Equal(t, 50, n)
		n, err = readPgx(a, f.router)
		require.NoError(t, err)
		assert.Equal(t, 50, n)
		require.NoError(t, f.router.Tx(a, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(a, `INSERT INTO notes (lead_id, body) SELECT id, 'after the move' FROM leads LIMIT 1`)
			return err
		}))
	})
	t.Run("a handle made before the move follows the tenant", func(t *testing.T) {
		var port string
		require.NoError(t, stale.Tx(a, func(tx *sql.Tx) error {
			return tx.QueryRowContext(a, `SELECT current_setting('port')`).Scan(&port)
		}))
		var bigPort string
		require.NoError(t, f.big.admin.QueryRowContext(ctx, `SELECT current_setting('port')`).Scan(&bigPort))
		assert.Equal(t, bigPort, port, "the stale handle's transaction ran on the new placement's server")
		port = ""
		require.NoError(t, stale.PgxTx(a, func(tx pgx.Tx) error {
			return tx.QueryRow(a, `SELECT current_setting('port')`).Scan(&port)
		}))
		assert.Equal(t, bigPort, port, "through pgx too")
	})
	t.Run("the other tenant is untouched", func(t *testing.T) {
		assert.Equal(t, bBefore, digest(t, f.pooled, idOf(b)))
	})
	t.Run("a move to where the tenant holds rows already is refused", func(t *testing.T) {
		c := f.place(t, "pooled", 2)
		require.NoError(t, f.big.admin.QueryRowContext(ctx, `SELECT 1`).Err())
		_, err := f.big.admin.ExecContext(ctx, `INSERT INTO leads (tenant_id, name) VALUES ($1, 'stray')`, idOf(c))
		require.NoError(t, err)
		err = f.router.Move(platform, idOf(c), "big")
		assert.ErrorContains(t, err, "holds 1 of tenant")
		name, _ := f.dir.Placement(ctx, idOf(c))
		assert.Equal(t, "pooled", name)
		assert.Equal(t, 2, count(t, f.pooled, idOf(c)))
	})
	t.Run("a table keyed by a sequence is refused before anything moves", func(t *testing.T) {
		for _, s := range []side{f.pooled, f.big} {
			_, err := s.admin.ExecContext(ctx, `CREATE TABLE events (tenant_id text NOT NULL, id bigint GENERATED ALWAYS AS IDENTITY, PRIMARY KEY (tenant_id, id));
GRANT SELECT, INSERT, DELETE ON events TO `+s.role)
			require.NoError(t, err)
			require.NoError(t, sqlscope.EnableRLS(ctx, s.admin, "", "events"))
		}
		err := f.router.Move(platform, idOf(b), "big")
		require.ErrorIs(t, err, placement.ErrNotMovable)
		assert.ErrorContains(t, err, "serial or identity")
		name, _ := f.dir.Placement(ctx, idOf(b))
		assert.Equal(t, "pooled", name)
		assert.Equal(t, bBefore, digest(t, f.pooled, idOf(b)))
		assert.Zero(t, count(t, f.big, idOf(b)))
	})
	t.Run("a move to an unknown placement is refused", func(t *testing.T) {
		assert.ErrorIs(t, f.router.Move(platform, idOf(b), "nowhere"), placement.ErrUnknownPlacement)
	})
}

// Move acts outside one tenant's scope (it reads and deletes a tenant's
// rows on two databases and switches its placement): it is platform work,
// refused without tenant.WithPlatformScope, a tenant's context included,
// and audited when it runs.
func TestMoveIsPlatformWork(t *testing.T) {
	f := newFixture(t)
	a := f.place(t, "pooled", 3)
	before := digest(t, f.pooled, idOf(a))
	for name, ctx := range map[string]context.Context{
		"a context without the platform mark": context.Background(),
		"the tenant's own context":            a,
	} {
		t.Run("a move from "+name+" is refused and not performed", func(t *testing.T) {
			err := f.router.Move(ctx, idOf(a), "big")
			require.ErrorIs(t, err, tenant.ErrNoTenant)
			assert.ErrorContains(t, err, "placement: move")
			where, err := f.dir.Placement(context.Background(), idOf(a))
			require.NoError(t, err)
			assert.Equal(t, "pooled", where)
			assert.Equal(t, before, digest(t, f.pooled, idOf(a)))
			assert.Zero(t, count(t, f.big, idOf(a)))
			assert.Zero(t, f.audit.Count(tenant.EventPlatformAccess), "a refused move reports no platform access")
		})
	}
	t.Run("a move with the platform mark runs and is audited", func(t *testing.T) {
		require.NoError(t, f.router.Move(platform, idOf(a), "big"))
		assert.Equal(t, 3, count(t, f.big, idOf(a)))
		e, ok := f.audit.Last()
		require.True(t, ok)
		assert.Equal(t, tenant.EventPlatformAccess, e.Kind)
		assert.Equal(t, "placement", e.Package)
		assert.Equal(t, idOf(a), e.OwnerID)
		assert.Equal(t, "move: placement test", e.Resource)
	})
}
