package sqlscope_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/tenant"
)

// roleDB is a database with an isolated tenant table public.items owned by
// the server's superuser, and helpers to make roles and handles.
type roleDB struct {
	url       string
	admin     *sql.DB
	superuser string
}

func newRoleDB(t *testing.T) *roleDB {
	t.Helper()
	ctx := context.Background()
	url, admin := testenv.PostgresDB(t)
	_, err := admin.ExecContext(ctx, `
CREATE TABLE items (id int PRIMARY KEY, tenant_id text NOT NULL, label text);
CREATE SCHEMA other;
CREATE TABLE other.things (id int PRIMARY KEY, tenant_id text NOT NULL);
CREATE TABLE plain (id int PRIMARY KEY);`)
	require.NoError(t, err)
	require.NoError(t, sqlscope.EnableRLS(ctx, admin, "", "items", "other.things"))
	d := &roleDB{url: url, admin: admin}
	require.NoError(t, admin.QueryRowContext(ctx, `SELECT current_user`).Scan(&d.superuser))
	return d
}

// role makes a login role (neither superuser, BYPASSRLS, CREATEROLE nor
// owner), runs attrs as ALTER ROLE, and grants it the rows of items.
func (d *roleDB) role(t *testing.T, attrs string) (name, url string) {
	t.Helper()
	name, url = testenv.PostgresRole(t, d.admin, d.url)
	if attrs != "" {
		d.exec(t, `ALTER ROLE `+name+` `+attrs)
	}
	d.exec(t, `GRANT SELECT, INSERT, UPDATE, DELETE ON items TO `+name)
	return name, url
}

func (d *roleDB) exec(t *testing.T, q string) {
	t.Helper()
	_, err := d.admin.ExecContext(context.Background(), q)
	require.NoError(t, err, q)
}

func open(t *testing.T, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", url)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// TestNewRLSRefusesPrivilegedRoles gives the application role, one case at
// a time, each way of escaping row level security, and checks NewRLS
// refuses it with ErrPrivilegedRole naming the role, what is wrong and
// how to fix it.
func TestNewRLSRefusesPrivilegedRoles(t *testing.T) {
	ctx := context.Background()
	d := newRoleDB(t)
	cases := []struct {
		name string
		// setup makes the application role privileged and returns the
		// role named in the error as the cause, and the fix it must show.
		setup func(t *testing.T, app string) (cause, fix string)
	}{
		{"a BYPASSRLS role", func(t *testing.T, app string) (string, string) {
			d.exec(t, `ALTER ROLE `+app+` BYPASSRLS`)
			return app, "ALTER ROLE " + app + " NOBYPASSRLS"
		}},
		{"a CREATEROLE role, which can grant itself the owner's rights", func(t *testing.T, app string) (string, string) {
			d.exec(t, `ALTER ROLE `+app+` CREATEROLE`)
			return app, "ALTER ROLE " + app + " NOCREATEROLE"
		}},
		{"a member of a BYPASSRLS role", func(t *testing.T, app string) (string, string) {
			p, _ := d.role(t, "BYPASSRLS")
			d.exec(t, `GRANT `+p+` TO `+app)
			return p, "REVOKE " + p + " FROM " + app
		}},
		{"a member of a BYPASSRLS role through a NOINHERIT role", func(t *testing.T, app string) (string, string) {
			p, _ := d.role(t, "BYPASSRLS")
			mid, _ := d.role(t, "NOINHERIT")
			d.exec(t, `GRANT `+p+` TO `+mid+`; GRANT `+mid+` TO `+app)
			return p, "REVOKE " + p
		}},
		{"a NOINHERIT member of a BYPASSRLS role", func(t *testing.T, app string) (string, string) {
			p, _ := d.role(t, "BYPASSRLS")
			d.exec(t, `ALTER ROLE `+app+` NOINHERIT; GRANT `+p+` TO `+app)
			return p, "REVOKE " + p + " FROM " + app
		}},
		{"a member of a superuser", func(t *testing.T, app string) (string, string) {
			d.exec(t, `GRANT `+d.superuser+` TO `+app)
			return d.superuser, "REVOKE " + d.superuser + " FROM " + app
		}},
		{"a member of a CREATEROLE role", func(t *testing.T, app string) (string, string) {
			p, _ := d.role(t, "CREATEROLE")
			d.exec(t, `GRANT `+p+` TO `+app)
			return p, "REVOKE " + p + " FROM " + app
		}},
		{"the owner of a tenant table", func(t *testing.T, app string) (string, string) {
			d.exec(t, `ALTER TABLE items OWNER TO `+app)
			t.Cleanup(func() { d.exec(t, `ALTER TABLE items OWNER TO `+d.superuser) })
			return "public.items", "ALTER TABLE public.items OWNER TO"
		}},
		{"the owner of a tenant table in another schema", func(t *testing.T, app string) (string, string) {
			d.exec(t, `ALTER TABLE other.things OWNER TO `+app)
			t.Cleanup(func() { d.exec(t, `ALTER TABLE other.things OWNER TO `+d.superuser) })
			return "other.things", "ALTER TABLE other.things OWNER TO"
		}},
		{"the owner of a tenant table in a schema named like a temporary one (pgxtempx, pg_temp_x to LIKE)", func(t *testing.T, app string) (string, string) {
			d.exec(t, `CREATE SCHEMA IF NOT EXISTS pgxtempx; CREATE TABLE pgxtempx.items (tenant_id text NOT NULL); ALTER TABLE pgxtempx.items OWNER TO `+app)
			t.Cleanup(func() { d.exec(t, `DROP TABLE pgxtempx.items`) })
			return "pgxtempx.items", "ALTER TABLE pgxtempx.items OWNER TO"
		}},
		{"a member of the owner of a tenant table", func(t *testing.T, app string) (string, string) {
			owner, _ := d.role(t, "")
			d.exec(t, `ALTER TABLE items OWNER TO `+owner+`; GRANT `+owner+` TO `+app)
			t.Cleanup(func() { d.exec(t, `ALTER TABLE items OWNER TO `+d.superuser) })
			return owner, "REVOKE " + owner + " FROM " + app
		}},
		{"a NOINHERIT member, through another role, of the owner of a tenant table", func(t *testing.T, app string) (string, string) {
			owner, _ := d.role(t, "")
			mid, _ := d.role(t, "NOINHERIT")
			d.exec(t, `ALTER ROLE `+app+` NOINHERIT; ALTER TABLE items OWNER TO `+owner+`; GRANT `+owner+` TO `+mid+`; GRANT `+mid+` TO `+app)
			t.Cleanup(func() { d.exec(t, `ALTER TABLE items OWNER TO `+d.superuser) })
			return owner, "REVOKE " + owner
		}},
		// PostgreSQL's predefined roles that reach the server's files or
		// programs read every tenant's rows from the table files, past
		// every policy (TestServerAccessReadsEveryTenant).
		{"a member of pg_execute_server_program, which runs programs on the server", func(t *testing.T, app string) (string, string) {
			d.exec(t, `GRANT pg_execute_server_program TO `+app)
			return "pg_execute_server_program", "REVOKE pg_execute_server_program FROM " + app
		}},
		{"a member of pg_read_server_files, which reads the server's files", func(t *testing.T, app string) (string, string) {
			d.exec(t, `GRANT pg_read_server_files TO `+app)
			return "pg_read_server_files", "REVOKE pg_read_server_files FROM " + app
		}},
		{"a member of pg_write_server_files, which writes the server's files", func(t *testing.T, app string) (string, string) {
			d.exec(t, `GRANT pg_write_server_files TO `+app)
			return "pg_write_server_files", "REVOKE pg_write_server_files FROM " + app
		}},
		{"a member, through a NOINHERIT role, of pg_execute_server_program", func(t *testing.T, app string) (string, string) {
			mid, _ := d.role(t, "NOINHERIT")
			d.exec(t, `GRANT pg_execute_server_program TO `+mid+`; GRANT `+mid+` TO `+app)
			return "pg_execute_server_program", "REVOKE pg_execute_server_program"
		}},
		{"a role granted pg_read_binary_file, which reads the table files", func(t *testing.T, app string) (string, string) {
			d.exec(t, `GRANT EXECUTE ON FUNCTION pg_read_binary_file(text) TO `+app)
			return "pg_read_binary_file(text)", "REVOKE EXECUTE ON FUNCTION pg_read_binary_file(text) FROM " + app
		}},
		{"a role granted pg_read_file with a range", func(t *testing.T, app string) (string, string) {
			d.exec(t, `GRANT EXECUTE ON FUNCTION pg_read_file(text, bigint, bigint) TO `+app)
			return "pg_read_file(text,bigint,bigint)", "REVOKE EXECUTE ON FUNCTION pg_read_file(text,bigint,bigint) FROM " + app
		}},
		{"a member of a role granted lo_import, which imports server files", func(t *testing.T, app string) (string, string) {
			group, _ := d.role(t, "")
			d.exec(t, `GRANT EXECUTE ON FUNCTION lo_import(text) TO `+group+`; GRANT `+group+` TO `+app)
			return "lo_import(text)", "REVOKE EXECUTE ON FUNCTION lo_import(text) FROM " + group
		}},
		{"a role granted lo_export, which writes server files", func(t *testing.T, app string) (string, string) {
			d.exec(t, `GRANT EXECUTE ON FUNCTION lo_export(oid, text) TO `+app)
			return "lo_export(oid,text)", "REVOKE EXECUTE ON FUNCTION lo_export(oid,text) FROM " + app
		}},
		{"a member of pg_monitor granted pg_read_binary_file through it", func(t *testing.T, app string) (string, string) {
			// pg_monitor is harmless as PostgreSQL installs it; a grant
			// added to it is not.
			d.exec(t, `GRANT pg_monitor TO `+app+`; GRANT EXECUTE ON FUNCTION pg_read_binary_file(text) TO pg_monitor`)
			t.Cleanup(func() { d.exec(t, `REVOKE EXECUTE ON FUNCTION pg_read_binary_file(text) FROM pg_monitor`) })
			return "pg_read_binary_file(text)", "REVOKE EXECUTE ON FUNCTION pg_read_binary_file(text) FROM pg_monitor"
		}},
	}
	for _, c := range cases {
		t.Run(c.name+" is refused", func(t *testing.T) {
			app, url := d.role(t, "")
			db := open(t, url)
			_, err := sqlscope.NewRLS(ctx, db)
			require.NoError(t, err, "before the change the role is accepted")

			cause, fix := c.setup(t, app)
			rls, err := sqlscope.NewRLS(ctx, db)
			assert.Nil(t, rls)
			require.ErrorIs(t, err, sqlscope.ErrPrivilegedRole)
			msg := err.Error()
			assert.Contains(t, msg, "role "+app, "the error names the role")
			assert.Contains(t, msg, cause, "the error names the cause")
			assert.Contains(t, msg, fix, "the error shows the fix")
			assert.Contains(t, msg, "CREATE ROLE app LOGIN NOSUPERUSER NOBYPASSRLS", "the error shows a proper role")
			assert.Contains(t, msg, "sqlscopetest", "the error points to the SQL")
			assert.Contains(t, msg, "WithPrivilegedRole", "the error names the opt-out")

			findings, err := sqlscope.Audit(ctx, db, nil)
			require.NoError(t, err)
			assert.NotEmpty(t, findings, "Audit, on the same query, agrees")
		})
	}

	t.Run("the superuser's own handle is refused", func(t *testing.T) {
		_, err := sqlscope.NewRLS(ctx, d.admin)
		require.ErrorIs(t, err, sqlscope.ErrPrivilegedRole)
		t.Log(err)
		assert.Contains(t, err.Error(), "role "+d.superuser+" is superuser")
		assert.Contains(t, err.Error(), "CREATE ROLE app LOGIN NOSUPERUSER NOBYPASSRLS")
	})

	t.Run("a superuser login that switched to an unprivileged role is refused", func(t *testing.T) {
		app, _ := d.role(t, "")
		db := open(t, d.url)
		db.SetMaxOpenConns(1)
		_, err := db.ExecContext(ctx, `SET SESSION AUTHORIZATION `+app)
		require.NoError(t, err)
		var current, session string
		require.NoError(t, db.QueryRowContext(ctx, `SELECT current_user, session_user`).Scan(&current, &session))
		require.Equal(t, []string{app, app}, []string{current, session}, "the connection now acts as %s", app)
		_, err = sqlscope.NewRLS(ctx, db)
		require.ErrorIs(t, err, sqlscope.ErrPrivilegedRole, "RESET SESSION AUTHORIZATION gives the superuser back")
		assert.Contains(t, err.Error(), "role "+d.superuser+" is superuser")
	})

	t.Run("an unprivileged role is accepted", func(t *testing.T) {
		_, url := d.role(t, "NOINHERIT")
		rls, err := sqlscope.NewRLS(ctx, open(t, url))
		require.NoError(t, err)
		assert.NotNil(t, rls)
	})

	t.Run("the owner of a table without tenant_id is accepted", func(t *testing.T) {
		app, url := d.role(t, "")
		d.exec(t, `ALTER TABLE plain OWNER TO `+app)
		t.Cleanup(func() { d.exec(t, `ALTER TABLE plain OWNER TO `+d.superuser) })
		_, err := sqlscope.NewRLS(ctx, open(t, url))
		require.NoError(t, err)
	})

	t.Run("a member of an unprivileged role is accepted", func(t *testing.T) {
		app, url := d.role(t, "")
		group, _ := d.role(t, "")
		d.exec(t, `GRANT `+group+` TO `+app)
		_, err := sqlscope.NewRLS(ctx, open(t, url))
		require.NoError(t, err)
	})

	t.Run("a member of the predefined roles that stay inside the database is accepted", func(t *testing.T) {
		app, url := d.role(t, "NOINHERIT")
		d.exec(t, `GRANT pg_monitor, pg_read_all_data, pg_write_all_data, pg_signal_backend, pg_checkpoint TO `+app)
		_, err := sqlscope.NewRLS(ctx, open(t, url))
		require.NoError(t, err)
		findings, err := sqlscope.Audit(ctx, open(t, url), nil)
		require.NoError(t, err)
		assert.False(t, findings.Has(sqlscope.CheckServerAccess, ""), "%v", findings)
	})

	t.Run("a nil handle is refused", func(t *testing.T) {
		_, err := sqlscope.NewRLS(ctx, nil)
		assert.ErrorIs(t, err, sqlscope.ErrPrivilegedRole)
	})

	t.Run("an unreachable database is an error, not an unchecked RLS", func(t *testing.T) {
		db := open(t, "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=1")
		_, err := sqlscope.NewRLS(ctx, db)
		require.Error(t, err)
		assert.NotErrorIs(t, err, sqlscope.ErrPrivilegedRole)
		assert.Contains(t, err.Error(), "check the application role")
	})
}

// TestAPrivilegedRoleReadsEveryTenant shows why NewRLS refuses: through
// each privileged handle a tenant's transaction reads another tenant's row.
func TestAPrivilegedRoleReadsEveryTenant(t *testing.T) {
	ctx := context.Background()
	d := newRoleDB(t)
	a, b := tenant.NewID(), tenant.NewID()
	d.exec(t, fmt.Sprintf(`ALTER TABLE items NO FORCE ROW LEVEL SECURITY; INSERT INTO items VALUES (1, '%s', 'of A'); ALTER TABLE items FORCE ROW LEVEL SECURITY`, a))
	readsA := func(t *testing.T, db *sql.DB, pre string) bool {
		t.Helper()
		tx, err := db.BeginTx(ctx, nil)
		require.NoError(t, err)
		defer tx.Rollback()
		if pre != "" {
			_, err = tx.ExecContext(ctx, pre)
			require.NoError(t, err, pre)
		}
		_, err = tx.ExecContext(ctx, `SELECT set_config('tenantwall.tenant_id', $1, true)`, b)
		require.NoError(t, err)
		var n int
		require.NoError(t, tx.QueryRowContext(ctx, `SELECT count(*) FROM items`).Scan(&n))
		return n > 0
	}
	_, url := d.role(t, "")
	require.False(t, readsA(t, open(t, url), ""), "an unprivileged role is confined")

	owner, _ := d.role(t, "")
	d.exec(t, `ALTER TABLE items OWNER TO `+owner)
	t.Cleanup(func() { d.exec(t, `ALTER TABLE items OWNER TO `+d.superuser) })
	creator, creatorURL := d.role(t, "CREATEROLE")
	db := open(t, creatorURL)
	_, err := db.ExecContext(ctx, `GRANT `+owner+` TO `+creator)
	require.NoError(t, err, "a CREATEROLE role grants itself the owner")
	assert.True(t, readsA(t, db, `SET LOCAL ROLE `+owner+`; ALTER TABLE items NO FORCE ROW LEVEL SECURITY`), "and then reads every tenant")
	_, err = sqlscope.NewRLS(ctx, db)
	assert.ErrorIs(t, err, sqlscope.ErrPrivilegedRole)
}

// TestServerAccessReadsEveryTenant shows why NewRLS refuses a role that
// reaches the server's files or programs: with tenant B's setting, where
// the policy hides tenant A's row, it reads that row from the table's file.
func TestServerAccessReadsEveryTenant(t *testing.T) {
	ctx := context.Background()
	d := newRoleDB(t)
	a, b := tenant.NewID(), tenant.NewID()
	secret := "secret of A " + tenant.NewID()
	d.exec(t, fmt.Sprintf(`ALTER TABLE items NO FORCE ROW LEVEL SECURITY; INSERT INTO items VALUES (1, '%s', '%s'); ALTER TABLE items FORCE ROW LEVEL SECURITY`, a, secret))
	d.exec(t, `CHECKPOINT`) // the row reaches the table's file
	for _, c := range []struct {
		name, grant string
		steal       []string // run in B's transaction; the last one returns the loot
	}{
		{"EXECUTE on pg_read_binary_file", `GRANT EXECUTE ON FUNCTION pg_read_binary_file(text) TO {app}`, []string{
			`SELECT encode(pg_read_binary_file(pg_relation_filepath('items')), 'escape')`,
		}},
		{"membership in pg_execute_server_program", `GRANT pg_execute_server_program TO {app}`, []string{
			`SET LOCAL ROLE pg_execute_server_program`,
			`CREATE TEMP TABLE loot (line text) ON COMMIT DROP`,
			`COPY loot FROM PROGRAM 'strings {file}'`,
			`SELECT string_agg(line, ' ') FROM loot`,
		}},
	} {
		t.Run("a role with "+c.name+" reads another tenant's row", func(t *testing.T) {
			app, url := d.role(t, "NOINHERIT")
			d.exec(t, strings.ReplaceAll(c.grant, "{app}", app))
			db := open(t, url)
			tx, err := db.BeginTx(ctx, nil)
			require.NoError(t, err)
			defer tx.Rollback()
			_, err = tx.ExecContext(ctx, `SELECT set_config('tenantwall.tenant_id', $1, true)`, b)
			require.NoError(t, err)
			var n int
			var file, loot string
			require.NoError(t, tx.QueryRowContext(ctx, `SELECT count(*), pg_relation_filepath('items') FROM items`).Scan(&n, &file))
			require.Zero(t, n, "the policy hides A's row from B")
			last := len(c.steal) - 1
			for _, q := range c.steal[:last] {
				_, err := tx.ExecContext(ctx, strings.ReplaceAll(q, "{file}", file))
				require.NoError(t, err, q)
			}
			require.NoError(t, tx.QueryRowContext(ctx, c.steal[last]).Scan(&loot))
			assert.Contains(t, loot, secret, "B read A's row from the file")

			_, err = sqlscope.NewRLS(ctx, db)
			assert.ErrorIs(t, err, sqlscope.ErrPrivilegedRole)
		})
	}
}

// TestWithPrivilegedRole checks the opt-out: a reason is required, the
// privileged handle is accepted, and the reason reaches the auditor.
func TestWithPrivilegedRole(t *testing.T) {
	ctx := context.Background()
	d := newRoleDB(t)

	t.Run("without a reason it is refused", func(t *testing.T) {
		_, err := sqlscope.NewRLS(ctx, d.admin, sqlscope.WithPrivilegedRole(""))
		assert.ErrorIs(t, err, tenant.ErrNoReason)
		assert.Contains(t, err.Error(), "WithPrivilegedRole")
	})
	t.Run("with a reason the superuser is accepted and the reason audited", func(t *testing.T) {
		var events []tenant.Event
		rls, err := sqlscope.NewRLS(ctx, d.admin, sqlscope.WithPrivilegedRole("nightly export tool"),
			sqlscope.WithAuditor(tenant.AuditorFunc(func(_ context.Context, e tenant.Event) { events = append(events, e) })))
		require.NoError(t, err)
		require.NotNil(t, rls)
		require.Len(t, events, 1)
		assert.Equal(t, tenant.EventPlatformAccess, events[0].Kind)
		assert.Equal(t, "sqlscope", events[0].Package)
		assert.Contains(t, events[0].Resource, "nightly export tool")
		assert.True(t, strings.Contains(events[0].Resource, "WithPrivilegedRole"))
	})
}
