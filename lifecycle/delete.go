package lifecycle

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"time"

	"gocloud.dev/blob"

	"github.com/tenantwall/tenantwall/tenant"
)

// Pending is a tenant scheduled for deletion.
type Pending struct {
	TenantID    string    `json:"tenant_id"`
	Slug        string    `json:"slug"`
	SuspendedAt time.Time `json:"suspended_at"`
	DeleteAfter time.Time `json:"delete_after"`
}

// Receipt is what Delete removed, store by store, and what the
// verification after it found.
type Receipt struct {
	TenantID    string    `json:"tenant_id"`
	Slug        string    `json:"slug"`
	SuspendedAt time.Time `json:"suspended_at,omitzero"`
	DeletedAt   time.Time `json:"deleted_at"`
	Confirmed   bool      `json:"confirmed"` // deleted on confirmation, before the grace period ended
	Removed     []Removed `json:"removed"`
	Verified    Report    `json:"verified"`
}

// Total returns the sum of the counts of every store that could count.
func (r Receipt) Total() int64 {
	var n int64
	for _, x := range r.Removed {
		if x.Count > 0 {
			n += x.Count
		}
	}
	return n
}

// deletions is the table of scheduled deletions. Its tenant column is
// owner_id, so that it is not taken for a tenant table.
const deletions = "tenantwall_deletions"

// Migrate creates the table of scheduled deletions, tenantwall_deletions,
// if it does not exist. Run it as the role that owns the schema.
func (m *Manager) Migrate(ctx context.Context) error {
	_, err := m.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+deletions+` (
		owner_id text PRIMARY KEY,
		slug text NOT NULL,
		suspended_at bigint NOT NULL,
		delete_after bigint NOT NULL)`)
	if err != nil {
		return fmt.Errorf("lifecycle: migrate: %w", err)
	}
	return nil
}

// Schedule is the first step of a deletion: it suspends the tenant at
// once (resolve answers its hosts as suspended, and every request is
// refused), calls WithOnChange's function so that caches drop it, and
// records that it may be deleted once the grace period has passed. A
// suspended tenant scheduled already keeps its first dates; an active one
// gets new ones, whatever an earlier schedule said. Whoever activates a
// scheduled tenant should call Cancel (or Schedule it again later): a
// schedule left behind would let a tenant suspended by hand later be
// deleted without a new grace period.
func (m *Manager) Schedule(ctx context.Context, tenantID string) (Pending, error) {
	t, err := m.platform(ctx, tenantID, "schedule deletion")
	if err != nil {
		return Pending{}, err
	}
	if t.Status != tenant.StatusSuspended {
		// A schedule left from before the tenant was active again is
		// void: the grace period starts now.
		if _, err := m.db.ExecContext(ctx, m.q(`DELETE FROM `+deletions+` WHERE owner_id = ?`), t.ID); err != nil {
			return Pending{}, fmt.Errorf("lifecycle: schedule: %w", err)
		}
		t.Status = tenant.StatusSuspended
		if err := m.tenants.Update(ctx, t); err != nil {
			return Pending{}, fmt.Errorf("lifecycle: suspend: %w", err)
		}
	}
	if m.onChange != nil {
		m.onChange(ctx, t)
	}
	now := m.now().UTC().Truncate(time.Millisecond)
	_, err = m.db.ExecContext(ctx, m.q(`INSERT INTO `+deletions+` (owner_id, slug, suspended_at, delete_after)
		VALUES (?, ?, ?, ?) ON CONFLICT (owner_id) DO NOTHING`), t.ID, t.Slug, now.UnixMilli(), now.Add(m.grace).UnixMilli())
	if err != nil {
		return Pending{}, fmt.Errorf("lifecycle: schedule: %w", err)
	}
	p, found, err := m.pending(ctx, t.ID)
	if err == nil && !found {
		err = fmt.Errorf("lifecycle: schedule of %s vanished", t.ID)
	}
	return p, err
}

// Cancel takes a tenant off the schedule and makes it active again.
func (m *Manager) Cancel(ctx context.Context, tenantID string) error {
	t, err := m.platform(ctx, tenantID, "cancel deletion")
	if err != nil {
		return err
	}
	if _, err := m.db.ExecContext(ctx, m.q(`DELETE FROM `+deletions+` WHERE owner_id = ?`), t.ID); err != nil {
		return fmt.Errorf("lifecycle: cancel: %w", err)
	}
	t.Status = tenant.StatusActive
	if err := m.tenants.Update(ctx, t); err != nil {
		return err
	}
	if m.onChange != nil {
		m.onChange(ctx, t)
	}
	return nil
}

func (m *Manager) pending(ctx context.Context, id string) (Pending, bool, error) {
	p := Pending{TenantID: id}
	var sus, after int64
	err := m.db.QueryRowContext(ctx, m.q(`SELECT slug, suspended_at, delete_after FROM `+deletions+` WHERE owner_id = ?`), id).
		Scan(&p.Slug, &sus, &after)
	if errors.Is(err, sql.ErrNoRows) {
		return p, false, nil
	}
	if err != nil {
		return p, false, fmt.Errorf("lifecycle: read schedule: %w", err)
	}
	p.SuspendedAt, p.DeleteAfter = time.UnixMilli(sus).UTC(), time.UnixMilli(after).UTC()
	return p, true, nil
}

// Scheduled lists the tenants scheduled for deletion, soonest first.
func (m *Manager) Scheduled(ctx context.Context) ([]Pending, error) {
	rows, err := m.db.QueryContext(ctx, `SELECT owner_id, slug, suspended_at, delete_after FROM `+deletions+` ORDER BY delete_after, owner_id`)
	if err != nil {
		return nil, fmt.Errorf("lifecycle: read schedule: %w", err)
	}
	defer rows.Close()
	var out []Pending
	for rows.Next() {
		var p Pending
		var sus, after int64
		if err := rows.Scan(&p.TenantID, &p.Slug, &sus, &after); err != nil {
			return nil, err
		}
		p.SuspendedAt, p.DeleteAfter = time.UnixMilli(sus).UTC(), time.UnixMilli(after).UTC()
		out = append(out, p)
	}
	return out, rows.Err()
}

// Delete is the second step: it removes the tenant from every store the
// Manager was given and returns the receipt. The tenant must be
// suspended (ErrNotSuspended); without confirm, it must have been
// scheduled and its grace period must be over (ErrGracePeriod). In order,
// it deletes:
//
//  1. its rows of every tenant table (children first), in one transaction
//     scoped to the tenant;
//  2. every object under its prefix in the bucket;
//  3. its cache keys (Purge) and generation counter (Forget);
//  4. its sessions;
//  5. whatever each WithRemover function removes (credentials, with their
//     data key; signing keys);
//  6. its registry entry and every domain record, then its schedule.
//
// It then runs Verify and returns the receipt with the report; a finding
// makes the error wrap ErrSurvived. A delete that failed half-way may be
// run again: every step is idempotent, and the tenant stays suspended and
// scheduled until the last one.
func (m *Manager) Delete(ctx context.Context, tenantID string, confirm bool) (Receipt, error) {
	t, err := m.platform(ctx, tenantID, "delete tenant")
	if err != nil {
		return Receipt{}, err
	}
	rec := Receipt{TenantID: t.ID, Slug: t.Slug, Confirmed: confirm, Removed: []Removed{}}
	if t.Status != tenant.StatusSuspended {
		return rec, fmt.Errorf("%w: %s is %s; schedule it first", ErrNotSuspended, t, t.Status)
	}
	p, found, err := m.pending(ctx, t.ID)
	if err != nil {
		return rec, err
	}
	if found {
		rec.SuspendedAt = p.SuspendedAt
	}
	now := m.now()
	if !confirm {
		if !found {
			return rec, fmt.Errorf("%w: %s was suspended but not scheduled; schedule it or confirm", ErrGracePeriod, t)
		}
		if now.Before(p.DeleteAfter) {
			return rec, fmt.Errorf("%w: %s may be deleted after %s, or on confirmation", ErrGracePeriod, t, p.DeleteAfter.Format(time.RFC3339))
		}
	}
	track := m.track("delete", 0, 0)

	track.step("tables")
	removed, err := m.deleteRows(ctx, t.ID)
	rec.Removed = append(rec.Removed, removed...)
	for _, r := range removed {
		track.add(r.Count, 0)
	}
	if err != nil {
		return rec, err
	}
	if m.bucket != nil {
		track.step("blobs")
		r, err := m.deleteObjects(ctx, t.ID)
		rec.Removed = append(rec.Removed, r)
		track.add(0, r.Bytes)
		if err != nil {
			return rec, err
		}
	}
	if m.cache != nil {
		track.step("cache")
		n, err := m.cache.Purge(ctx, t.ID)
		r := Removed{Store: "cache", Count: n}
		if err == nil {
			var forgot bool
			forgot, err = m.cache.Forget(ctx, t.ID)
			if forgot {
				r.Note = "generation counter deleted"
			}
		}
		rec.Removed = append(rec.Removed, r)
		if err != nil {
			return rec, fmt.Errorf("lifecycle: cache: %w", err)
		}
	}
	if m.sessions != nil {
		track.step("sessions")
		if err := m.sessions.DeleteTenant(ctx, t.ID); err != nil {
			return rec, fmt.Errorf("lifecycle: sessions: %w", err)
		}
		rec.Removed = append(rec.Removed, Removed{Store: "sessions", Count: -1, Note: "every session ended (the store does not count)"})
	}
	for _, rm := range m.removers {
		track.step(rm.name)
		r, err := rm.fn(ctx, t.ID)
		if r.Store == "" {
			r.Store = rm.name
		}
		rec.Removed = append(rec.Removed, r)
		if err != nil {
			return rec, fmt.Errorf("lifecycle: %s: %w", rm.name, err)
		}
	}
	track.step("registry")
	doms, err := m.tenants.Domains(ctx, t.ID)
	if err != nil {
		return rec, fmt.Errorf("lifecycle: domains: %w", err)
	}
	if err := m.tenants.Delete(ctx, t.ID); err != nil && !errors.Is(err, tenant.ErrNotFound) {
		return rec, fmt.Errorf("lifecycle: registry: %w", err)
	}
	rec.Removed = append(rec.Removed, Removed{Store: "domains", Count: int64(len(doms))}, Removed{Store: "tenant", Count: 1})
	if m.onChange != nil {
		m.onChange(ctx, t)
	}
	if _, err := m.db.ExecContext(ctx, m.q(`DELETE FROM `+deletions+` WHERE owner_id = ?`), t.ID); err != nil {
		return rec, fmt.Errorf("lifecycle: schedule: %w", err)
	}
	rec.DeletedAt = m.now().UTC()
	track.step("verify")
	rep, err := m.Verify(ctx, t.ID, t.Slug)
	rec.Verified = rep
	track.done()
	if err != nil {
		return rec, err
	}
	return rec, rep.Err()
}

// deleteRows deletes the tenant's rows of every tenant table, children
// first, in one transaction scoped to the tenant.
func (m *Manager) deleteRows(ctx context.Context, id string) ([]Removed, error) {
	tx, err := m.scopedTx(ctx, id, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	tables, err := m.tenantTables(ctx, tx)
	if err != nil {
		return nil, err
	}
	out := []Removed{}
	for i := len(tables) - 1; i >= 0; i-- {
		tb := tables[i]
		res, err := tx.ExecContext(ctx, m.q(`DELETE FROM `+tb.quoted+` WHERE `+tenantColumn+` = ?`), id)
		if err != nil {
			return nil, fmt.Errorf("lifecycle: delete from %s: %w", tb.name, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return nil, err
		}
		out = append(out, Removed{Store: "table " + tb.name, Count: n})
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return out, nil
}

// deleteObjects deletes every object under the tenant's prefix. It lists
// again until a listing is empty, as a listing paged while its objects
// are deleted may skip some on some drivers.
func (m *Manager) deleteObjects(ctx context.Context, id string) (Removed, error) {
	r := Removed{Store: "blobs"}
	for {
		n := r.Count
		it := m.bucket.List(&blob.ListOptions{Prefix: m.blobPrefix(id)})
		for {
			obj, err := it.Next(ctx)
			if err == io.EOF {
				break
			}
			if err != nil {
				return r, fmt.Errorf("lifecycle: list objects: %w", err)
			}
			if obj.IsDir {
				continue
			}
			if err := m.bucket.Delete(ctx, obj.Key); err != nil {
				return r, fmt.Errorf("lifecycle: delete object %s: %w", obj.Key, err)
			}
			r.Count++
			r.Bytes += obj.Size
		}
		if r.Count == n {
			return r, nil
		}
	}
}
