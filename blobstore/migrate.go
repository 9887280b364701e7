package blobstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/tenantwall/tenantwall/tenant"
)

// Move is one object of a shared layout ("documents/file.pdf") to move
// into a tenant's prefix, as the caller's mapping says.
type Move struct {
	OldKey   string // full key in the base bucket
	TenantID string // the tenant whose prefix receives it (tenant.ValidateID)
	Kind     string // the kind folder inside that prefix, as for Bucket.Upload
}

// Moved reports where an object went.
type Moved struct {
	OldKey string // full key in the base bucket
	NewKey string // relative to the tenant's prefix
	Size   int64  // bytes copied and verified
}

// Failure reports an object that was not moved, and why. Its source is
// untouched.
type Failure struct {
	OldKey string // full key in the base bucket
	Err    error  // why it was not moved
}

// MigrationReport is what Migrate did.
type MigrationReport struct {
	Moved   []Moved   // copied, verified and source deleted (or would be, in a dry run)
	Already []Moved   // moved by an earlier run
	Failed  []Failure // left in place
}

// MigrateOptions tunes Migrate.
type MigrateOptions struct {
	// DryRun validates the mapping and reports what would move, without
	// writing or deleting anything.
	DryRun bool
	// OnMoved, if set, is called after each object is moved.
	OnMoved func(Moved)
}

// migrationKey returns the tenant-relative key an old key moves to:
// "<kind>/<first 16 hex of SHA-256(old key)>_<sanitised base name>". It is
// deterministic, so a rerun finds the copies of an interrupted run instead
// of making new ones.
func migrationKey(kind, oldKey string) (string, error) {
	if err := checkKind(kind); err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(oldKey))
	return kind + "/" + hex.EncodeToString(sum[:8]) + "_" + sanitizeName(path.Base(oldKey)), nil
}

// Migrate moves objects from a shared layout into tenant prefixes. Each is
// copied, verified (same size and checksum), and only then is its source
// deleted: a source whose copy is not verified is never deleted. It is
// idempotent and resumable: after a crash at any point, running it again
// with the same mapping moves what is left, re-verifies a copy that was
// made but whose source was not yet deleted, and duplicates nothing.
//
// It is platform work: ctx must carry tenant.WithPlatformScope's reason.
// It returns an error only when it cannot run at all (or ctx ends); per
// object failures are in the report.
func (s *Store) Migrate(ctx context.Context, moves []Move, opts *MigrateOptions) (MigrationReport, error) {
	var rep MigrationReport
	if _, err := tenant.RequirePlatformScope(ctx, s.auditor, tenant.Event{Package: "blobstore",
		Resource: fmt.Sprintf("migrate %d objects", len(moves))}); err != nil {
		return rep, err
	}
	if opts == nil {
		opts = &MigrateOptions{}
	}
	for _, m := range moves {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		moved, already, err := s.migrateOne(ctx, m, opts.DryRun)
		switch {
		case err != nil:
			rep.Failed = append(rep.Failed, Failure{OldKey: m.OldKey, Err: err})
		case already:
			rep.Already = append(rep.Already, moved)
		default:
			rep.Moved = append(rep.Moved, moved)
			if opts.OnMoved != nil {
				opts.OnMoved(moved)
			}
		}
	}
	return rep, nil
}

func (s *Store) migrateOne(ctx context.Context, m Move, dryRun bool) (Moved, bool, error) {
	if err := tenant.ValidateID(m.TenantID); err != nil {
		return Moved{}, false, err
	}
	if err := checkKey(m.OldKey); err != nil {
		return Moved{}, false, err
	}
	rel, err := migrationKey(m.Kind, m.OldKey)
	if err != nil {
		return Moved{}, false, err
	}
	dst := s.tenantPrefix(m.TenantID) + rel
	moved := Moved{OldKey: m.OldKey, NewKey: rel}
	if !dryRun {
		// The tenant's counted use no longer holds: count it again.
		defer s.forget(ctx, m.TenantID)
	}

	srcAttrs, srcErr := s.base.Attributes(ctx, m.OldKey)
	dstAttrs, dstErr := s.base.Attributes(ctx, dst)
	switch {
	case gcerrors.Code(srcErr) == gcerrors.NotFound && dstErr == nil:
		moved.Size = dstAttrs.Size
		return moved, true, nil // an earlier run finished this one
	case srcErr != nil:
		return moved, false, fmt.Errorf("source: %w", srcErr)
	case dstErr != nil && gcerrors.Code(dstErr) != gcerrors.NotFound:
		return moved, false, fmt.Errorf("destination: %w", dstErr)
	}
	moved.Size = srcAttrs.Size
	if dryRun {
		return moved, false, nil
	}
	if dstErr != nil { // not copied yet
		if err := s.base.Copy(ctx, dst, m.OldKey, nil); err != nil {
			return moved, false, fmt.Errorf("copy: %w", err)
		}
	}
	if err := s.verify(ctx, m.OldKey, dst, srcAttrs); err != nil {
		// Leave both; a rerun copies again after removing a bad copy.
		if derr := s.base.Delete(ctx, dst); derr != nil {
			err = errors.Join(err, fmt.Errorf("remove bad copy: %w", derr))
		}
		return moved, false, err
	}
	if err := s.base.Delete(ctx, m.OldKey); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return moved, false, fmt.Errorf("delete source: %w", err)
	}
	return moved, false, nil
}

// verify checks the copy has the source's size and checksum: the drivers'
// MD5 when both have one, else a SHA-256 of both streams.
func (s *Store) verify(ctx context.Context, src, dst string, srcAttrs *blob.Attributes) error {
	dstAttrs, err := s.base.Attributes(ctx, dst)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if dstAttrs.Size != srcAttrs.Size {
		return fmt.Errorf("%w: copy has %d bytes, source %d", ErrVerify, dstAttrs.Size, srcAttrs.Size)
	}
	if len(srcAttrs.MD5) > 0 && len(dstAttrs.MD5) > 0 {
		if !bytes.Equal(srcAttrs.MD5, dstAttrs.MD5) {
			return fmt.Errorf("%w: MD5 differs", ErrVerify)
		}
		return nil
	}
	a, err := s.sum(ctx, src)
	if err != nil {
		return err
	}
	b, err := s.sum(ctx, dst)
	if err != nil {
		return err
	}
	if a != b {
		return fmt.Errorf("%w: SHA-256 differs", ErrVerify)
	}
	return nil
}

func (s *Store) sum(ctx context.Context, key string) ([32]byte, error) {
	r, err := s.base.NewReader(ctx, key, nil)
	if err != nil {
		return [32]byte{}, fmt.Errorf("verify: %w", err)
	}
	defer r.Close()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return [32]byte{}, fmt.Errorf("verify: %w", err)
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out, nil
}
