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
//     every schema but the system ones, partitions excepted), ordered by
//     their foreign keys, parents first. A cycle of foreign keys (a
//     table referencing itself included) is refused with
//     sqlscope.ErrForeignKeyCycle, placements that differ in their tenant
//     tables, in a table's columns (names, types, order) or in the
//     tenant tables its foreign keys reference with ErrSchemaMismatch,
//     naming each difference, and a source without tenant tables too.
//  3. In a transaction scoped to the tenant on the destination, which must
//     hold none of the tenant's rows, it copies each table's rows (as
//     row_to_json, inserted with json_populate_record, so every column
//     keeps its value), then
//     compares each table's row count and an md5 of its sorted rows with
//     the source; any difference is ErrCopyMismatch, and the copy is
//     rolled back. Otherwise the copy is committed.
//  4. It records the new placement in the Directory, then deletes the
//     tenant's rows from the source (tables children first) and commits,
//     which releases the lock: the tenant's transactions run on the new
//     placement from then on.
//
// There is no list of tables to give: every tenant table moves, so a
// table added by a migration cannot be left behind. Tables without a
// tenant_id column (shared tables) do not move; a foreign key from a
// tenant table into one needs the referenced rows on the destination
// too, else the copy fails and nothing moves. The application role of
// each placement needs SELECT, INSERT and DELETE on every tenant table.
// Key values move unchanged, so a table with a column drawn from
// its own sequence (serial or identity), whose values would collide with
// the destination's later, is refused before anything is copied: key
// tenant tables by (tenant_id, id) with a UUID id, as Citus wants too.
//
// A failure before the switch leaves everything as it was (the copy is
// rolled back, or deleted again if the Directory could not be written).
// If the source rows cannot be deleted after the switch, the tenant is
// served from the destination, and the error says that its rows remain
// in the source: delete them there. Move holds one connection of each
// placement for its duration; ctx bounds it.
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
	var tables []string
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
		err = dst.RLS.Tx(tctx, func(dtx *sql.Tx) error {
			dstTables, err := sqlscope.TenantTables(ctx, dtx)
			if err != nil {
				return fmt.Errorf("placement: Move: tenant tables of %s: %w", to, err)
			}
			if err := sameTables(from, to, srcTables, dstTables); err != nil {
				return err
			}
			for _, t := range srcTables {
				tables = append(tables, t.Name)
			}
			for _, t := range tables {
				if err := copyTable(ctx, stx, dtx, t, id); err != nil {
					return err
				}
			}
			for _, t := range tables {
				if err := compareTable(ctx, stx, dtx, t, id); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if err := r.dir.Place(ctx, id, to); err != nil {
			if derr := dst.RLS.Tx(tctx, func(dtx *sql.Tx) error { return deleteRows(ctx, dtx, tables, id) }); derr != nil {
				return fmt.Errorf("placement: Move: switch tenant %s to %s: %w; and its copy in %s could not be deleted: %v", id, to, err, to, derr)
			}
			return fmt.Errorf("placement: Move: switch tenant %s to %s: %w (the copy was deleted)", id, to, err)
		}
		switched = true
		return deleteRows(ctx, stx, tables, id)
	})
	if err != nil && switched {
		return fmt.Errorf("placement: Move: tenant %s is now served from %s, but its rows in %s were not removed (delete them there): %w", id, to, from, err)
	}
	return err
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

func copyTable(ctx context.Context, stx, dtx *sql.Tx, table, id string) error {
	// A key drawn from the destination's own sequence would collide with
	// the copied values later: refuse such tables before copying.
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
		return fmt.Errorf("placement: Move: %s draws keys from sequence %v (serial or identity), which would collide with the moved keys: key it by (tenant_id, uuid)", table, seqs)
	}
	var existing int64
	if err := dtx.QueryRowContext(ctx, `SELECT count(*) FROM `+table+` WHERE tenant_id = $1`, id).Scan(&existing); err != nil {
		return fmt.Errorf("placement: Move: %s at the destination: %w", table, err)
	}
	if existing > 0 {
		return fmt.Errorf("placement: Move: the destination holds %d of tenant %s's rows in %s already", existing, id, table)
	}
	rows, err = stx.QueryContext(ctx, `SELECT row_to_json(t)::text FROM `+table+` t WHERE tenant_id = $1`, id)
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

// digestSQL counts a tenant's rows in a table and hashes them, sorted.
const digestSQL = `SELECT count(*), coalesce(md5(string_agg(r, E'\n' ORDER BY r)), '')
FROM (SELECT row_to_json(t)::text AS r FROM %s t WHERE tenant_id = $1) s`

func compareTable(ctx context.Context, stx, dtx *sql.Tx, table, id string) error {
	var sn, dn int64
	var sd, dd string
	q := fmt.Sprintf(digestSQL, table)
	if err := stx.QueryRowContext(ctx, q, id).Scan(&sn, &sd); err != nil {
		return err
	}
	if err := dtx.QueryRowContext(ctx, q, id).Scan(&dn, &dd); err != nil {
		return err
	}
	if sn != dn || sd != dd {
		return fmt.Errorf("%w: %s: %d rows (md5 %s) in the source, %d (md5 %s) in the copy", ErrCopyMismatch, table, sn, sd, dn, dd)
	}
	return nil
}

func deleteRows(ctx context.Context, tx *sql.Tx, tables []string, id string) error {
	for i := len(tables) - 1; i >= 0; i-- {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+tables[i]+` WHERE tenant_id = $1`, id); err != nil {
			return fmt.Errorf("placement: Move: delete from %s: %w", tables[i], err)
		}
	}
	return nil
}
