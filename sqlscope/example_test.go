package sqlscope_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"

	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/tenant"
)

// The row filter on an embedded SQLite database.
func Example() {
	dir, _ := os.MkdirTemp("", "sqlscope-example")
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", filepath.Join(dir, "crm.db"))
	if err != nil {
		panic(err)
	}
	defer db.Close()
	_, _ = db.Exec(`CREATE TABLE leads (id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL, name TEXT NOT NULL)`)

	leads, _ := sqlscope.NewFilter(db, sqlscope.SQLite)
	acme := tenant.NewContext(context.Background(), tenant.Tenant{ID: "3f0c9a52-6a7e-4c4e-9a35-2d1f0e8b7c61", Slug: "acme"})
	globex := tenant.NewContext(context.Background(), tenant.Tenant{ID: "5e2d8c77-1b0a-4f6e-9c3d-7a8b9c0d1e02", Slug: "globex"})

	_, _ = leads.Insert(acme, "leads", []string{"id", "name"}, 1, "Wile E. Coyote")
	var name string
	err = leads.QueryRow(globex, `SELECT name FROM leads WHERE tenant_id = {tenant} AND id = ?`, 1).Scan(&name)
	fmt.Println("globex reads acme's lead:", err)
	err = leads.QueryRow(acme, `SELECT name FROM leads WHERE tenant_id = {tenant} AND id = ?`, 1).Scan(&name)
	fmt.Println("acme reads its lead:", name, err)
	_, err = leads.Query(acme, `SELECT name FROM leads`)
	fmt.Println(errors.Is(err, sqlscope.ErrUnscoped))
	// Output:
	// globex reads acme's lead: sql: no rows in result set
	// acme reads its lead: Wile E. Coyote <nil>
	// true
}

func ExampleRLSSQL() {
	stmts, _ := sqlscope.RLSSQL("crm.leads")
	for _, s := range stmts {
		fmt.Println(s)
	}
	// Output:
	// ALTER TABLE "crm"."leads" ALTER COLUMN tenant_id SET DEFAULT tenantwall.current_tenant()
	// ALTER TABLE "crm"."leads" ALTER COLUMN tenant_id SET NOT NULL
	// ALTER TABLE "crm"."leads" DROP CONSTRAINT IF EXISTS tenantwall_tenant_not_empty
	// ALTER TABLE "crm"."leads" ADD CONSTRAINT tenantwall_tenant_not_empty CHECK (tenant_id <> '')
	// ALTER TABLE "crm"."leads" ENABLE ROW LEVEL SECURITY
	// ALTER TABLE "crm"."leads" FORCE ROW LEVEL SECURITY
	// DROP POLICY IF EXISTS tenantwall_isolation ON "crm"."leads"
	// CREATE POLICY tenantwall_isolation ON "crm"."leads" AS PERMISSIVE FOR ALL USING (tenant_id = (SELECT tenantwall.current_tenant())) WITH CHECK (tenant_id = (SELECT tenantwall.current_tenant()))
}

// Start-up of a service: migrate as the owner, then scope the application
// role's handle. NewRLS refuses a role that row level security does not
// bind, so a misconfigured deployment stops here instead of serving every
// tenant's rows to every tenant.
func ExampleNewRLS() {
	ctx := context.Background()
	owner, _ := sql.Open("pgx", os.Getenv("OWNER_DATABASE_URL"))
	app, _ := sql.Open("pgx", os.Getenv("DATABASE_URL"))
	if err := sqlscope.EnableRLS(ctx, owner, "", "leads", "tasks"); err != nil {
		// ErrNotTenantTable, ErrRowsWithoutTenant: the message shows the SQL.
		log.Fatal(err)
	}
	rls, err := sqlscope.NewRLS(ctx, app)
	if errors.Is(err, sqlscope.ErrPrivilegedRole) {
		log.Fatalf("refusing to serve: %v", err) // names the role and the fix
	}
	if err != nil {
		log.Fatal(err)
	}
	_ = rls // rls.Tx(ctx, …) for every request
}

// A platform tool that must read every tenant's rows as the table owner
// names its reason; NewRLS reports it to the auditor instead of refusing.
func ExampleWithPrivilegedRole() {
	ctx := context.Background()
	owner, _ := sql.Open("pgx", os.Getenv("OWNER_DATABASE_URL"))
	rls, err := sqlscope.NewRLS(ctx, owner, sqlscope.WithPrivilegedRole("nightly export of every tenant"))
	if err != nil {
		log.Fatal(err)
	}
	_ = rls
}

// One unit of work per request: the statements of a request share one
// transaction, bound to the request's tenant, committed before the status
// is sent.
func ExampleUnits_Middleware() {
	dir, _ := os.MkdirTemp("", "sqlscope-units")
	defer os.RemoveAll(dir)
	// _txlock=immediate: a write request takes SQLite's write lock at BEGIN;
	// busy_timeout: whoever finds the database locked waits for it.
	db, err := sql.Open("sqlite", filepath.Join(dir, "crm.db")+"?_txlock=immediate&_pragma=busy_timeout(5000)")
	if err != nil {
		panic(err)
	}
	defer db.Close()
	_, _ = db.Exec(`CREATE TABLE leads (id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL, name TEXT NOT NULL)`)
	leads, _ := sqlscope.NewFilter(db, sqlscope.SQLite)
	units, _ := sqlscope.NewUnits(db)

	api := http.NewServeMux()
	api.HandleFunc("POST /leads", func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		u, _ := sqlscope.UnitFromContext(ctx)
		if _, err := leads.On(u).Insert(ctx, "leads", []string{"name"}, r.FormValue("name")); err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		var n int
		_ = leads.On(u).QueryRow(ctx, `SELECT count(*) FROM leads WHERE tenant_id = {tenant}`).Scan(&n)
		w.WriteHeader(http.StatusCreated) // commits first
		fmt.Fprintln(w, "leads:", n)
	})
	acme := tenant.Tenant{ID: "3f0c9a52-6a7e-4c4e-9a35-2d1f0e8b7c61", Slug: "acme"}
	resolve := func(next http.Handler) http.Handler { // stands for resolve.Middleware
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(tenant.NewContext(r.Context(), acme)))
		})
	}
	srv := resolve(units.Middleware(api))

	for _, name := range []string{"Wile E. Coyote", "Road Runner"} {
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, httptest.NewRequest("POST", "/leads?name="+url.QueryEscape(name), nil))
		fmt.Print(w.Code, " ", w.Body.String())
	}
	// Output:
	// 201 leads: 1
	// 201 leads: 2
}

// The migration of a Citus cluster: tables distributed by tenant_id and
// co-located, tenant_id in every key, the policy form Citus accepts, and
// the setting sent to the workers. Citus is not installed where this
// package is tested, so the example prints the statements; the policy
// statements are tested on plain PostgreSQL.
func ExampleCitusRLSSQL() {
	stmts := []string{
		`CREATE TABLE leads (tenant_id text NOT NULL, id bigint NOT NULL, name text NOT NULL, PRIMARY KEY (tenant_id, id))`,
		`CREATE TABLE tasks (tenant_id text NOT NULL, id bigint NOT NULL, lead_id bigint NOT NULL, PRIMARY KEY (tenant_id, id),
	FOREIGN KEY (tenant_id, lead_id) REFERENCES leads (tenant_id, id))`,
		`SELECT create_distributed_table('leads', 'tenant_id')`,
		`SELECT create_distributed_table('tasks', 'tenant_id', colocate_with => 'leads')`,
		`ALTER ROLE crm_app SET citus.propagate_set_commands = 'local'`,
	}
	for _, table := range []string{"leads", "tasks"} {
		policy, err := sqlscope.CitusRLSSQL(table, "")
		if err != nil {
			log.Fatal(err)
		}
		stmts = append(stmts, policy...)
	}
	fmt.Println(stmts[len(stmts)-1])
	// Queries name the tenant, so that Citus routes them to one shard.
	filter, _ := sqlscope.NewFilter(nil, sqlscope.Postgres)
	ctx := tenant.NewContext(context.Background(), tenant.Tenant{ID: "3f0c9a52-6a7e-4c4e-9a35-2d1f0e8b7c61"})
	q, args, _ := filter.Bind(ctx, `SELECT name FROM leads WHERE tenant_id = {tenant} AND id = $1`, []any{7})
	fmt.Println(q, args)
	// Output:
	// CREATE POLICY tenantwall_isolation ON "tasks" AS PERMISSIVE FOR ALL USING (tenant_id = current_setting('tenantwall.tenant_id', true)) WITH CHECK (tenant_id = current_setting('tenantwall.tenant_id', true))
	// SELECT name FROM leads WHERE tenant_id = $2 AND id = $1 [7 3f0c9a52-6a7e-4c4e-9a35-2d1f0e8b7c61]
}
