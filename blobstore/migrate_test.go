package blobstore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/blob"

	"github.com/tenantwall/tenantwall/blobstore"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

type legacy struct {
	moves    []blobstore.Move
	contents map[string]string // old key → body
}

func seedLegacy(t *testing.T, base *blob.Bucket, tt twoTenants, n int) legacy {
	t.Helper()
	l := legacy{contents: map[string]string{}}
	for i := range n {
		owner := tt.a.ID
		if i%3 == 0 {
			owner = tt.b.ID
		}
		kind := "documents"
		key := fmt.Sprintf("documents/file%02d.pdf", i)
		if i%4 == 0 {
			kind, key = "applicants", fmt.Sprintf("applicants/photo%02d.jpg", i)
		}
		body := fmt.Sprintf("body of %s for %s", key, owner[:8])
		require.NoError(t, base.WriteAll(context.Background(), key, []byte(body), nil))
		l.contents[key] = body
		l.moves = append(l.moves, blobstore.Move{OldKey: key, TenantID: owner, Kind: kind})
	}
	return l
}

func platform(t *testing.T) context.Context {
	ctx, err := tenant.WithPlatformScope(context.Background(), "file migration")
	require.NoError(t, err)
	return ctx
}

// checkMigrated asserts every legacy object is in its tenant's prefix
// exactly once with its body, and no source is left.
func checkMigrated(t *testing.T, base *blob.Bucket, store *blobstore.Store, l legacy) {
	t.Helper()
	ctx := context.Background()
	for _, m := range l.moves {
		ok, err := base.Exists(ctx, m.OldKey)
		require.NoError(t, err)
		assert.False(t, ok, "source %s left behind", m.OldKey)
		rel, err := blobstore.MigrationKey(m.Kind, m.OldKey)
		require.NoError(t, err)
		body, err := base.ReadAll(ctx, store.Prefix(m.TenantID)+rel)
		require.NoError(t, err, "%s not at its destination", m.OldKey)
		assert.Equal(t, l.contents[m.OldKey], string(body))
	}
	n := 0
	it := base.List(&blob.ListOptions{Prefix: "tenants/"})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		n++
		_ = obj
	}
	assert.Equal(t, len(l.moves), n, "objects under tenants/: duplicates or strays")
}

func TestMigrateInterruptedAndResumed(t *testing.T) {
	drivers(t, func(t *testing.T, base *blob.Bucket) {
		store, _ := blobstore.New(base, blobstore.WithAuditor(&tenanttest.AuditRecorder{}))
		tt := newTwo()
		l := seedLegacy(t, base, tt, 12)

		// Crash after copying one object but before deleting its source.
		rel, _ := blobstore.MigrationKey(l.moves[5].Kind, l.moves[5].OldKey)
		require.NoError(t, base.Copy(context.Background(), store.Prefix(l.moves[5].TenantID)+rel, l.moves[5].OldKey, nil))

		// Dry run changes nothing.
		rep, err := store.Migrate(platform(t), l.moves, &blobstore.MigrateOptions{DryRun: true})
		require.NoError(t, err)
		assert.Len(t, rep.Moved, 12)
		for k := range l.contents {
			ok, _ := base.Exists(context.Background(), k)
			assert.True(t, ok, "dry run deleted %s", k)
		}

		// Interrupt after four moves.
		ctx, cancel := context.WithCancel(platform(t))
		moved := 0
		rep, err = store.Migrate(ctx, l.moves, &blobstore.MigrateOptions{OnMoved: func(blobstore.Moved) {
			moved++
			if moved == 4 {
				cancel()
			}
		}})
		assert.ErrorIs(t, err, context.Canceled)
		assert.Len(t, rep.Moved, 4)

		// Resume.
		rep, err = store.Migrate(platform(t), l.moves, nil)
		require.NoError(t, err)
		assert.Empty(t, rep.Failed)
		assert.Len(t, rep.Already, 4)
		assert.Len(t, rep.Moved, 8)
		checkMigrated(t, base, store, l)

		// And once more: nothing to do.
		rep, err = store.Migrate(platform(t), l.moves, nil)
		require.NoError(t, err)
		assert.Len(t, rep.Already, 12)
		assert.Empty(t, rep.Moved)
		checkMigrated(t, base, store, l)
	})
}

func TestMigrateNeverDeletesAnUnverifiedSource(t *testing.T) {
	drivers(t, func(t *testing.T, base *blob.Bucket) {
		store, _ := blobstore.New(base, blobstore.WithAuditor(&tenanttest.AuditRecorder{}))
		tt := newTwo()
		l := seedLegacy(t, base, tt, 3)
		// A corrupt "copy" already sits at one destination.
		rel, _ := blobstore.MigrationKey(l.moves[1].Kind, l.moves[1].OldKey)
		dst := store.Prefix(l.moves[1].TenantID) + rel
		require.NoError(t, base.WriteAll(context.Background(), dst, []byte("corrupt"), nil))

		moves := append(l.moves,
			blobstore.Move{OldKey: "documents/missing.pdf", TenantID: tt.a.ID, Kind: "documents"},
			blobstore.Move{OldKey: "../escape", TenantID: tt.a.ID, Kind: "documents"},
			blobstore.Move{OldKey: "documents/file00.pdf", TenantID: "not-a-tenant", Kind: "documents"},
			blobstore.Move{OldKey: "documents/file00.pdf", TenantID: tt.a.ID, Kind: "Bad Kind"},
		)
		rep, err := store.Migrate(platform(t), moves, nil)
		require.NoError(t, err)
		var failed []string
		for _, f := range rep.Failed {
			failed = append(failed, f.OldKey)
			if f.OldKey == l.moves[1].OldKey {
				assert.ErrorIs(t, f.Err, blobstore.ErrVerify, "a corrupt copy is told from other failures")
			} else {
				assert.NotErrorIs(t, f.Err, blobstore.ErrVerify, "%s did not fail verification", f.OldKey)
			}
		}
		assert.Contains(t, failed, l.moves[1].OldKey, "a copy that does not verify is a failure")
		assert.Contains(t, failed, "documents/missing.pdf")
		assert.Contains(t, failed, "../escape")
		assert.Len(t, rep.Failed, 5)
		ok, _ := base.Exists(context.Background(), l.moves[1].OldKey)
		assert.True(t, ok, "the source of an unverified copy was deleted")
		ok, _ = base.Exists(context.Background(), dst)
		assert.False(t, ok, "the bad copy must be removed so a rerun copies afresh")

		rep, err = store.Migrate(platform(t), l.moves, nil)
		require.NoError(t, err)
		assert.Empty(t, rep.Failed)
		checkMigrated(t, base, store, l)

		_, err = store.Migrate(context.Background(), l.moves, nil)
		assert.ErrorIs(t, err, tenant.ErrNoTenant)
		_, err = blobstore.MigrationKey("documents", strings.Repeat("x", 10))
		assert.NoError(t, err)
	})
}
