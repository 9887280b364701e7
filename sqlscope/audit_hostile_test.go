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
)

// Tenant IDs of the hostile audit tests. Tenant A owns the only row; every
// query below runs as tenant B.
const (
	hostileA = "tenant-a"
	hostileB = "tenant-b"
)

// leak is what tenant B managed to do to tenant A's data under a schema.
type leak struct {
	readA  bool // B read A's row
	writeA bool // B inserted a row belonging to A
}

// hostileDB is a database with an application role, in which each case
// builds a schema of its own.
type hostileDB struct {
	url        string
	admin, app *sql.DB
	role       string
}

func newHostileDB(t *testing.T) *hostileDB {
	t.Helper()
	url, admin := testenv.PostgresDB(t)
	role, roleURL := testenv.PostgresRole(t, admin, url)
	app, err := sql.Open("pgx", roleURL)
	require.NoError(t, err)
	t.Cleanup(func() { app.Close() })
	return &hostileDB{url: url, admin: admin, app: app, role: role}
}

// schema creates schema s with s.items isolated by EnableRLS and holding
// one row of tenant A (label names B, secret is set), runs plant as the
// owner, isolates the tables in rls too, and grants the application role
// everything on the schema.
func (h *hostileDB) schema(t *testing.T, s, plant string, rls ...string) {
	t.Helper()
	ctx := context.Background()
	r := strings.NewReplacer("{s}", s, "{role}", h.role)
	_, err := h.admin.ExecContext(ctx, r.Replace(`
CREATE SCHEMA {s};
CREATE TABLE {s}.items (id int PRIMARY KEY, tenant_id text NOT NULL, label text, secret text);`))
	require.NoError(t, err)
	require.NoError(t, sqlscope.EnableRLS(ctx, h.admin, "", s+".items"))
	_, err = h.admin.ExecContext(ctx, r.Replace(`INSERT INTO {s}.items VALUES (1, '`+hostileA+`', '`+hostileB+`', 's3cret')`))
	require.NoError(t, err)
	if plant != "" {
		_, err = h.admin.ExecContext(ctx, r.Replace(plant))
		require.NoError(t, err, plant)
	}
	for i := range rls {
		rls[i] = r.Replace(rls[i])
	}
	if len(rls) > 0 {
		require.NoError(t, sqlscope.EnableRLS(ctx, h.admin, "", rls...))
	}
	_, err = h.admin.ExecContext(ctx, r.Replace(`GRANT USAGE ON SCHEMA {s} TO {role};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {role}`))
	require.NoError(t, err)
}

// attack tries, as the application role scoped to tenant B, to read A's
// row through relation via and to insert a row for A into s.items.
func (h *hostileDB) attack(t *testing.T, db *sql.DB, s, via string) leak {
	t.Helper()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, `SELECT set_config('tenantwall.tenant_id', $1, true)`, hostileB)
	require.NoError(t, err)
	var l leak
	var n int
	require.NoError(t, tx.QueryRowContext(ctx, `SELECT count(*) FROM `+via+` WHERE tenant_id = $1`, hostileA).Scan(&n))
	l.readA = n > 0
	_, err = tx.ExecContext(ctx, `SAVEPOINT attack`)
	require.NoError(t, err)
	_, err = tx.ExecContext(ctx, `INSERT INTO `+s+`.items (id, tenant_id) VALUES (2, $1)`, hostileA)
	l.writeA = err == nil
	if err != nil {
		require.ErrorContains(t, err, "row-level security", "the insert failed for another reason")
	}
	return l
}

// TestAuditFindsPoliciesThatLeak plants, one schema per case, policies and
// views an attacker with DDL rights (or a careless migration) could add,
// many of which still contain the guard, and checks both that tenant B
// really reaches A's row through them as the application role (so each
// finding matters) and that Audit reports them. Cases that are safe must
// audit clean and leak nothing.
func TestAuditFindsPoliciesThatLeak(t *testing.T) {
	ctx := context.Background()
	h := newHostileDB(t)
	const guard = `tenant_id = (SELECT tenantwall.current_tenant())`
	cases := []struct {
		name  string
		plant string
		rls   []string // tables to isolate after the plant
		via   string   // relation B reads through; default {s}.items
		check sqlscope.Check
		leak  leak
	}{
		{name: "the generated policy widened with OR true",
			plant: `ALTER POLICY tenantwall_isolation ON {s}.items USING (` + guard + ` OR true)`,
			check: sqlscope.CheckPermissivePolicy, leak: leak{readA: true}},
		{name: "the generated policy negated",
			plant: `ALTER POLICY tenantwall_isolation ON {s}.items USING (NOT (` + guard + `))`,
			check: sqlscope.CheckPermissivePolicy, leak: leak{readA: true}},
		{name: "the guard compared with another column",
			plant: `ALTER POLICY tenantwall_isolation ON {s}.items USING (label = (SELECT tenantwall.current_tenant()))`,
			check: sqlscope.CheckPermissivePolicy, leak: leak{readA: true}},
		{name: "the guard ORed with a column that is set",
			plant: `ALTER POLICY tenantwall_isolation ON {s}.items USING (` + guard + ` OR secret IS NOT NULL)`,
			check: sqlscope.CheckPermissivePolicy, leak: leak{readA: true}},
		{name: "the guard ORed with a fixed tenant",
			plant: `ALTER POLICY tenantwall_isolation ON {s}.items USING (` + guard + ` OR tenant_id = '` + hostileA + `')`,
			check: sqlscope.CheckPermissivePolicy, leak: leak{readA: true}},
		{name: "the guard with another operator",
			plant: `ALTER POLICY tenantwall_isolation ON {s}.items USING (tenant_id <= (SELECT tenantwall.current_tenant()))`,
			check: sqlscope.CheckPermissivePolicy, leak: leak{readA: true}},
		{name: "a look-alike guard in another schema",
			plant: `CREATE SCHEMA {s}_fake;
CREATE FUNCTION {s}_fake.current_tenant() RETURNS text LANGUAGE sql STABLE AS $$ SELECT '` + hostileA + `'::text $$;
GRANT USAGE ON SCHEMA {s}_fake TO PUBLIC;
ALTER POLICY tenantwall_isolation ON {s}.items USING (tenant_id = (SELECT {s}_fake.current_tenant()))`,
			check: sqlscope.CheckPermissivePolicy, leak: leak{readA: true}},
		{name: "the generated policy with WITH CHECK (true)",
			plant: `ALTER POLICY tenantwall_isolation ON {s}.items WITH CHECK (true)`,
			check: sqlscope.CheckPermissivePolicy, leak: leak{writeA: true}},
		{name: "a second permissive policy USING (true)",
			plant: `CREATE POLICY everyone ON {s}.items FOR SELECT USING (true)`,
			check: sqlscope.CheckPermissivePolicy, leak: leak{readA: true}},
		{name: "a second permissive policy that contains the guard",
			plant: `CREATE POLICY labelled ON {s}.items FOR SELECT USING (` + guard + ` OR label IS NOT NULL)`,
			check: sqlscope.CheckPermissivePolicy, leak: leak{readA: true}},
		{name: "a second permissive policy letting inserts through",
			plant: `CREATE POLICY inserts ON {s}.items FOR INSERT WITH CHECK (true)`,
			check: sqlscope.CheckPermissivePolicy, leak: leak{writeA: true}},
		{name: "a second permissive policy for an unrelated role",
			plant: `CREATE POLICY monitor ON {s}.items FOR SELECT TO pg_monitor USING (true)`,
			check: sqlscope.CheckPermissivePolicy},
		{name: "a second permissive policy without USING",
			plant: `CREATE POLICY empty ON {s}.items FOR SELECT`,
			check: sqlscope.CheckPermissivePolicy},
		{name: "the generated policy moved to another role",
			plant: `ALTER POLICY tenantwall_isolation ON {s}.items TO pg_monitor`,
			check: sqlscope.CheckNoPolicy},
		{name: "the generated policy narrowed to SELECT",
			plant: `DROP POLICY tenantwall_isolation ON {s}.items;
CREATE POLICY tenantwall_isolation ON {s}.items FOR SELECT USING (` + guard + `)`,
			check: sqlscope.CheckNoPolicy},
		{name: "an update policy without WITH CHECK",
			plant: `CREATE POLICY updates ON {s}.items FOR UPDATE USING (` + guard + `)`,
			check: sqlscope.CheckNoWithCheck},
		{name: "a view without security_invoker",
			plant: `CREATE VIEW {s}.v AS SELECT * FROM {s}.items`, via: "{s}.v",
			check: sqlscope.CheckView, leak: leak{readA: true}},
		{name: "a view with security_invoker false",
			plant: `CREATE VIEW {s}.v WITH (security_invoker = off) AS SELECT id, tenant_id FROM {s}.items`, via: "{s}.v",
			check: sqlscope.CheckView, leak: leak{readA: true}},
		{name: "a view over a security_invoker view",
			plant: `CREATE VIEW {s}.inner_v WITH (security_invoker = true) AS SELECT * FROM {s}.items;
CREATE VIEW {s}.outer_v AS SELECT * FROM {s}.inner_v`, via: "{s}.outer_v",
			// PostgreSQL 15 applies the policy as the querying role here,
			// but the audit accepts only views that are security_invoker
			// all the way down rather than rely on how a chain mixes.
			check: sqlscope.CheckView},
		{name: "a view in a schema outside the audited ones",
			plant: `CREATE SCHEMA {s}_views; GRANT USAGE ON SCHEMA {s}_views TO {role};
CREATE VIEW {s}_views.v AS SELECT * FROM {s}.items; GRANT SELECT ON {s}_views.v TO {role}`, via: "{s}_views.v",
			check: sqlscope.CheckView, leak: leak{readA: true}},
		{name: "a materialized view",
			plant: `CREATE MATERIALIZED VIEW {s}.m AS SELECT * FROM {s}.items`, via: "{s}.m",
			check: sqlscope.CheckMaterializedView, leak: leak{readA: true}},
		{name: "a materialized view over a security_invoker view",
			plant: `CREATE VIEW {s}.inner_v WITH (security_invoker = true) AS SELECT * FROM {s}.items;
CREATE MATERIALIZED VIEW {s}.m AS SELECT * FROM {s}.inner_v`, via: "{s}.m",
			check: sqlscope.CheckMaterializedView, leak: leak{readA: true}},

		// Safe schemas: these must audit clean and leak nothing.
		{name: "an extra restrictive policy stays clean",
			plant: `CREATE POLICY no_secrets ON {s}.items AS RESTRICTIVE FOR SELECT USING (secret IS NULL)`},
		{name: "an extra restrictive policy USING (true) stays clean",
			plant: `CREATE POLICY noop ON {s}.items AS RESTRICTIVE USING (true) WITH CHECK (true)`},
		{name: "a security_invoker view stays clean",
			plant: `CREATE VIEW {s}.v WITH (security_invoker = on) AS SELECT * FROM {s}.items`, via: "{s}.v"},
		{name: "a varchar tenant column isolated by EnableRLS stays clean",
			plant: `CREATE TABLE {s}.codes (id int PRIMARY KEY, tenant_id varchar(64) NOT NULL)`, rls: []string{"{s}.codes"}},
		{name: "EnableRLS run twice stays clean",
			rls: []string{"{s}.items"}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := fmt.Sprintf("h%d", i)
			h.schema(t, s, c.plant, c.rls...)
			via := strings.ReplaceAll(c.via, "{s}", s)
			if via == "" {
				via = s + ".items"
			}
			assert.Equal(t, c.leak, h.attack(t, h.app, s, via), "what tenant B can do to A's row")

			fs, err := sqlscope.Audit(ctx, h.app, &sqlscope.AuditOptions{Schemas: []string{s}})
			require.NoError(t, err)
			if c.check == "" {
				assert.Empty(t, fs)
				return
			}
			assert.True(t, fs.Has(c.check, s+".items"), "want %s on %s.items, got %v", c.check, s, fs)
			assert.ErrorIs(t, fs.Err(), sqlscope.ErrUnsafe)
		})
	}
}

// TestAuditFindsPrivilegedMemberships grants the application role,
// directly or through an intermediate role, membership in a role that
// bypasses row level security, and checks that the role can use it to
// read another tenant's row and that Audit reports it.
func TestAuditFindsPrivilegedMemberships(t *testing.T) {
	ctx := context.Background()
	h := newHostileDB(t)
	h.schema(t, "m", "")
	var superuser string
	require.NoError(t, h.admin.QueryRowContext(ctx, `SELECT current_user`).Scan(&superuser))

	role := func(t *testing.T, attrs string) string {
		t.Helper()
		name, _ := testenv.PostgresRole(t, h.admin, h.url)
		if attrs != "" {
			_, err := h.admin.ExecContext(ctx, `ALTER ROLE `+name+` `+attrs)
			require.NoError(t, err)
		}
		_, err := h.admin.ExecContext(ctx, `GRANT USAGE ON SCHEMA m TO `+name+`; GRANT SELECT ON m.items TO `+name)
		require.NoError(t, err)
		return name
	}
	cases := []struct {
		name  string
		setup func(t *testing.T, app string) (privileged string)
		check sqlscope.Check
	}{
		{"a member of a BYPASSRLS role", func(t *testing.T, app string) string {
			p := role(t, "BYPASSRLS")
			_, err := h.admin.ExecContext(ctx, `GRANT `+p+` TO `+app)
			require.NoError(t, err)
			return p
		}, sqlscope.CheckBypassRLS},
		{"a member, through a NOINHERIT role, of a BYPASSRLS role", func(t *testing.T, app string) string {
			p, mid := role(t, "BYPASSRLS"), role(t, "NOINHERIT")
			_, err := h.admin.ExecContext(ctx, `GRANT `+p+` TO `+mid+`; GRANT `+mid+` TO `+app)
			require.NoError(t, err)
			return p
		}, sqlscope.CheckBypassRLS},
		{"a member of a superuser", func(t *testing.T, app string) string {
			_, err := h.admin.ExecContext(ctx, `GRANT `+superuser+` TO `+app)
			require.NoError(t, err)
			return superuser
		}, sqlscope.CheckSuperuser},
		{"a member of the role owning a tenant table", func(t *testing.T, app string) string {
			owner := role(t, "")
			_, err := h.admin.ExecContext(ctx, `ALTER TABLE m.items OWNER TO `+owner+`; ALTER TABLE m.items NO FORCE ROW LEVEL SECURITY; GRANT `+owner+` TO `+app)
			require.NoError(t, err)
			t.Cleanup(func() {
				_, _ = h.admin.ExecContext(ctx, `ALTER TABLE m.items OWNER TO `+superuser+`; ALTER TABLE m.items FORCE ROW LEVEL SECURITY`)
			})
			return owner
		}, sqlscope.CheckOwner},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			app, appURL := testenv.PostgresRole(t, h.admin, h.url)
			_, err := h.admin.ExecContext(ctx, `GRANT USAGE ON SCHEMA m TO `+app+`; GRANT SELECT, INSERT ON m.items TO `+app)
			require.NoError(t, err)
			db, err := sql.Open("pgx", appURL)
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			require.False(t, h.attack(t, db, "m", "m.items").readA, "before the grant the role is confined")

			privileged := c.setup(t, app)

			// The role can take the privileged role's rights with SET ROLE.
			tx, err := db.BeginTx(ctx, nil)
			require.NoError(t, err)
			defer tx.Rollback()
			_, err = tx.ExecContext(ctx, `SET LOCAL ROLE `+privileged)
			require.NoError(t, err)
			_, err = tx.ExecContext(ctx, `SELECT set_config('tenantwall.tenant_id', $1, true)`, hostileB)
			require.NoError(t, err)
			var n int
			require.NoError(t, tx.QueryRowContext(ctx, `SELECT count(*) FROM m.items WHERE tenant_id = $1`, hostileA).Scan(&n))
			assert.Equal(t, 1, n, "as %s, tenant B reads A's row", privileged)

			fs, err := sqlscope.Audit(ctx, db, &sqlscope.AuditOptions{Schemas: []string{"m"}})
			require.NoError(t, err)
			assert.True(t, fs.Has(c.check, ""), "want %s, got %v", c.check, fs)
			found := false
			for _, f := range fs {
				found = found || (f.Check == c.check && (f.Object == privileged || strings.Contains(f.Detail, privileged)))
			}
			assert.True(t, found, "the finding names %s: %v", privileged, fs)
		})
	}
}
