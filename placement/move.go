package placement

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/tenant"
)

// Move moves tenant id's rows to placement to, and switches the tenant
// there, in one operation:
//
//  1. On the source placement, in a transaction scoped to the tenant, it
//     takes the tenant's move lock exclusively: it waits for the tenant's
//     transactions in flight to end, and from then on every new
//     transaction of the tenant, in every process, gets ErrMoving. Other
//     tenants are not affected.
//  2. It finds the tenant tables of both placements in their catalogs
//     (sqlscope.TenantTables: every table with a tenant_id column, in
//     every schema but the system ones, partitions and temporary tables
//     excepted), ordered by their foreign keys, parents first. A cycle of
//     foreign keys (a table referencing itself included) is refused with
//     sqlscope.ErrForeignKeyCycle, placements that differ in their tenant
//     tables, in a table's columns (names, types, order) or in the
//     tenant tables its foreign keys reference with ErrSchemaMismatch,
//     naming each difference, and a source without tenant tables too.
//  3. On each placement it locks those tables (ACCESS SHARE, which other
//     tenants' reads and writes do not wait for) until it ends, so that no
//     DDL changes their columns, policies or inheritance meanwhile, and
//     refuses with ErrNotMovable what would make its reads differ from
//     the tenant's rows (see below).
//  4. In a transaction scoped to the tenant on the destination, which must
//     hold none of the tenant's rows, it copies each table's rows (as
//     row_to_json, inserted with json_populate_record, so every column
//     keeps its value), then compares each table's row count and an md5
//     of its sorted rows with the source; any difference is
//     ErrCopyMismatch, and the copy is rolled back. Otherwise the copy is
//     committed.
//  5. It deletes the tenant's rows from the source (tables children
//     first), in its first transaction, and checks that the rows deleted
//     are exactly those copied (count and md5), else ErrCopyMismatch.
//     It reads both placements' tenant tables again, and if either set
//     changed since step 2 (a migration created or changed one) it
//     returns ErrSchemaMismatch. Only then does it record the new
//     placement in the Directory, and commit, which releases the lock:
//     the tenant's transactions run on the new placement from then on.
//
// There is no list of tables to give: every tenant table moves, so a
// table added by a migration cannot be left behind. Tables without a
// tenant_id column (shared tables) do not move; a foreign key from a
// tenant table into one needs the referenced rows on the destination
// too, else the copy fails and nothing moves. The application role of
// each placement needs SELECT, INSERT and DELETE on every tenant table,
// and TEMP on the database (for sqlscope.Audit).
//
// Move reads, compares and deletes as the application role, under the
// tenant's row level security, and filtered by tenant_id. That is every
// row of the tenant only when the policies admit all of them, so Move
// refuses, with ErrNotMovable and before anything is copied, a placement
// on which sqlscope.Audit (for the RLS's setting) finds anything, or
// whose tenant tables carry a restrictive policy, or whose guard function
// does not return the tenant: on the rest every policy is the one
// sqlscope generates. It refuses table inheritance that is not
// partitioning (a tenant table with INHERITS parents or children), and
// reads every ordinary table with ONLY. Key values move unchanged, so a
// table with a column drawn from its own sequence (serial or identity),
// whose values would collide with the destination's later, is refused
// too: key tenant tables by (tenant_id, id) with a UUID id, as Citus
// wants too.
//
// Move freezes the tenant's transactions that go through a Router; it
// does not stop other writers (a platform job, a migration's backfill).
// A row such a writer adds to or removes from the tenant's rows in a
// table while Move runs makes it fail with ErrCopyMismatch (the rows it
// deletes must be those it copied), a tenant table it creates or alters
// with ErrSchemaMismatch; but a child row added after its table was
// emptied and then removed by a foreign key's ON DELETE CASCADE goes
// unseen, and so does a row or tenant table added in the source between
// Move's last reading of the catalog and its commit. Run a tenant's
// migrations and platform jobs before or after moving it, not during.
//
// A failure before the switch leaves everything as it was (the copy is
// deleted again, and the source's deletions rolled back). If the source's
// commit fails after the switch, the tenant is served from the
// destination, and the error says that its rows remain in the source:
// delete them there. Move holds one connection of each placement for its
// duration; ctx bounds it.
//
// Move is platform work: ctx must carry tenant.WithPlatformScope's
// reason, else it returns an error wrapping tenant.ErrNoTenant and does
// nothing; each Move is reported to the Router's auditor (WithAuditor).
func (r *Router) Move(ctx context.Context, id, to string) error {
	if err := tenant.ValidateID(id); err != nil {
		return err
	}
	if _, err := tenant.RequirePlatformScope(ctx, r.auditor, tenant.Event{Package: "placement",
		OwnerID: id, Resource: "move"}); err != nil {
		return err
	}
	from, err := r.dir.Placement(ctx, id)
	if err != nil {
		return err
	}
	src, ok := r.placements[from]
	if !ok {
		return fmt.Errorf("%w: tenant %s is placed in %q, which this Router does not have", ErrUnknownPlacement, id, from)
	}
	dst, ok := r.placements[to]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownPlacement, to)
	}
	if from == to {
		return fmt.Errorf("placement: Move: tenant %s is in %s already", id, to)
	}
	tctx := tenant.NewContext(ctx, tenant.Tenant{ID: id})
	switched := false
	err = src.RLS.Tx(tctx, func(stx *sql.Tx) error {
		if _, err := stx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, moveKey(id)); err != nil {
			return fmt.Errorf("placement: Move: take tenant %s's move lock in %s: %w", id, from, err)
		}
		// Another Move may have finished while this one waited.
		now, err := r.dir.Placement(ctx, id)
		if err != nil {
			return err
		}
		if now != from {
			return fmt.Errorf("placement: Move: tenant %s was moved to %s meanwhile", id, now)
		}
		srcTables, err := sqlscope.TenantTables(ctx, stx)
		if err != nil {
			return fmt.Errorf("placement: Move: tenant tables of %s: %w", from, err)
		}
		if len(srcTables) == 0 {
			return fmt.Errorf("placement: Move: %s has no tenant table (no table with a %s column): nothing would move", from, sqlscope.TenantColumn)
		}
		var srcKinds, dstKinds kinds
		var dstTables []sqlscope.TenantTable
		copied := map[string]digest{}
		err = dst.RLS.Tx(tctx, func(dtx *sql.Tx) error {
			dstTables, err = sqlscope.TenantTables(ctx, dtx)
			if err != nil {
				return fmt.Errorf("placement: Move: tenant tables of %s: %w", to, err)
			}
			if err := sameTables(from, to, srcTables, dstTables); err != nil {
				return err
			}
			if srcKinds, err = prepare(ctx, stx, from, src, id, srcTables); err != nil {
				return err
			}
			if dstKinds, err = prepare(ctx, dtx, to, dst, id, dstTables); err != nil {
				return err
			}
			for _, t := range srcTables {
				if err := noSequence(ctx, dtx, t.Name); err != nil {
					return err
				}
			}
			for _, t := range srcTables {
				if err := copyTable(ctx, stx, dtx, srcKinds.from(t.Name), dstKinds.from(t.Name), t.Name, id); err != nil {
					return err
				}
			}
			for _, t := range srcTables {
				d, err := compareTable(ctx, stx, dtx, srcKinds.from(t.Name), dstKinds.from(t.Name), t.Name, id)
				if err != nil {
					return err
				}
				copied[t.Name] = d
			}
			return nil
		})
		if err != nil {
			return err
		}
		// The copy is committed: any failure from here on deletes it.
		undo := func(err error) error {
			derr := dst.RLS.Tx(tctx, func(dtx *sql.Tx) error {
				return deleteRows(ctx, dtx, dstKinds, dstTables, id, copied)
			})
			if derr != nil {
				return fmt.Errorf("%w; and tenant %s's copy in %s could not be deleted (delete it there): %v", err, id, to, derr)
			}
			return fmt.Errorf("%w (the copy in %s was deleted)", err, to)
		}
		if err := deleteRows(ctx, stx, srcKinds, srcTables, id, copied); err != nil {
			return undo(err)
		}
		if err := unchanged(ctx, stx, from, srcTables); err != nil {
			return undo(err)
		}
		if err := unchanged(ctx, dst.DB, to, dstTables); err != nil {
			return undo(err)
		}
		if err := r.dir.Place(ctx, id, to); err != nil {
			return undo(fmt.Errorf("placement: Move: switch tenant %s to %s: %w", id, to, err))
		}
		switched = true
		return nil
	})
	if err != nil && switched {
		return fmt.Errorf("placement: Move: tenant %s is now served from %s, but its rows in %s were not removed (delete them there): %w", id, to, from, err)
	}
	return err
}

// kinds tells, by table name, the tables read with ONLY: ordinary tables
// (a partitioned table holds its rows in its partitions, and ONLY would
// read none).
type kinds map[string]bool

// from is the FROM item that reads table's own rows.
func (k kinds) from(table string) string {
	if k[table] {
		return "ONLY " + table
	}
	return table
}

// tableKinds reads which of tables are ordinary tables.
func tableKinds(ctx context.Context, tx *sql.Tx, tables []sqlscope.TenantTable) (kinds, error) {
	rows, err := tx.QueryContext(ctx, `SELECT t, c.relkind = 'r' FROM unnest($1::text[]) t JOIN pg_class c ON c.oid = t::regclass`, textArray(tables))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	k := kinds{}
	for rows.Next() {
		var name string
		var ordinary bool
		if err := rows.Scan(&name, &ordinary); err != nil {
			return nil, err
		}
		k[name] = ordinary
	}
	return k, rows.Err()
}

// prepare locks a placement's tenant tables for the rest of tx, so that
// no DDL changes them until Move ends, then refuses what would make
// Move's reads, as the application role under the tenant's row level
// security, differ from the tenant's rows: any Audit finding (a policy
// other than the generated one among them), a restrictive policy, a
// guard function that does not return the tenant, and inheritance that
// is not partitioning. It returns which tables are read with ONLY.
func prepare(ctx context.Context, tx *sql.Tx, name string, p Placement, id string, tables []sqlscope.TenantTable) (kinds, error) {
	only := make([]string, len(tables))
	for i, t := range tables {
		only[i] = "ONLY " + t.Name
	}
	// ONLY: a partitioned table's partitions are not tenant tables
	// (TenantTables leaves them out), and need not be granted.
	if _, err := tx.ExecContext(ctx, `LOCK TABLE `+strings.Join(only, ", ")+` IN ACCESS SHARE MODE`); err != nil {
		return nil, fmt.Errorf("placement: Move: lock the tenant tables of %s: %w", name, err)
	}
	findings, err := sqlscope.Audit(ctx, tx, &sqlscope.AuditOptions{Setting: p.RLS.Setting()})
	if err != nil {
		return nil, fmt.Errorf("placement: Move: audit %s: %w", name, err)
	}
	if err := findings.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: its policies may hide some of the tenant's rows from Move or show it others': %w", ErrNotMovable, name, err)
	}
	var guard string
	if err := tx.QueryRowContext(ctx, `SELECT `+sqlscope.CurrentTenantFunc+`()`).Scan(&guard); err != nil {
		return nil, fmt.Errorf("placement: Move: %s: call the guard function: %w", name, err)
	}
	if guard != id {
		return nil, fmt.Errorf("%w: %s: the guard function %s returns %q in tenant %s's transaction", ErrNotMovable, name, sqlscope.CurrentTenantFunc, guard, id)
	}
	rows, err := tx.QueryContext(ctx, `SELECT t,
	coalesce((SELECT string_agg(quote_ident(p.polname), ', ' ORDER BY p.polname) FROM pg_policy p
	          WHERE p.polrelid = c.oid AND NOT p.polpermissive), ''),
	coalesce((SELECT string_agg(format('%I.%I', n.nspname, k.relname), ', ' ORDER BY n.nspname, k.relname)
	          FROM pg_inherits i JOIN pg_class k ON k.oid = i.inhparent JOIN pg_namespace n ON n.oid = k.relnamespace
	          WHERE i.inhrelid = c.oid AND NOT c.relispartition), ''),
	coalesce((SELECT string_agg(format('%I.%I', n.nspname, k.relname), ', ' ORDER BY n.nspname, k.relname)
	          FROM pg_inherits i JOIN pg_class k ON k.oid = i.inhrelid JOIN pg_namespace n ON n.oid = k.relnamespace
	          WHERE i.inhparent = c.oid AND NOT k.relispartition), '')
FROM unnest($1::text[]) t JOIN pg_class c ON c.oid = t::regclass
ORDER BY t COLLATE "C"`, textArray(tables))
	if err != nil {
		return nil, fmt.Errorf("placement: Move: %s: %w", name, err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var t, restrictive, parents, children string
		if err := rows.Scan(&t, &restrictive, &parents, &children); err != nil {
			return nil, err
		}
		if restrictive != "" {
			problems = append(problems, fmt.Sprintf("%s has restrictive policies (%s), which may hide some of the tenant's rows", t, restrictive))
		}
		if parents != "" {
			problems = append(problems, fmt.Sprintf("%s inherits from %s (INHERITS, not partitioning)", t, parents))
		}
		if children != "" {
			problems = append(problems, fmt.Sprintf("%s is inherited by %s (INHERITS, not partitioning)", t, children))
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: %s: %s", ErrNotMovable, name, strings.Join(problems, "; "))
	}
	return tableKinds(ctx, tx, tables)
}

// unchanged refuses a placement whose tenant tables are no longer those
// Move found at its start (before).
func unchanged(ctx context.Context, q sqlscope.Querier, name string, before []sqlscope.TenantTable) error {
	now, err := sqlscope.TenantTables(ctx, q)
	if err != nil {
		return fmt.Errorf("placement: Move: tenant tables of %s: %w", name, err)
	}
	if err := sameTables(name+" when the move began", name+" now", before, now); err != nil {
		return fmt.Errorf("placement: Move: the tenant tables of %s changed during the move, so some of the tenant's rows may not have been copied: %w", name, err)
	}
	return nil
}

// textArray renders the tables' names as a PostgreSQL text[] literal.
func textArray(tables []sqlscope.TenantTable) string {
	quoted := make([]string, len(tables))
	for i, t := range tables {
		quoted[i] = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(t.Name) + `"`
	}
	return "{" + strings.Join(quoted, ",") + "}"
}

// sameTables refuses placements whose tenant tables differ, naming every
// difference: a table on one side only, or columns or references that
// differ.
func sameTables(from, to string, src, dst []sqlscope.TenantTable) error {
	byName := make(map[string]sqlscope.TenantTable, len(dst))
	for _, t := range dst {
		byName[t.Name] = t
	}
	var diffs, onlySrc []string
	for _, s := range src {
		d, ok := byName[s.Name]
		if !ok {
			onlySrc = append(onlySrc, s.Name)
			continue
		}
		delete(byName, s.Name)
		if !slices.Equal(s.Columns, d.Columns) {
			diffs = append(diffs, fmt.Sprintf("%s has columns (%s) in %s, (%s) in %s", s.Name, columnList(s.Columns), from, columnList(d.Columns), to))
		}
		if !slices.Equal(s.References, d.References) {
			diffs = append(diffs, fmt.Sprintf("%s references [%s] in %s, [%s] in %s", s.Name,
				strings.Join(s.References, ", "), from, strings.Join(d.References, ", "), to))
		}
	}
	if len(onlySrc) > 0 {
		diffs = append(diffs, fmt.Sprintf("only %s has %s", from, strings.Join(onlySrc, ", ")))
	}
	if len(byName) > 0 {
		onlyDst := slices.Sorted(maps.Keys(byName))
		diffs = append(diffs, fmt.Sprintf("only %s has %s", to, strings.Join(onlyDst, ", ")))
	}
	if len(diffs) > 0 {
		return fmt.Errorf("%w: %s", ErrSchemaMismatch, strings.Join(diffs, "; "))
	}
	return nil
}

func columnList(cs []sqlscope.Column) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.Name + " " + c.Type
	}
	return strings.Join(parts, ", ")
}

// noSequence refuses a table of the destination with a column drawn from
// its own sequence, whose values would collide with the copied ones
// later.
func noSequence(ctx context.Context, dtx *sql.Tx, table string) error {
	var seqs []string
	rows, err := dtx.QueryContext(ctx, `SELECT s.oid::regclass::text FROM pg_depend d
JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
  AND d.refobjid = $1::regclass AND d.deptype IN ('a', 'i')`, table)
	if err != nil {
		return fmt.Errorf("placement: Move: %s at the destination: %w", table, err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return err
		}
		seqs = append(seqs, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(seqs) > 0 {
		return fmt.Errorf("%w: %s draws keys from sequence %v (serial or identity), which would collide with the moved keys: key it by (tenant_id, uuid)", ErrNotMovable, table, seqs)
	}
	return nil
}

func copyTable(ctx context.Context, stx, dtx *sql.Tx, srcFrom, dstFrom, table, id string) error {
	var existing int64
	if err := dtx.QueryRowContext(ctx, `SELECT count(*) FROM `+dstFrom+` WHERE tenant_id = $1`, id).Scan(&existing); err != nil {
		return fmt.Errorf("placement: Move: %s at the destination: %w", table, err)
	}
	if existing > 0 {
		return fmt.Errorf("placement: Move: the destination holds %d of tenant %s's rows in %s already", existing, id, table)
	}
	rows, err := stx.QueryContext(ctx, `SELECT row_to_json(t)::text FROM `+srcFrom+` t WHERE tenant_id = $1`, id)
	if err != nil {
		return fmt.Errorf("placement: Move: read %s: %w", table, err)
	}
	var batch []string
	for rows.Next() {
		var j string
		if err := rows.Scan(&j); err != nil {
			rows.Close()
			return err
		}
		batch = append(batch, j)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("placement: Move: read %s: %w", table, err)
	}
	for _, j := range batch {
		if _, err := dtx.ExecContext(ctx, `INSERT INTO `+table+`
SELECT * FROM json_populate_record(NULL::`+table+`, $1::json)`, j); err != nil {
			return fmt.Errorf("placement: Move: write %s: %w", table, err)
		}
	}
	return nil
}

// digest is a count of rows and an md5 of them, sorted.
type digest struct {
	n   int64
	md5 string
}

// digestSQL digests a tenant's rows of a table, as row_to_json writes
// them; deletedSQL those a DELETE removes.
const (
	digestSQL = `SELECT count(*), coalesce(md5(string_agg(r, E'\n' ORDER BY r)), '')
FROM (SELECT row_to_json(t)::text AS r FROM %s t WHERE tenant_id = $1) s`
	deletedSQL = `WITH d AS (DELETE FROM %s t WHERE tenant_id = $1 RETURNING row_to_json(t)::text AS r)
SELECT count(*), coalesce(md5(string_agg(r, E'\n' ORDER BY r)), '') FROM d`
)

// compareTable refuses a copy that differs from its source, and returns
// the source's digest.
func compareTable(ctx context.Context, stx, dtx *sql.Tx, srcFrom, dstFrom, table, id string) (digest, error) {
	var s, d digest
	if err := stx.QueryRowContext(ctx, fmt.Sprintf(digestSQL, srcFrom), id).Scan(&s.n, &s.md5); err != nil {
		return s, err
	}
	if err := dtx.QueryRowContext(ctx, fmt.Sprintf(digestSQL, dstFrom), id).Scan(&d.n, &d.md5); err != nil {
		return s, err
	}
	if s != d {
		return s, fmt.Errorf("%w: %s: %d rows (md5 %s) in the source, %d (md5 %s) in the copy", ErrCopyMismatch, table, s.n, s.md5, d.n, d.md5)
	}
	return s, nil
}

// deleteRows deletes the tenant's rows of tables, children first, and
// refuses to have deleted other rows than those copied.
func deleteRows(ctx context.Context, tx *sql.Tx, k kinds, tables []sqlscope.TenantTable, id string, copied map[string]digest) error {
	for i := len(tables) - 1; i >= 0; i-- {
		table := tables[i].Name
		var d digest
		if err := tx.QueryRowContext(ctx, fmt.Sprintf(deletedSQL, k.from(table)), id).Scan(&d.n, &d.md5); err != nil {
			return fmt.Errorf("placement: Move: delete from %s: %w", table, err)
		}
		if c := copied[table]; d != c {
			return fmt.Errorf("%w: %s: %d rows (md5 %s) deleted, %d (md5 %s) copied: the tenant's rows changed during the move (a writer outside the Router?)",
				ErrCopyMismatch, table, d.n, d.md5, c.n, c.md5)
		}
	}
	return nil
}
