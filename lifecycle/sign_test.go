package lifecycle_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/lifecycle"
	"github.com/tenantwall/tenantwall/tenant"
)

// signature is the manifest.hmac entry that key gives manifest, computed
// here as Format documents it, apart from the package's code.
func signature(key, manifest []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(lifecycle.Format + " manifest.hmac\x00"))
	m.Write(manifest)
	return []byte(hex.EncodeToString(m.Sum(nil)))
}

// rebuild writes the archive's entries again, in the order of names,
// with the bodies given (a name missing from bodies is written empty).
func rebuild(t *testing.T, names []string, bodies map[string][]byte) []byte {
	t.Helper()
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	for _, name := range names {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: name, Size: int64(len(bodies[name])), Mode: 0o600, Typeflag: tar.TypeReg}))
		_, err := tw.Write(bodies[name])
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	return out.Bytes()
}

// editSettings rewrites tenant.json through edit, and the manifest's
// checksums to match: what anyone holding the archive can do.
func editSettings(t *testing.T, archive []byte, edit func(st map[string]any)) []byte {
	t.Helper()
	return rewrite(t, archive, true, func(n string, d []byte) (string, []byte) {
		if n != "tenant.json" {
			return n, d
		}
		var st map[string]any
		require.NoError(t, json.Unmarshal(d, &st))
		edit(st)
		out, err := json.Marshal(st)
		require.NoError(t, err)
		return n, out
	})
}

// promote claims, in an archive's tenant.json, an active tenant whose
// every domain is active.
func promote(st map[string]any) {
	st["tenant"].(map[string]any)["status"] = "active"
	for _, d := range st["domains"].([]any) {
		d.(map[string]any)["status"] = "active"
	}
}

// exportedSuspended seeds a tenant with a second custom domain whose
// ownership it never proved, suspends it (a scheduled deletion), exports
// it and deletes it: its archive says suspended, one domain active and
// one pending.
func exportedSuspended(t *testing.T, in *instance) (seeded, string, []byte) {
	t.Helper()
	a := in.seed(t, "acme", 3)
	shop := "shop." + a.Slug + ".test"
	require.NoError(t, in.tenants.PutDomain(context.Background(), tenant.Domain{Host: shop, TenantID: a.ID, Status: tenant.DomainPending}))
	_, err := in.m.Schedule(platform, a.ID)
	require.NoError(t, err)
	_, archive := export(t, in, a.ID)
	_, err = in.m.Delete(platform, a.ID, true)
	require.NoError(t, err)
	return a, shop, archive
}

// domainStatus returns the status of host on the instance.
func domainStatus(t *testing.T, in *instance, host string) tenant.DomainStatus {
	t.Helper()
	_, d, err := in.tenants.ByDomain(context.Background(), host)
	require.NoError(t, err)
	return d.Status
}

// nothingImported checks that a refused import left nothing of a.
func nothingImported(t *testing.T, in *instance, a seeded) {
	t.Helper()
	_, err := in.tenants.ByID(context.Background(), a.ID)
	assert.ErrorIs(t, err, tenant.ErrNotFound, "the tenant is not registered")
	rep, err := in.m.Verify(platform, a.ID, a.Slug)
	require.NoError(t, err)
	assert.Empty(t, rep.Findings, "no row, object or domain of the tenant is written")
}

// An archive is a file anyone who holds it can edit, checksums included:
// one that claims its tenant active and a domain whose ownership was
// never proven as serving is refused by a Manager with an archive key,
// and nothing of it is written.
func TestImportRefusesAnEditedArchiveWithAnArchiveKey(t *testing.T) {
	for _, e := range engines {
		t.Run("on "+e.name, func(t *testing.T) {
			in := e.open(t)
			a, _, archive := exportedSuspended(t, in)
			_, err := in.m.Import(platform, bytes.NewReader(editSettings(t, archive, promote)))
			require.ErrorIs(t, err, lifecycle.ErrSignature)
			require.ErrorIs(t, err, lifecycle.ErrArchive)
			nothingImported(t, in, a)
		})
	}
}

// A Manager without an archive key cannot tell an edited archive from
// another: it registers the tenant suspended and its domains pending
// (a removed one stays removed), whatever the archive claims, so that
// nothing of it serves before an operator activates the tenant and each
// domain is proven again on this instance. A signed archive is no
// different to it: it has no key to check the signature with.
func TestImportWithoutAnArchiveKeyTakesNoStatusFromTheArchive(t *testing.T) {
	for _, e := range engines {
		t.Run("on "+e.name, func(t *testing.T) {
			in := e.open(t)
			ctx := context.Background()
			a, shop, archive := exportedSuspended(t, in)
			removedHost := "old." + a.Slug + ".test"
			forged := editSettings(t, archive, func(st map[string]any) {
				promote(st)
				st["domains"] = append(st["domains"].([]any), map[string]any{"host": removedHost, "status": "removed"})
			})
			for name, archive := range map[string][]byte{"an edited archive": forged, "a signed archive": archive} {
				t.Run(name, func(t *testing.T) {
					_, err := in.plain.Import(platform, bytes.NewReader(archive))
					require.NoError(t, err)
					got, err := in.tenants.ByID(ctx, a.ID)
					require.NoError(t, err)
					assert.Equal(t, tenant.StatusSuspended, got.Status, "the tenant is not served until activated")
					assert.Equal(t, tenant.DomainPending, domainStatus(t, in, a.host), "the active domain must be proven again")
					assert.Equal(t, tenant.DomainPending, domainStatus(t, in, shop), "the never proven domain stays unproven")
					if name == "an edited archive" {
						assert.Equal(t, tenant.DomainRemoved, domainStatus(t, in, removedHost))
					}
					_, err = in.m.Delete(platform, a.ID, true)
					require.NoError(t, err)
				})
			}
		})
	}
}

// With the key, the archive's claims are the exporting platform's, and
// Import registers them as they are: a restore or a move keeps the
// tenant's status and every domain's.
func TestImportWithAnArchiveKeyKeepsTheSignedStatuses(t *testing.T) {
	for _, e := range engines {
		t.Run("on "+e.name, func(t *testing.T) {
			in := e.open(t)
			a, shop, archive := exportedSuspended(t, in)
			other := e.open(t) // another instance with the same archive key
			for _, target := range []*instance{in, other} {
				_, err := target.m.Import(platform, bytes.NewReader(archive))
				require.NoError(t, err)
				got, err := target.tenants.ByID(context.Background(), a.ID)
				require.NoError(t, err)
				assert.Equal(t, tenant.StatusSuspended, got.Status)
				assert.Equal(t, tenant.DomainActive, domainStatus(t, target, a.host))
				assert.Equal(t, tenant.DomainPending, domainStatus(t, target, shop))
			}
		})
	}
}

// The signature entry is outside input like every other: anything but
// the one signature the key gives this manifest, in its one place, is
// refused before a byte of the archive is trusted.
func TestImportRefusesAnArchiveItCannotAuthenticate(t *testing.T) {
	for _, e := range engines {
		t.Run("on "+e.name, func(t *testing.T) {
			in := e.open(t)
			a, b := in.seed(t, "acme", 3), in.seed(t, "globex", 3)
			_, archive := export(t, in, a.ID)
			_, other := export(t, in, b.ID)
			deleteTenant(t, in, a.ID)
			names, bodies := entries(t, archive)
			_, otherBodies := entries(t, other)
			require.Equal(t, []string{"manifest.json", "manifest.hmac"}, names[len(names)-2:])
			sig := bodies["manifest.hmac"]
			require.Equal(t, signature(archiveKey, bodies["manifest.json"]), sig)
			inner := names[:len(names)-2]
			with := func(name string, body []byte) map[string][]byte {
				out := map[string][]byte{}
				for k, v := range bodies {
					out[k] = v
				}
				out[name] = body
				return out
			}
			upper := []byte(strings.ToUpper(string(sig)))
			raw, err := hex.DecodeString(string(sig))
			require.NoError(t, err)
			spaced := append([]byte(" "), bodies["manifest.json"]...)
			cases := []struct {
				name    string
				archive []byte
				want    error
			}{
				{"without a signature", rebuild(t, names[:len(names)-1], bodies), lifecycle.ErrSignature},
				{"signed with another key", rebuild(t, names, with("manifest.hmac",
					signature(bytes.Repeat([]byte("another key, 32 bytes or more.."), 2), bodies["manifest.json"]))), lifecycle.ErrSignature},
				{"with another archive's signature", rebuild(t, names, with("manifest.hmac", otherBodies["manifest.hmac"])), lifecycle.ErrSignature},
				{"with a signature cut to 63 digits", rebuild(t, names, with("manifest.hmac", sig[:63])), lifecycle.ErrSignature},
				{"with a signature cut to 32 digits", rebuild(t, names, with("manifest.hmac", sig[:32])), lifecycle.ErrSignature},
				{"with an empty signature", rebuild(t, names, with("manifest.hmac", nil)), lifecycle.ErrSignature},
				{"with the signature as raw bytes", rebuild(t, names, with("manifest.hmac", raw)), lifecycle.ErrSignature},
				{"with the signature in capitals", rebuild(t, names, with("manifest.hmac", upper)), lifecycle.ErrSignature},
				{"with the signature and a line break", rebuild(t, names, with("manifest.hmac", append(bytes.Clone(sig), '\n'))), lifecycle.ErrSignature},
				{"with the signature twice over", rebuild(t, names, with("manifest.hmac", append(bytes.Clone(sig), sig...))), lifecycle.ErrSignature},
				{"with a blank added to the manifest", rebuild(t, names, with("manifest.json", spaced)), lifecycle.ErrSignature},
				{"with a row changed and the checksums rewritten", rewrite(t, archive, true, func(n string, d []byte) (string, []byte) {
					if strings.HasPrefix(n, "tables/") && strings.Contains(n, "accounts/") {
						return n, bytes.Replace(d, []byte("Account"), []byte("Acc0unt"), 1)
					}
					return n, d
				}), lifecycle.ErrSignature},
				// Nothing in tenant.json is read before the signature is
				// checked: what is not JSON is refused as unsigned.
				{"with tenant.json not JSON and the checksums rewritten", rewrite(t, archive, true, func(n string, d []byte) (string, []byte) {
					if n == "tenant.json" {
						return n, []byte("{not json")
					}
					return n, d
				}), lifecycle.ErrSignature},
				{"with the signature before the manifest", rebuild(t, append(append(slices.Clone(inner), "manifest.hmac"), "manifest.json"), bodies),
					lifecycle.ErrArchive},
				{"with the signature first", rebuild(t, append([]string{"manifest.hmac"}, names[:len(names)-1]...), bodies), lifecycle.ErrArchive},
				{"with the signature twice", rebuild(t, append(slices.Clone(names), "manifest.hmac"), bodies), lifecycle.ErrArchive},
				{"with an entry after the signature", rebuild(t, append(slices.Clone(names), "tenant.json"), bodies), lifecycle.ErrArchive},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					require.NotEqual(t, archive, c.archive)
					_, err := in.m.Import(platform, bytes.NewReader(c.archive))
					require.ErrorIs(t, err, c.want)
					require.ErrorIs(t, err, lifecycle.ErrArchive, "every refused archive is ErrArchive")
					nothingImported(t, in, a)
				})
			}
			_, err = in.m.Import(platform, bytes.NewReader(rebuild(t, names, bodies)))
			require.NoError(t, err, "the archive rebuilt as it was imports")
		})
	}
}

// Keys rotate: a Manager with a new key first and the old one after it
// signs with the new key and still imports archives signed with the old
// one; a Manager with the old key alone refuses the new key's archives.
func TestArchiveKeysRotate(t *testing.T) {
	in := newSQLite(t)
	newKey := bytes.Repeat([]byte("the next archive key "), 2)
	rotated := in.manager(t, lifecycle.WithArchiveKeys(newKey, archiveKey))
	newOnly := in.manager(t, lifecycle.WithArchiveKeys(newKey))

	a := in.seed(t, "acme", 3)
	_, oldArchive := export(t, in, a.ID)
	deleteTenant(t, in, a.ID)
	_, err := newOnly.Import(platform, bytes.NewReader(oldArchive))
	require.ErrorIs(t, err, lifecycle.ErrSignature, "the old key was dropped from this Manager")
	_, err = rotated.Import(platform, bytes.NewReader(oldArchive))
	require.NoError(t, err, "the old key still verifies")
	got, err := in.tenants.ByID(context.Background(), a.ID)
	require.NoError(t, err)
	assert.Equal(t, tenant.StatusActive, got.Status, "an authenticated archive's status is kept")

	var buf bytes.Buffer
	_, err = rotated.Export(platform, a.ID, &buf)
	require.NoError(t, err)
	names, bodies := entries(t, buf.Bytes())
	assert.Equal(t, "manifest.hmac", names[len(names)-1])
	assert.Equal(t, signature(newKey, bodies["manifest.json"]), bodies["manifest.hmac"], "the first key signs")
	deleteTenant(t, in, a.ID)
	_, err = in.m.Import(platform, bytes.NewReader(buf.Bytes()))
	require.ErrorIs(t, err, lifecycle.ErrSignature, "a Manager with the old key alone")
	_, err = newOnly.Import(platform, bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
}

func TestExportWithoutAnArchiveKeyWritesNoSignature(t *testing.T) {
	in := newSQLite(t)
	a := in.seed(t, "acme", 2)
	var buf bytes.Buffer
	_, err := in.plain.Export(platform, a.ID, &buf)
	require.NoError(t, err)
	names, _ := entries(t, buf.Bytes())
	assert.Equal(t, "manifest.json", names[len(names)-1])
	deleteTenant(t, in, a.ID)
	_, err = in.m.Import(platform, bytes.NewReader(buf.Bytes()))
	require.ErrorIs(t, err, lifecycle.ErrSignature, "a Manager with a key refuses an unsigned archive")
	nothingImported(t, in, a)
}

func TestWithArchiveKeysRefusesWeakKeys(t *testing.T) {
	in := newSQLite(t)
	good := bytes.Repeat([]byte{7}, lifecycle.MinArchiveKeySize)
	for _, c := range []struct {
		name string
		keys [][]byte
		says string
	}{
		{"no key", nil, "no key"},
		{"a key of 31 bytes", [][]byte{good[:31]}, "key 1 has 31 bytes"},
		{"an empty old key", [][]byte{good, {}}, "key 2 has 0 bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := lifecycle.New(in.tenants, in.db, in.dialect, lifecycle.WithArchiveKeys(c.keys...))
			require.ErrorIs(t, err, lifecycle.ErrConfig)
			assert.ErrorContains(t, err, "WithArchiveKeys")
			assert.ErrorContains(t, err, c.says)
		})
	}
	// The Manager keeps its own copy: a caller reusing its buffer does
	// not change the key.
	key := bytes.Clone(archiveKey)
	m := in.manager(t, lifecycle.WithArchiveKeys(key))
	clear(key)
	a := in.seed(t, "acme", 1)
	var buf bytes.Buffer
	_, err := m.Export(platform, a.ID, &buf)
	require.NoError(t, err)
	_, bodies := entries(t, buf.Bytes())
	assert.Equal(t, signature(archiveKey, bodies["manifest.json"]), bodies["manifest.hmac"])
}

// An archive that loses entries between Import's two passes (a file
// replaced by a shorter one) is refused and undone: the rows and objects
// written are the whole archive that was verified, or nothing.
func TestImportRefusesAnArchiveThatLosesEntriesBetweenThePasses(t *testing.T) {
	in := newSQLite(t)
	a := in.seed(t, "acme", 5)
	_, archive := export(t, in, a.ID)
	deleteTenant(t, in, a.ID)
	names, bodies := entries(t, archive)
	// Without the last object: still a well-formed archive, whose other
	// entries match the manifest.
	last := slices.Index(names, "manifest.json") - 1
	require.True(t, strings.HasPrefix(names[last], "blobs/"))
	shorter := rebuild(t, slices.Delete(slices.Clone(names), last, last+1), bodies)
	_, err := in.m.Import(platform, &changing{first: archive, second: shorter, r: bytes.NewReader(archive)})
	require.ErrorIs(t, err, lifecycle.ErrArchive)
	nothingImported(t, in, a)
}

// The signature vouches for where an archive came from, never for its
// rows: an archive that a holder of the key signed with another
// tenant's row in it, or a foreign key into another tenant's rows, is
// refused like an unsigned one, and nothing of it is written.
func TestImportChecksTheRowsOfASignedArchive(t *testing.T) {
	for _, e := range engines {
		t.Run("on "+e.name, func(t *testing.T) {
			in := e.open(t)
			a, b := in.seed(t, "acme", 3), in.seed(t, "globex", 3)
			archive, bAccount := exportBeside(t, in, a, b)
			accountRef := regexp.MustCompile(`"account_id":\s*\d+`)
			for name, edit := range map[string]func(d []byte) []byte{
				"a row of another tenant": func(d []byte) []byte {
					return bytes.Replace(d, []byte(a.ID), []byte(b.ID), 1)
				},
				"a foreign key into another tenant's rows": func(d []byte) []byte {
					loc := accountRef.FindIndex(d)
					require.NotNil(t, loc)
					return append(append(append([]byte{}, d[:loc[0]]...), fmt.Sprintf(`"account_id":%d`, bAccount)...), d[loc[1]:]...)
				},
			} {
				t.Run(name, func(t *testing.T) {
					forged := rewrite(t, archive, true, func(n string, d []byte) (string, []byte) {
						if strings.HasPrefix(n, "tables/") && strings.Contains(n, "contacts/") {
							return n, edit(d)
						}
						return n, d
					})
					names, bodies := entries(t, forged)
					bodies["manifest.hmac"] = signature(archiveKey, bodies["manifest.json"])
					_, err := in.m.Import(platform, bytes.NewReader(rebuild(t, names, bodies)))
					require.NotErrorIs(t, err, lifecycle.ErrSignature, "the archive is signed with the Manager's key")
					require.ErrorIs(t, err, lifecycle.ErrForeignRow)
					nothingImported(t, in, a)
					assert.Equal(t, map[string]int{"accounts": 3, "contacts": 3, "notes": 3}, in.count(t, b.ID))
				})
			}
		})
	}
}

// readForbidden fails the test when an archive is read.
type readForbidden struct{ t *testing.T }

func (r readForbidden) Read([]byte) (int, error) {
	r.t.Error("the archive was read without the platform scope")
	return 0, io.EOF
}
func (r readForbidden) Seek(int64, int) (int64, error) { return 0, nil }

// Import is platform work: without tenant.WithPlatformScope it fails
// with tenant.ErrNoTenant before it reads the archive, whatever the
// archive holds. With the scope it reports one EventPlatformAccess per
// import, naming the archive's tenant once the archive is verified.
func TestImportChecksThePlatformScopeFirst(t *testing.T) {
	in := newSQLite(t)
	_, err := in.m.Import(context.Background(), readForbidden{t})
	assert.ErrorIs(t, err, tenant.ErrNoTenant)
	_, err = in.m.Import(context.Background(), bytes.NewReader([]byte("not a tar")))
	assert.ErrorIs(t, err, tenant.ErrNoTenant)
	assert.NotErrorIs(t, err, lifecycle.ErrArchive)

	a := in.seed(t, "acme", 2)
	_, archive := export(t, in, a.ID)
	deleteTenant(t, in, a.ID)
	var events []tenant.Event
	m := in.manager(t, lifecycle.WithArchiveKeys(archiveKey),
		lifecycle.WithAuditor(tenant.AuditorFunc(func(_ context.Context, e tenant.Event) { events = append(events, e) })))
	_, err = m.Import(platform, bytes.NewReader([]byte("not a tar")))
	require.ErrorIs(t, err, lifecycle.ErrArchive)
	require.Len(t, events, 1, "a refused archive is platform access too")
	assert.Equal(t, tenant.Event{Kind: tenant.EventPlatformAccess, Package: "lifecycle", Resource: "import: lifecycle test"}, events[0])
	events = nil
	_, err = m.Import(platform, bytes.NewReader(archive))
	require.NoError(t, err)
	require.Len(t, events, 1)
	assert.Equal(t, tenant.Event{Kind: tenant.EventPlatformAccess, Package: "lifecycle", OwnerID: a.ID, Resource: "import: lifecycle test"}, events[0])
}

// An unsigned archive may name any host, and Import registers each as
// pending for the archive's tenant: that record holds the host, and
// another tenant's claim of it is refused until an operator removes it
// (SECURITY.md states this limit; this test keeps the statement true).
func TestAnUnsignedImportsPendingDomainHoldsItsHost(t *testing.T) {
	in := newSQLite(t)
	ctx := context.Background()
	a, _, archive := exportedSuspended(t, in)
	b := in.seed(t, "globex", 1)
	host := "shop.globex.test"
	forged := editSettings(t, archive, func(st map[string]any) {
		st["domains"] = append(st["domains"].([]any), map[string]any{"host": host, "status": "active"})
	})
	_, err := in.plain.Import(platform, bytes.NewReader(forged))
	require.NoError(t, err)
	got, d, err := in.tenants.ByDomain(ctx, host)
	require.NoError(t, err)
	assert.Equal(t, a.ID, got.ID, "the tenant keeps the archive's ID")
	assert.Equal(t, tenant.DomainPending, d.Status)
	err = in.tenants.PutDomain(ctx, tenant.Domain{Host: host, TenantID: b.ID, Status: tenant.DomainPending})
	assert.ErrorIs(t, err, tenant.ErrDomainTaken, "held until an operator removes it")
	require.NoError(t, in.tenants.PutDomain(ctx, tenant.Domain{Host: host, TenantID: a.ID, Status: tenant.DomainRemoved}))
	assert.NoError(t, in.tenants.PutDomain(ctx, tenant.Domain{Host: host, TenantID: b.ID, Status: tenant.DomainPending}),
		"removed, the host can be claimed")
}

// The application's domain policy (WithDomainPolicy) holds for every
// domain of an archive, signed or not, whatever its status: one host it
// refuses refuses the whole import, naming the host, and nothing of the
// tenant is written.
func TestImportRefusesADomainTheDomainPolicyRefuses(t *testing.T) {
	for _, e := range engines {
		t.Run("on "+e.name, func(t *testing.T) {
			in := e.open(t)
			a, shop, archive := exportedSuspended(t, in)
			errPolicy := errors.New("the platform's own host")
			policy := func(refused string, asked *[]string) lifecycle.Option {
				return lifecycle.WithDomainPolicy(func(_ context.Context, host string) error {
					*asked = append(*asked, host)
					if host == refused {
						return errPolicy
					}
					return nil
				})
			}
			// An unsigned archive naming the platform's host (removed, so
			// that no status would make it serve), and a signed archive
			// whose pending domain the policy refuses: the archive key's
			// holder vouches for who exported it, not for the host.
			platformHost := "platform.test"
			forged := editSettings(t, archive, func(st map[string]any) {
				st["domains"] = append(st["domains"].([]any), map[string]any{"host": platformHost, "status": "removed"})
			})
			for _, c := range []struct {
				name    string
				archive []byte
				refused string
				keys    []lifecycle.Option
			}{
				{"unsigned", forged, platformHost, nil},
				{"signed", archive, shop, []lifecycle.Option{lifecycle.WithArchiveKeys(archiveKey)}},
			} {
				t.Run(c.name, func(t *testing.T) {
					var asked []string
					m := in.manager(t, append(c.keys, policy(c.refused, &asked))...)
					_, err := m.Import(platform, bytes.NewReader(c.archive))
					require.ErrorIs(t, err, lifecycle.ErrDomainPolicy)
					require.ErrorIs(t, err, errPolicy)
					assert.ErrorContains(t, err, c.refused)
					assert.Contains(t, asked, c.refused)
					nothingImported(t, in, a)
					_, _, err = in.tenants.ByDomain(context.Background(), c.refused)
					assert.ErrorIs(t, err, tenant.ErrNotFound, "the refused host is not registered")
				})
			}
		})
	}
}

// A nil policy is a configuration error, not a policy that allows all.
func TestWithDomainPolicyRefusesNil(t *testing.T) {
	_, err := lifecycle.New(tenant.NewMemStore(), &sql.DB{}, lifecycle.SQLite, lifecycle.WithDomainPolicy(nil))
	require.ErrorIs(t, err, lifecycle.ErrConfig)
	assert.ErrorContains(t, err, "WithDomainPolicy")
}
