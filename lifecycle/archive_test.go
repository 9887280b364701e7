package lifecycle_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/lifecycle"
	"github.com/tenantwall/tenantwall/tenant"
)

// entries reads an archive into name → body, in order.
func entries(t *testing.T, archive []byte) ([]string, map[string][]byte) {
	t.Helper()
	return archiveEntries(t, archive)
}

func export(t *testing.T, in *instance, id string) (lifecycle.Manifest, []byte) {
	t.Helper()
	var buf bytes.Buffer
	man, err := in.m.Export(platform, id, &buf)
	require.NoError(t, err)
	return man, buf.Bytes()
}

func deleteTenant(t *testing.T, in *instance, id string) {
	t.Helper()
	_, err := in.m.Schedule(platform, id)
	require.NoError(t, err)
	_, err = in.m.Delete(platform, id, true)
	require.NoError(t, err)
}

func TestExportHoldsEveryRowOfTheTenantAndNoOther(t *testing.T) {
	for _, e := range engines {
		t.Run("on "+e.name, func(t *testing.T) {
			in := e.open(t)
			a, b := in.seed(t, "acme", 30), in.seed(t, "globex", 30)
			_, err := in.m.Export(context.Background(), a.ID, io.Discard)
			assert.ErrorIs(t, err, tenant.ErrNoTenant, "export is platform work")

			var progress []lifecycle.Progress
			lifecycle.SetProgress(in.m, func(p lifecycle.Progress) { progress = append(progress, p) })
			man, archive := export(t, in, a.ID)
			assert.Equal(t, lifecycle.Format, man.Format)
			assert.Equal(t, a.ID, man.TenantID)
			assert.EqualValues(t, 90, man.Rows())
			assert.EqualValues(t, 2, man.Objects)
			require.NotEmpty(t, progress)
			last := progress[len(progress)-1]
			assert.True(t, last.Done)
			assert.EqualValues(t, 90, last.Rows)
			assert.EqualValues(t, 90, last.RowsTotal)

			names, bodies := entries(t, archive)
			assert.Equal(t, "tenant.json", names[0])
			assert.Equal(t, "manifest.json", names[len(names)-2])
			assert.Equal(t, "manifest.hmac", names[len(names)-1], "signed with the archive key")
			rows := map[string]int{}
			parts := map[string]int{}
			for _, name := range names {
				if !strings.HasPrefix(name, "tables/") {
					continue
				}
				table := strings.Split(name, "/")[1]
				parts[table]++
				for _, line := range strings.Split(strings.TrimSuffix(string(bodies[name]), "\n"), "\n") {
					var row map[string]any
					require.NoError(t, json.Unmarshal([]byte(line), &row), "one JSON object a line: %q", line)
					assert.Equal(t, a.ID, row["tenant_id"])
					assert.NotContains(t, line, b.ID)
					assert.NotContains(t, line, b.Slug)
					rows[table]++
				}
			}
			for table, n := range rows {
				assert.Equal(t, 30, n, table)
				assert.Greater(t, parts[table], 1, "%s comes in several parts of at most 1 KiB", table)
			}
			assert.Len(t, rows, 3, "every tenant table, none of the others")
			for _, k := range a.objects {
				assert.Equal(t, bytes.Repeat([]byte(a.Slug), 700), bodies["blobs/"+k])
			}
			for _, name := range names {
				assert.NotContains(t, name, b.ID)
			}
			var st struct {
				Tenant  tenant.Tenant
				Domains []struct{ Host string }
			}
			require.NoError(t, json.Unmarshal(bodies["tenant.json"], &st))
			assert.Equal(t, a.Slug, st.Tenant.Slug)
			assert.Equal(t, a.host, st.Domains[0].Host)
			assert.NotContains(t, string(bodies["tenant.json"]), "sk-", "credentials are not exported")
		})
	}
}

func TestExportImportExportGivesTheSameManifest(t *testing.T) {
	for _, e := range engines {
		t.Run("on "+e.name, func(t *testing.T) {
			in := e.open(t)
			ctx := context.Background()
			a, b := in.seed(t, "acme", 25), in.seed(t, "globex", 25)
			before := in.count(t, a.ID)
			man, archive := export(t, in, a.ID)

			// Restore on the same instance, after a delete.
			deleteTenant(t, in, a.ID)
			got, err := in.m.Import(platform, bytes.NewReader(archive))
			require.NoError(t, err)
			assert.Equal(t, man, got)
			assert.Equal(t, before, in.count(t, a.ID))
			assert.Equal(t, map[string]int{"accounts": 25, "contacts": 25, "notes": 25}, in.count(t, b.ID))
			restored, err := in.tenants.ByID(ctx, a.ID)
			require.NoError(t, err)
			assert.Equal(t, a.Tenant, restored)
			_, d, err := in.tenants.ByDomain(ctx, a.host)
			require.NoError(t, err)
			assert.Equal(t, tenant.DomainActive, d.Status)
			for _, k := range a.objects {
				attrs, err := in.bucket.Attributes(ctx, "tenants/"+a.ID+"/"+k)
				require.NoError(t, err)
				assert.Equal(t, "application/octet-stream", attrs.ContentType)
				assert.NotEmpty(t, attrs.Metadata, "the object's metadata (its file name) comes back")
			}
			again, archive2 := export(t, in, a.ID)
			assert.Equal(t, man, again, "export → import → export gives the same manifest")
			assert.Equal(t, archive, archive2)

			_, err = in.m.Import(platform, bytes.NewReader(archive))
			assert.ErrorIs(t, err, lifecycle.ErrExists, "a tenant that exists is refused")

			// Move to an empty instance of the same kind.
			other := e.open(t)
			_, err = other.m.Import(platform, bytes.NewReader(archive))
			require.NoError(t, err)
			assert.Equal(t, before, other.count(t, a.ID))
			moved, _ := export(t, other, a.ID)
			assert.Equal(t, man, moved)
			other.tx(t, a.ID, func(tx *sql.Tx) {
				var id int64
				require.NoError(t, tx.QueryRow(other.q(`INSERT INTO accounts (tenant_id, name) VALUES (?, 'new') RETURNING id`), a.ID).Scan(&id))
				assert.Greater(t, id, int64(25), "new rows get IDs after the imported ones")
			})
		})
	}
}

// rewrite returns the archive with edit applied to every entry but the
// manifest and its signature; with fix, the manifest's sizes and
// checksums are made to match, as a forger would. The signature, which a
// forger without the archive key cannot make, is kept as it was.
func rewrite(t *testing.T, archive []byte, fix bool, edit func(name string, body []byte) (string, []byte)) []byte {
	t.Helper()
	names, bodies := entries(t, archive)
	var man lifecycle.Manifest
	require.NoError(t, json.Unmarshal(bodies["manifest.json"], &man))
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	write := func(name string, data []byte) {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: name, Size: int64(len(data)), Mode: 0o600, Typeflag: tar.TypeReg}))
		_, err := tw.Write(data)
		require.NoError(t, err)
	}
	for i, name := range names {
		if name == "manifest.json" || name == "manifest.hmac" {
			continue
		}
		newName, data := edit(name, bodies[name])
		write(newName, data)
		if fix {
			sum := sha256.Sum256(data)
			man.Entries[i].Name, man.Entries[i].Size, man.Entries[i].SHA256 = newName, int64(len(data)), hex.EncodeToString(sum[:])
		}
	}
	mj, err := json.Marshal(man)
	require.NoError(t, err)
	write("manifest.json", mj)
	if sig, ok := bodies["manifest.hmac"]; ok {
		write("manifest.hmac", sig)
	}
	require.NoError(t, tw.Close())
	return out.Bytes()
}

// exportBeside exports tenant a and deletes it, and returns its archive
// with the ID of one of tenant b's accounts: what a forged row points at.
func exportBeside(t *testing.T, in *instance, a, b seeded) ([]byte, int64) {
	t.Helper()
	_, archive := export(t, in, a.ID)
	var bAccount int64
	in.tx(t, b.ID, func(tx *sql.Tx) {
		require.NoError(t, tx.QueryRow(in.q(`SELECT min(id) FROM accounts WHERE tenant_id = ?`), b.ID).Scan(&bAccount))
	})
	deleteTenant(t, in, a.ID)
	return archive, bAccount
}

func TestImportRefusesForgedArchivesAndWritesNothing(t *testing.T) {
	for _, e := range engines {
		t.Run("on "+e.name, func(t *testing.T) {
			in := e.open(t)
			a, b := in.seed(t, "acme", 12), in.seed(t, "globex", 12)
			archive, bAccount := exportBeside(t, in, a, b)
			firstPart := func(table string) func(string) bool {
				return func(name string) bool {
					return strings.HasPrefix(name, "tables/") && strings.Contains(name, table+"/000001")
				}
			}
			accountRef := regexp.MustCompile(`"account_id":\s*\d+`)
			tenantRef := regexp.MustCompile(`"tenant_id":\s*"` + a.ID + `"`)
			cases := []struct {
				name    string
				archive []byte
				want    error
			}{
				{"a row of another tenant", rewrite(t, archive, true, func(n string, d []byte) (string, []byte) {
					if firstPart("contacts")(n) {
						return n, bytes.Replace(d, []byte(a.ID), []byte(b.ID), 1)
					}
					return n, d
				}), lifecycle.ErrForeignRow},
				// A row decodes with the last of duplicate keys, and that is
				// the value checked and inserted.
				{"a row with the tenant twice, another tenant's first", rewrite(t, archive, true, func(n string, d []byte) (string, []byte) {
					if firstPart("notes")(n) {
						return n, bytes.Replace(d, []byte(`{`), []byte(`{"tenant_id":"`+b.ID+`",`), 1)
					}
					return n, d
				}), nil},
				{"a row with the tenant twice, another tenant's last", rewrite(t, archive, true, func(n string, d []byte) (string, []byte) {
					if firstPart("notes")(n) {
						loc := tenantRef.FindIndex(d)
						return n, append(append(append([]byte(`{"tenant_id":"`+a.ID+`",`), d[1:loc[0]]...), `"tenant_id":"`+b.ID+`"`...), d[loc[1]:]...)
					}
					return n, d
				}), lifecycle.ErrForeignRow},
				{"a foreign key into another tenant", rewrite(t, archive, true, func(n string, d []byte) (string, []byte) {
					if firstPart("contacts")(n) {
						loc := accountRef.FindIndex(d)
						return n, append(append(append([]byte{}, d[:loc[0]]...), fmt.Sprintf(`"account_id":%d`, bAccount)...), d[loc[1]:]...)
					}
					return n, d
				}), lifecycle.ErrForeignRow},
				{"a column the table does not have", rewrite(t, archive, true, func(n string, d []byte) (string, []byte) {
					if firstPart("accounts")(n) {
						return n, bytes.Replace(d, []byte(`{`), []byte(`{"is_admin":true,`), 1)
					}
					return n, d
				}), lifecycle.ErrSchema},
				{"a changed byte without a new checksum", rewrite(t, archive, false, func(n string, d []byte) (string, []byte) {
					if firstPart("accounts")(n) {
						return n, bytes.Replace(d, []byte("Account"), []byte("Acc0unt"), 1)
					}
					return n, d
				}), lifecycle.ErrArchive},
				{"an object key leaving the prefix", rewrite(t, archive, true, func(n string, d []byte) (string, []byte) {
					if strings.HasPrefix(n, "blobs/") {
						return "blobs/../../" + b.ID + "/x", d
					}
					return n, d
				}), lifecycle.ErrArchive},
				{"another tenant's ID in the manifest", func() []byte {
					return rewrite(t, bytes.ReplaceAll(archive, []byte(`"tenant_id":"`+a.ID+`","slug"`), []byte(`"tenant_id":"`+b.ID+`","slug"`)), false,
						func(n string, d []byte) (string, []byte) { return n, d })
				}(), lifecycle.ErrArchive},
				{"a truncated archive", archive[:len(archive)/2], lifecycle.ErrArchive},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					// Without an archive key: these checks hold for an archive
					// that nothing authenticates.
					_, err := in.plain.Import(platform, bytes.NewReader(c.archive))
					if c.want == nil {
						require.NoError(t, err)
						assert.Equal(t, map[string]int{"accounts": 12, "contacts": 12, "notes": 12}, in.count(t, a.ID),
							"the row went in as the archive's tenant's")
						assert.Equal(t, map[string]int{"accounts": 12, "contacts": 12, "notes": 12}, in.count(t, b.ID))
						deleteTenant(t, in, a.ID)
						return
					}
					require.ErrorIs(t, err, c.want)
					_, err = in.tenants.ByID(context.Background(), a.ID)
					assert.ErrorIs(t, err, tenant.ErrNotFound)
					rep, err := in.m.Verify(platform, a.ID, a.Slug)
					require.NoError(t, err)
					assert.Empty(t, rep.Findings, "a refused import leaves nothing")
					assert.Equal(t, map[string]int{"accounts": 12, "contacts": 12, "notes": 12}, in.count(t, b.ID))
				})
			}
		})
	}
}

// changing serves one archive on the first read and another after a seek:
// a file replaced between Import's passes.
type changing struct {
	first, second []byte
	r             *bytes.Reader
	seeks         int
}

func (c *changing) Read(p []byte) (int, error) { return c.r.Read(p) }
func (c *changing) Seek(off int64, whence int) (int64, error) {
	c.seeks++
	if c.seeks == 2 {
		c.r = bytes.NewReader(c.second)
	}
	return c.r.Seek(off, whence)
}

func TestImportUndoesWhatItWroteWhenTheArchiveChangesUnderIt(t *testing.T) {
	in := newSQLite(t)
	a := in.seed(t, "acme", 5)
	_, archive := export(t, in, a.ID)
	deleteTenant(t, in, a.ID)
	names, _ := entries(t, archive)
	lastObject := names[len(names)-3] // before the manifest and its signature
	tampered := rewrite(t, archive, false, func(n string, d []byte) (string, []byte) {
		if n == lastObject {
			return n, bytes.Replace(d, []byte("a"), []byte("b"), 1)
		}
		return n, d
	})
	_, err := in.m.Import(platform, &changing{first: archive, second: tampered, r: bytes.NewReader(archive)})
	require.ErrorIs(t, err, lifecycle.ErrArchive)
	rep, err := in.m.Verify(platform, a.ID, a.Slug)
	require.NoError(t, err)
	assert.Empty(t, rep.Findings, "the objects written before the change are removed again, and no row is kept")
}

func TestImportRefusesEntriesWithUnknownHeaderRecords(t *testing.T) {
	in := newSQLite(t)
	a := in.seed(t, "acme", 2)
	_, archive := export(t, in, a.ID)
	names, bodies := entries(t, archive)
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	for _, name := range names {
		h := &tar.Header{Name: name, Size: int64(len(bodies[name])), Mode: 0o600, Typeflag: tar.TypeReg}
		if name == "tenant.json" {
			h.PAXRecords = map[string]string{"comment": "sparse maps and other extensions are refused"}
		}
		require.NoError(t, tw.WriteHeader(h))
		_, err := tw.Write(bodies[name])
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	deleteTenant(t, in, a.ID)
	_, err := in.m.Import(platform, bytes.NewReader(out.Bytes()))
	assert.ErrorIs(t, err, lifecycle.ErrArchive)
	assert.ErrorContains(t, err, "PAX record")
}

// On SQLite a foreign key's parent is matched without regard to case, so
// a key into "Accounts" is a key into accounts and is checked like one. A
// key into a table the catalog does not have, or whose columns do not
// resolve, is not known to point at a shared table: Import refuses it
// rather than leave it unchecked.
func TestImportChecksEveryForeignKeyThatIsNotIntoASharedTable(t *testing.T) {
	reference := func(to string) []string {
		s := schema(lifecycle.SQLite)
		for i := range s {
			s[i] = strings.Replace(s[i], "REFERENCES accounts (id)", "REFERENCES "+to, 1)
		}
		return s
	}
	cases := []struct {
		name        string
		foreignKeys bool
		schema      []string
		forge       bool // point a contact at another tenant's account
		want        error
	}{
		{"a key into another tenant's row through a parent spelled in capitals", true, reference("Accounts (id)"), true,
			lifecycle.ErrForeignRow},
		{"a key into another tenant's row through a parent spelled in capitals, unenforced", false, reference("ACCOUNTS (ID)"), true,
			lifecycle.ErrForeignRow},
		{"a key into a table the database does not have", false, reference("ghosts (id)"), false, lifecycle.ErrSchema},
		{"a key into a tenant table without the key's columns", false, reference("notes"), false, lifecycle.ErrSchema},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := newSQLiteSchema(t, c.foreignKeys, c.schema)
			a, b := in.seed(t, "acme", 3), in.seed(t, "globex", 3)
			_, archive := export(t, in, a.ID)
			var bAccount int64
			in.tx(t, b.ID, func(tx *sql.Tx) {
				require.NoError(t, tx.QueryRow(`SELECT min(id) FROM accounts WHERE tenant_id = ?`, b.ID).Scan(&bAccount))
			})
			deleteTenant(t, in, a.ID)
			if c.forge {
				accountRef := regexp.MustCompile(`"account_id":\s*\d+`)
				archive = rewrite(t, archive, true, func(n string, d []byte) (string, []byte) {
					if strings.HasPrefix(n, "tables/contacts/") {
						return n, accountRef.ReplaceAll(d, []byte(fmt.Sprintf(`"account_id":%d`, bAccount)))
					}
					return n, d
				})
			}
			_, err := in.plain.Import(platform, bytes.NewReader(archive))
			require.ErrorIs(t, err, c.want)
			_, err = in.tenants.ByID(context.Background(), a.ID)
			assert.ErrorIs(t, err, tenant.ErrNotFound)
			var n int
			require.NoError(t, in.admin.QueryRow(`SELECT count(*) FROM contacts WHERE tenant_id = ?`, a.ID).Scan(&n))
			assert.Zero(t, n, "no row of the tenant is kept, none pointing at the other tenant's account")
			assert.Equal(t, map[string]int{"accounts": 3, "contacts": 3, "notes": 3}, in.count(t, b.ID))
		})
	}
}
