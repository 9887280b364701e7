package lifecycle

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"

	"gocloud.dev/blob"

	"github.com/tenantwall/tenantwall/tenant"
)

// Limits on what Import reads into memory.
const (
	maxSettingsSize = 1 << 20
	maxManifestSize = 256 << 20
	importBatchRows = 1000
	importBatchSize = 1 << 20
)

// paxRecords are the PAX header records Import accepts: those of a plain
// file (a long name, times, owner, a large size).
var paxRecords = map[string]bool{"path": true, "mtime": true, "atime": true, "ctime": true, "size": true,
	"uid": true, "gid": true, "uname": true, "gname": true}

var partName = regexp.MustCompile(`^tables/(.+)/([0-9]{6})\.ndjson$`)

// Import restores a tenant from an archive written by Export, into this
// Manager's database, bucket and tenant registry: the same instance after
// a delete, or another one (a move). r is read twice from its start.
//
// The first pass verifies the whole archive before anything is written.
// With archive keys (WithArchiveKeys) it first checks the manifest's
// signature (ErrSignature, for a missing or wrong one); then every
// entry's SHA-256 and size against the manifest, names, order, counts,
// the format and the dialect (ErrArchive, ErrSchema). Then Import
// refuses, with ErrDomainPolicy, an archive with a domain that the
// domain policy (WithDomainPolicy) refuses, and, with ErrExists, a
// tenant whose ID, slug or a domain is taken on the target, or whose ID
// has rows or objects there already. The
// second pass writes: every row is checked to carry the archive's tenant
// ID and only columns the target table has (ErrForeignRow, ErrSchema),
// rows go in in one transaction in which the RLS setting holds the tenant
// (so row level security checks them too), with their IDs; foreign keys
// are checked to point at the tenant's own rows (ErrForeignRow); identity
// sequences are moved past the imported IDs. Objects are written under
// the tenant's prefix, and the tenant and its domains registered last.
// When any step fails, what was written is removed again: rows, objects
// and registry entry.
//
// What an archive claims is registered as it is only when an archive key
// authenticates it: the tenant's status and each domain's (a restore or a
// move keeps them serving). A Manager without archive keys cannot tell an
// edited archive from another, whatever its checksums or signature, and
// registers the tenant suspended and every domain pending (a removed one
// stays removed): it serves nothing until an operator activates the
// tenant, and a domain only after its ownership is proven again on this
// instance (resolve.Verifier). Its ID, slug, name and branding are taken
// as the archive has them, for the operator to review before activating.
//
// ctx must carry tenant.WithPlatformScope's reason: without it Import
// returns tenant.ErrNoTenant before it reads r. With it, Import reports
// one tenant.EventPlatformAccess per call, after the first pass, naming
// the archive's tenant when the archive was verified.
func (m *Manager) Import(ctx context.Context, r io.ReadSeeker) (Manifest, error) {
	// The scope is checked before the archive is read, and the access
	// reported once the archive is verified, naming its tenant (or, for
	// an archive refused, none): one event per import.
	var access tenant.Event
	if _, err := tenant.RequirePlatformScope(ctx, tenant.AuditorFunc(func(_ context.Context, e tenant.Event) { access = e }),
		tenant.Event{Package: "lifecycle", Resource: "import"}); err != nil {
		return Manifest{}, err
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		m.auditor.Audit(ctx, access)
		return Manifest{}, err
	}
	v, err := m.verifyArchive(r)
	man, st := v.man, v.st
	if err == nil {
		access.OwnerID = man.TenantID
	}
	m.auditor.Audit(ctx, access)
	if err != nil {
		return man, err
	}
	if !v.authenticated {
		st = unauthenticated(st)
	}
	if err := m.checkDomainPolicy(ctx, st); err != nil {
		return man, err
	}
	if err := m.checkAbsent(ctx, st); err != nil {
		return man, err
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return man, err
	}
	im := &importer{m: m, man: man, track: m.track("import", man.Rows(), man.ObjectBytes), sem: make(chan struct{}, blobWorkers)}
	if err := im.run(ctx, r); err != nil {
		im.undo(ctx)
		return man, err
	}
	if err := m.tenants.Create(ctx, st.Tenant); err != nil {
		im.undo(ctx)
		if errors.Is(err, tenant.ErrExists) {
			return man, fmt.Errorf("%w: %w", ErrExists, err)
		}
		return man, fmt.Errorf("lifecycle: register tenant: %w", err)
	}
	for _, d := range st.Domains {
		err := m.tenants.PutDomain(ctx, tenant.Domain{Host: d.Host, TenantID: st.Tenant.ID, Status: d.Status})
		if err != nil {
			_ = m.tenants.Delete(ctx, st.Tenant.ID)
			im.undo(ctx)
			return man, fmt.Errorf("lifecycle: register domain %s: %w", d.Host, err)
		}
	}
	if m.onChange != nil {
		m.onChange(ctx, st.Tenant)
	}
	im.track.done()
	return man, nil
}

// verified is what Import's first pass found in an archive.
type verified struct {
	man Manifest
	st  settings
	// authenticated: signed by one of the Manager's archive keys.
	authenticated bool
}

// maxSignatureSize bounds what is read of a signature entry, which is
// then refused unless it is exactly signatureSize bytes.
const maxSignatureSize = 4 << 10

// verifyArchive reads the whole archive and checks it against its
// manifest. With archive keys, the manifest's signature is checked
// before anything the archive holds is decoded.
func (m *Manager) verifyArchive(r io.Reader) (verified, error) {
	var v verified
	var seen []Entry
	var settingsJSON, manifestJSON, signature []byte
	var gotManifest, gotSignature bool
	tr := tar.NewReader(r)
	for i := 0; ; i++ {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return v, fmt.Errorf("%w: %w", ErrArchive, err)
		}
		if gotSignature {
			return v, fmt.Errorf("%w: entry %.80q after the signature", ErrArchive, h.Name)
		}
		if gotManifest && h.Name != signatureEntry {
			return v, fmt.Errorf("%w: entry %.80q after the manifest", ErrArchive, h.Name)
		}
		if h.Typeflag != tar.TypeReg || h.Size < 0 {
			return v, fmt.Errorf("%w: entry %.80q is not a regular file", ErrArchive, h.Name)
		}
		for k := range h.PAXRecords {
			// A sparse file's holes would be read as zeros, as many as its
			// header claims: only the records a plain file needs pass.
			if !paxRecords[k] {
				return v, fmt.Errorf("%w: entry %.80q has PAX record %.40q", ErrArchive, h.Name, k)
			}
		}
		switch {
		case i == 0 && h.Name != settingsEntry:
			return v, fmt.Errorf("%w: first entry is %.80q, want %s", ErrArchive, h.Name, settingsEntry)
		case i == 0:
			// Kept as bytes: decoded only once the signature is checked.
			data, sum, err := readSmall(tr, h.Size, maxSettingsSize)
			if err != nil {
				return v, err
			}
			settingsJSON = data
			seen = append(seen, Entry{Name: h.Name, Size: h.Size, SHA256: sum})
		case h.Name == manifestEntry:
			if manifestJSON, _, err = readSmall(tr, h.Size, maxManifestSize); err != nil {
				return v, err
			}
			gotManifest = true
		case h.Name == signatureEntry:
			if !gotManifest {
				return v, fmt.Errorf("%w: %s before %s", ErrArchive, signatureEntry, manifestEntry)
			}
			if signature, _, err = readSmall(tr, h.Size, maxSignatureSize); err != nil {
				return v, err
			}
			gotSignature = true
		default:
			h2 := sha256.New()
			n, err := io.Copy(h2, tr)
			if err != nil {
				return v, fmt.Errorf("%w: %.80q: %w", ErrArchive, h.Name, err)
			}
			seen = append(seen, Entry{Name: h.Name, Size: n, SHA256: hex.EncodeToString(h2.Sum(nil))})
		}
	}
	if !gotManifest {
		return v, fmt.Errorf("%w: no %s", ErrArchive, manifestEntry)
	}
	if gotSignature {
		// Checked with or without keys: a malformed signature is a
		// malformed archive.
		if err := checkSignature(signature); err != nil {
			return v, err
		}
	}
	if len(m.archiveKeys) > 0 {
		if !gotSignature {
			return v, fmt.Errorf("%w: %w: no %s (an archive written without an archive key)", ErrArchive, ErrSignature, signatureEntry)
		}
		if !authentic(m.archiveKeys, manifestJSON, signature) {
			return v, fmt.Errorf("%w: %w: the manifest's signature verifies under none of the %d archive keys (changed since it was signed, or signed with another key)",
				ErrArchive, ErrSignature, len(m.archiveKeys))
		}
		v.authenticated = true
	}
	if err := decodeStrictJSON(manifestJSON, &v.man); err != nil {
		return v, fmt.Errorf("%w: %s: %w", ErrArchive, manifestEntry, err)
	}
	if err := decodeStrictJSON(settingsJSON, &v.st); err != nil {
		return v, fmt.Errorf("%w: %s: %w", ErrArchive, settingsEntry, err)
	}
	return v, m.checkManifest(v.man, v.st, seen)
}

// unauthenticated returns what Import registers from an archive that no
// archive key authenticates, whose claims nothing proves: the tenant
// suspended, and every domain pending but a removed one, which stays
// removed (a removed record holds nothing: another tenant may claim the
// name, as pending). Its other fields (ID, slug, name, branding, created
// at) are registered as the archive has them; none of it serves until an
// operator activates the tenant and each domain is verified again.
func unauthenticated(st settings) settings {
	st.Tenant.Status = tenant.StatusSuspended
	domains := make([]domainRecord, len(st.Domains))
	for i, d := range st.Domains {
		if d.Status != tenant.DomainRemoved {
			d.Status = tenant.DomainPending
		}
		domains[i] = d
	}
	st.Domains = domains
	return st
}

func readSmall(r io.Reader, size, max int64) ([]byte, string, error) {
	if size > max {
		return nil, "", fmt.Errorf("%w: entry of %d bytes, at most %d allowed", ErrArchive, size, max)
	}
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrArchive, err)
	}
	sum := sha256.Sum256(data)
	return data, hex.EncodeToString(sum[:]), nil
}

func decodeStrictJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}

// checkManifest compares the manifest with what the archive holds.
func (m *Manager) checkManifest(man Manifest, st settings, seen []Entry) error {
	if man.Format != Format {
		return fmt.Errorf("%w: format %.80q, want %s", ErrArchive, man.Format, Format)
	}
	if man.Dialect != m.dialect.String() {
		return fmt.Errorf("%w: archive of a %.20s database, target is %s", ErrSchema, man.Dialect, m.dialect)
	}
	if err := tenant.ValidateID(man.TenantID); err != nil {
		return fmt.Errorf("%w: %w", ErrArchive, err)
	}
	if err := st.Tenant.Validate(); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrArchive, settingsEntry, err)
	}
	if st.Tenant.ID != man.TenantID || st.Tenant.Slug != man.Slug {
		return fmt.Errorf("%w: %s names tenant %s, the manifest %s", ErrArchive, settingsEntry, st.Tenant, man.TenantID)
	}
	for _, d := range st.Domains {
		if err := (tenant.Domain{Host: d.Host, TenantID: man.TenantID, Status: d.Status}).Validate(); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrArchive, settingsEntry, err)
		}
	}
	if len(man.Entries) != len(seen) {
		return fmt.Errorf("%w: %d entries, the manifest lists %d", ErrArchive, len(seen), len(man.Entries))
	}
	tables := map[string]int{}
	for i, t := range man.Tables {
		if _, dup := tables[t.Name]; dup || t.Rows < 0 || !slices.Contains(t.Columns, tenantColumn) {
			return fmt.Errorf("%w: table %.80q listed twice, with negative rows or without %s", ErrArchive, t.Name, tenantColumn)
		}
		tables[t.Name] = i
	}
	rows := make([]int64, len(man.Tables))
	var objects, objectBytes int64
	lastTable, lastPart := -1, 0
	for i, e := range man.Entries {
		s := seen[i]
		if e.Name != s.Name || e.Size != s.Size || !strings.EqualFold(e.SHA256, s.SHA256) {
			return fmt.Errorf("%w: entry %d (%.80q): size or SHA-256 differs from the manifest", ErrArchive, i, s.Name)
		}
		switch {
		case i == 0:
			if e.Name != settingsEntry || e.Rows != 0 || e.Object != nil {
				return fmt.Errorf("%w: entry 0 is not %s", ErrArchive, settingsEntry)
			}
		case strings.HasPrefix(e.Name, tablesDir):
			sm := partName.FindStringSubmatch(e.Name)
			if sm == nil || e.Object != nil || e.Rows <= 0 {
				return fmt.Errorf("%w: entry %.80q is not a table part with rows", ErrArchive, e.Name)
			}
			ti, ok := tables[sm[1]]
			if !ok || ti < lastTable || objects > 0 {
				return fmt.Errorf("%w: entry %.80q: table not in the manifest, or out of order", ErrArchive, e.Name)
			}
			if ti != lastTable {
				lastTable, lastPart = ti, 0
			}
			lastPart++
			if sm[2] != fmt.Sprintf("%06d", lastPart) {
				return fmt.Errorf("%w: entry %.80q: parts out of order", ErrArchive, e.Name)
			}
			rows[ti] += e.Rows
		case strings.HasPrefix(e.Name, blobsDir):
			if err := checkObjectKey(strings.TrimPrefix(e.Name, blobsDir)); err != nil {
				return err
			}
			if e.Object == nil || e.Rows != 0 {
				return fmt.Errorf("%w: entry %.80q has no object attributes", ErrArchive, e.Name)
			}
			objects++
			objectBytes += e.Size
		default:
			return fmt.Errorf("%w: unknown entry %.80q", ErrArchive, e.Name)
		}
	}
	for i, t := range man.Tables {
		if rows[i] != t.Rows {
			return fmt.Errorf("%w: table %.80q: parts hold %d rows, the manifest says %d", ErrArchive, t.Name, rows[i], t.Rows)
		}
	}
	if objects != man.Objects || objectBytes != man.ObjectBytes {
		return fmt.Errorf("%w: %d objects of %d bytes, the manifest says %d of %d", ErrArchive, objects, objectBytes, man.Objects, man.ObjectBytes)
	}
	return nil
}

// checkDomainPolicy refuses an archive with a domain that the domain
// policy (WithDomainPolicy) refuses, whatever its status.
func (m *Manager) checkDomainPolicy(ctx context.Context, st settings) error {
	if m.domainPolicy == nil {
		return nil
	}
	for _, d := range st.Domains {
		if err := m.domainPolicy(ctx, d.Host); err != nil {
			return fmt.Errorf("%w: domain %s: %w", ErrDomainPolicy, d.Host, err)
		}
	}
	return nil
}

// checkAbsent refuses a tenant that exists on the target in any form.
func (m *Manager) checkAbsent(ctx context.Context, st settings) error {
	t := st.Tenant
	if _, err := m.tenants.ByID(ctx, t.ID); !errors.Is(err, tenant.ErrNotFound) {
		if err == nil {
			return fmt.Errorf("%w: tenant id %s", ErrExists, t.ID)
		}
		return err
	}
	if _, err := m.tenants.BySlug(ctx, t.Slug); !errors.Is(err, tenant.ErrNotFound) {
		if err == nil {
			return fmt.Errorf("%w: slug %s", ErrExists, t.Slug)
		}
		return err
	}
	for _, d := range st.Domains {
		if _, _, err := m.tenants.ByDomain(ctx, d.Host); !errors.Is(err, tenant.ErrNotFound) {
			if err == nil {
				return fmt.Errorf("%w: domain %s", ErrExists, d.Host)
			}
			return err
		}
	}
	tx, err := m.scopedTx(ctx, t.ID, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	tables, err := m.tenantTables(ctx, tx)
	if err != nil {
		return err
	}
	for _, tb := range tables {
		var n int64
		if err := tx.QueryRowContext(ctx, m.q(`SELECT count(*) FROM `+tb.quoted+` WHERE `+tenantColumn+` = ?`), t.ID).Scan(&n); err != nil {
			return fmt.Errorf("lifecycle: count %s: %w", tb.name, err)
		}
		if n > 0 {
			return fmt.Errorf("%w: %d rows of tenant %s in %s", ErrExists, n, t.ID, tb.name)
		}
	}
	if m.bucket != nil {
		obj, err := m.bucket.List(&blob.ListOptions{Prefix: m.blobPrefix(t.ID)}).Next(ctx)
		if err == nil {
			return fmt.Errorf("%w: object %s", ErrExists, obj.Key)
		}
		if err != io.EOF {
			return fmt.Errorf("lifecycle: list objects: %w", err)
		}
	}
	return nil
}

// importer is one Import's second pass and what it wrote.
type importer struct {
	m         *Manager
	man       Manifest
	track     *tracker
	committed bool

	// Small objects are written by up to blobWorkers goroutines.
	wg      sync.WaitGroup
	sem     chan struct{}
	mu      sync.Mutex
	objects []string // keys written or being written
	werr    error    // the first failed write
}

// undo removes what the importer wrote.
func (im *importer) undo(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	im.wg.Wait()
	m := im.m
	for _, k := range im.objects {
		_ = m.bucket.Delete(ctx, k)
	}
	if im.committed {
		_, _ = m.deleteRows(ctx, im.man.TenantID)
	}
}

// target is a table of the target database with the columns an
// archive's rows fill.
type target struct {
	*table
	allowed map[string]bool // archive columns the target has
	insert  []string        // the ones to insert (not generated)
}

func (im *importer) run(ctx context.Context, r io.Reader) error {
	m := im.m
	id := im.man.TenantID
	tx, err := m.scopedTx(ctx, id, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	catalog, err := m.catalog(ctx, tx)
	if err != nil {
		return err
	}
	byName := map[string]*table{}
	for _, t := range catalog {
		byName[t.name] = t
	}
	targets := map[string]*target{}
	for _, s := range im.man.Tables {
		t := byName[s.Name]
		if t == nil || !t.tenant {
			return fmt.Errorf("%w: the target has no tenant table %s", ErrSchema, s.Name)
		}
		tg := &target{table: t, allowed: map[string]bool{}}
		for _, c := range s.Columns {
			col, ok := t.column(c)
			if !ok {
				return fmt.Errorf("%w: the target's table %s has no column %s", ErrSchema, s.Name, c)
			}
			tg.allowed[c] = true
			if col.insertable {
				tg.insert = append(tg.insert, c)
			}
		}
		targets[s.Name] = tg
	}

	tr := tar.NewReader(r)
	read := 0 // entries of the manifest read again
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrArchive, err)
		}
		if h.Name == manifestEntry || h.Name == signatureEntry {
			continue
		}
		if read >= len(im.man.Entries) || im.man.Entries[read].Name != h.Name {
			return fmt.Errorf("%w: the archive changed between the passes at %.80q", ErrArchive, h.Name)
		}
		e := im.man.Entries[read]
		read++
		sum := sha256.New()
		body := io.TeeReader(tr, sum)
		switch {
		case strings.HasPrefix(h.Name, tablesDir):
			tg := targets[partName.FindStringSubmatch(h.Name)[1]]
			im.track.step(tg.name)
			n, err := im.rows(ctx, tx, tg, body, h.Size)
			if err != nil {
				return fmt.Errorf("lifecycle: import %s: %w", h.Name, err)
			}
			if n != e.Rows {
				return fmt.Errorf("%w: %s holds %d rows, the manifest says %d", ErrArchive, h.Name, n, e.Rows)
			}
		case strings.HasPrefix(h.Name, blobsDir):
			if m.bucket == nil {
				return fmt.Errorf("%w: the archive has objects and the Manager no bucket", ErrSchema)
			}
			im.track.step("blobs")
			if err := im.object(ctx, strings.TrimPrefix(h.Name, blobsDir), e, body); err != nil {
				return err
			}
			im.track.add(0, e.Size)
		default:
			if _, err := io.Copy(io.Discard, body); err != nil {
				return fmt.Errorf("%w: %w", ErrArchive, err)
			}
		}
		if err := sameSum(sum, e); err != nil {
			return err
		}
	}
	if read != len(im.man.Entries) {
		return fmt.Errorf("%w: the archive changed between the passes: only %d of its %d entries are left", ErrArchive, read, len(im.man.Entries))
	}
	im.wg.Wait()
	if im.werr != nil {
		return im.werr
	}
	if err := im.checkReferences(ctx, tx, targets); err != nil {
		return err
	}
	if m.dialect == Postgres {
		if err := advanceSequences(ctx, tx, targets); err != nil {
			return err
		}
	} else if err := checkRowIDs(ctx, tx, im.man.TenantID, targets); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	im.committed = true
	return nil
}

func sameSum(h hash.Hash, e Entry) error {
	if !strings.EqualFold(hex.EncodeToString(h.Sum(nil)), e.SHA256) {
		return fmt.Errorf("%w: %.80q changed between the passes", ErrArchive, e.Name)
	}
	return nil
}

// rows inserts one part's rows and returns how many there were.
func (im *importer) rows(ctx context.Context, tx *sql.Tx, tg *target, body io.Reader, size int64) (int64, error) {
	id := im.man.TenantID
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 64<<10), int(min(size+1, 1<<30)))
	var n int64
	var batch []map[string]json.RawMessage
	var batchBytes int
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := im.insert(ctx, tx, tg, batch)
		batch, batchBytes = batch[:0], 0
		return err
	}
	for sc.Scan() {
		line := sc.Bytes()
		n++
		dec := json.NewDecoder(bytes.NewReader(line))
		var row map[string]json.RawMessage
		if err := dec.Decode(&row); err != nil || dec.More() {
			return n, fmt.Errorf("%w: row %d is not one JSON object", ErrArchive, n)
		}
		for k := range row {
			if !tg.allowed[k] {
				return n, fmt.Errorf("%w: row %d has column %.80q, which is not the table's", ErrSchema, n, k)
			}
		}
		var owner string
		if err := json.Unmarshal(row[tenantColumn], &owner); err != nil || owner != id {
			return n, fmt.Errorf("%w: row %d of %s has tenant_id %.40s, the archive is tenant %s", ErrForeignRow, n, tg.name, row[tenantColumn], id)
		}
		batch = append(batch, row)
		batchBytes += len(line)
		im.track.add(1, int64(len(line)+1))
		if len(batch) >= importBatchRows || batchBytes >= importBatchSize {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return n, fmt.Errorf("%w: %w", ErrArchive, err)
	}
	return n, flush()
}

// insert writes a batch of checked rows. On PostgreSQL the batch goes as
// one JSON array, rebuilt from the checked members (so no duplicate key
// reaches the server, and each value's text is kept as it was, json
// columns included), through json_populate_recordset.
func (im *importer) insert(ctx context.Context, tx *sql.Tx, tg *target, batch []map[string]json.RawMessage) error {
	cols := make([]string, len(tg.insert))
	for i, c := range tg.insert {
		cols[i] = quoteIdent(c)
	}
	list := strings.Join(cols, ", ")
	if im.m.dialect == Postgres {
		var data bytes.Buffer
		data.WriteByte('[')
		for i, row := range batch {
			if i > 0 {
				data.WriteByte(',')
			}
			data.WriteByte('{')
			first := true
			for _, c := range tg.insert {
				v, ok := row[c]
				if !ok {
					continue
				}
				if !first {
					data.WriteByte(',')
				}
				first = false
				k, _ := json.Marshal(c)
				data.Write(k)
				data.WriteByte(':')
				data.Write(v)
			}
			data.WriteByte('}')
		}
		data.WriteByte(']')
		_, err := tx.ExecContext(ctx, `INSERT INTO `+tg.quoted+` (`+list+`) OVERRIDING SYSTEM VALUE SELECT `+list+
			` FROM json_populate_recordset(NULL::`+tg.quoted+`, $1::json)`, data.String())
		return err
	}
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ")
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO `+tg.quoted+` (`+list+`) VALUES (`+marks+`)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	args := make([]any, len(tg.insert))
	for _, row := range batch {
		for i, c := range tg.insert {
			v, err := sqliteValue(row[c])
			if err != nil {
				return fmt.Errorf("%w: column %s: %w", ErrArchive, c, err)
			}
			args[i] = v
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

// sqliteValue converts a JSON value as json_object wrote it back to the
// value SQLite stored.
func sqliteValue(raw json.RawMessage) (any, error) {
	if raw == nil {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case nil, string:
		return x, nil
	case bool:
		if x {
			return int64(1), nil
		}
		return int64(0), nil
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, nil
		}
		return x.Float64()
	default:
		// json_object writes a JSON-typed text as nested JSON.
		return string(raw), nil
	}
}

// object writes one blob under the tenant's prefix: a small one from
// memory by a goroutine of its own (run waits for them), a large one
// streamed from the archive.
func (im *importer) object(ctx context.Context, rel string, e Entry, body io.Reader) error {
	key := im.m.blobPrefix(im.man.TenantID) + rel
	opts := &blob.WriterOptions{ContentType: e.Object.ContentType, ContentDisposition: e.Object.ContentDisposition,
		Metadata: e.Object.Metadata}
	if opts.ContentType == "" {
		opts.ContentType = "application/octet-stream"
	}
	im.mu.Lock()
	im.objects = append(im.objects, key)
	werr := im.werr
	im.mu.Unlock()
	if werr != nil {
		return werr
	}
	if e.Size <= blobInline {
		data, err := io.ReadAll(io.LimitReader(body, blobInline+1))
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrArchive, e.Name, err)
		}
		im.sem <- struct{}{}
		im.wg.Add(1)
		go func() {
			defer im.wg.Done()
			defer func() { <-im.sem }()
			if err := im.m.bucket.WriteAll(ctx, key, data, opts); err != nil {
				im.mu.Lock()
				if im.werr == nil {
					im.werr = fmt.Errorf("lifecycle: write object %s: %w", key, err)
				}
				im.mu.Unlock()
			}
		}()
		return nil
	}
	w, err := im.m.bucket.NewWriter(ctx, key, opts)
	if err != nil {
		return fmt.Errorf("lifecycle: write object %s: %w", key, err)
	}
	if _, err := io.Copy(w, body); err != nil {
		_ = w.Close()
		return fmt.Errorf("lifecycle: write object %s: %w", key, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("lifecycle: write object %s: %w", key, err)
	}
	return nil
}

// checkReferences refuses imported rows whose foreign key points at a
// row that is not the tenant's: another tenant's row (invisible under
// row level security, excluded by tenant_id in any case). Only a key
// into a table of the catalog without tenant_id (a shared table) goes
// unchecked; a key into a table the catalog does not have, or whose
// columns do not resolve, is refused (ErrSchema) rather than skipped.
func (im *importer) checkReferences(ctx context.Context, tx *sql.Tx, targets map[string]*target) error {
	id := im.man.TenantID
	all, err := im.m.catalog(ctx, tx)
	if err != nil {
		return err
	}
	byName := map[string]*table{}
	for _, t := range all {
		byName[t.name] = t
	}
	for _, tg := range targets {
		for _, fk := range tg.fks {
			p := byName[fk.parent]
			switch {
			case p == nil:
				// Not known to be shared: it may hold tenants' rows.
				return fmt.Errorf("%w: a foreign key of %s references %.80q, which is not a table of the catalog", ErrSchema,
					tg.name, fk.parent)
			case !p.tenant:
				continue // a shared table: any of its rows may be referenced
			case !keyResolves(tg.table, p, fk):
				return fmt.Errorf("%w: the foreign key (%s) of %s into %s: its columns are not the tables'", ErrSchema,
					strings.Join(fk.cols, ", "), tg.name, p.name)
			}
			var notNull, match []string
			for i, c := range fk.cols {
				notNull = append(notNull, `c.`+quoteIdent(c)+` IS NOT NULL`)
				match = append(match, `p.`+quoteIdent(fk.parentCols[i])+` = c.`+quoteIdent(c))
			}
			var bad int64
			err := tx.QueryRowContext(ctx, im.m.q(`SELECT count(*) FROM `+tg.quoted+` c WHERE c.`+tenantColumn+` = ? AND `+
				strings.Join(notNull, ` AND `)+` AND NOT EXISTS (SELECT 1 FROM `+p.quoted+` p WHERE p.`+tenantColumn+` = ? AND `+
				strings.Join(match, ` AND `)+`)`), id, id).Scan(&bad)
			if err != nil {
				return fmt.Errorf("lifecycle: check references of %s: %w", tg.name, err)
			}
			if bad > 0 {
				return fmt.Errorf("%w: %d rows of %s reference %s rows that are not the tenant's (%s)", ErrForeignRow, bad, tg.name,
					p.name, strings.Join(fk.cols, ", "))
			}
		}
	}
	return nil
}

// keyResolves reports whether every column of fk is a column of its
// table, child's and parent's, as many on each side.
func keyResolves(child, parent *table, fk foreignKey) bool {
	if len(fk.cols) == 0 || len(fk.cols) != len(fk.parentCols) {
		return false
	}
	for i, c := range fk.cols {
		if _, ok := child.column(c); !ok {
			return false
		}
		if _, ok := parent.column(fk.parentCols[i]); !ok {
			return false
		}
	}
	return true
}

// advanceSequences moves every identity or serial sequence of the
// imported tables past the largest imported value, so that new rows do
// not collide with kept IDs.
func advanceSequences(ctx context.Context, tx *sql.Tx, targets map[string]*target) error {
	for _, tg := range targets {
		for _, c := range tg.columns {
			var seq sql.NullString
			if err := tx.QueryRowContext(ctx, `SELECT pg_get_serial_sequence($1, $2)`, tg.quoted, c.name).Scan(&seq); err != nil {
				return fmt.Errorf("lifecycle: sequence of %s.%s: %w", tg.name, c.name, err)
			}
			if !seq.Valid {
				continue
			}
			// The sequence is shared by every tenant: an imported value
			// past half its range would let one archive use up the IDs of
			// all (a forged row with the largest value ends every insert).
			var mx, limit sql.NullInt64
			err := tx.QueryRowContext(ctx, `SELECT (SELECT max(`+quoteIdent(c.name)+`)::bigint FROM `+tg.quoted+`),
				(SELECT seqmax FROM pg_catalog.pg_sequence WHERE seqrelid = $1::regclass)`, seq.String).Scan(&mx, &limit)
			if err != nil {
				return fmt.Errorf("lifecycle: advance %s: %w", seq.String, err)
			}
			if mx.Valid && limit.Valid && mx.Int64 > limit.Int64/2 {
				return fmt.Errorf("%w: %s.%s holds %d, past half the range of its sequence", ErrArchive, tg.name, c.name, mx.Int64)
			}
			_, err = tx.ExecContext(ctx, `SELECT setval($1::regclass, $2) WHERE $2 > coalesce(pg_sequence_last_value($1::regclass), 0)`,
				seq.String, mx.Int64)
			if err != nil {
				return fmt.Errorf("lifecycle: advance %s: %w", seq.String, err)
			}
		}
	}
	return nil
}

// maxRowID is the largest integer primary key an import may bring on
// SQLite: half the rowid range, so that AUTOINCREMENT, shared by every
// tenant, is not used up by one forged row.
const maxRowID = 1 << 62

// checkRowIDs refuses, on SQLite, imported integer primary keys past
// maxRowID.
func checkRowIDs(ctx context.Context, tx *sql.Tx, id string, targets map[string]*target) error {
	for _, tg := range targets {
		if len(tg.pk) != 1 {
			continue
		}
		pk := quoteIdent(tg.pk[0])
		var mx sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT max(`+pk+`) FROM `+tg.quoted+` WHERE `+tenantColumn+` = ? AND typeof(`+pk+`) = 'integer'`,
			id).Scan(&mx)
		if err != nil {
			return fmt.Errorf("lifecycle: check IDs of %s: %w", tg.name, err)
		}
		if mx.Valid && mx.Int64 > maxRowID {
			return fmt.Errorf("%w: %s.%s holds %d, past half the rowid range", ErrArchive, tg.name, tg.pk[0], mx.Int64)
		}
	}
	return nil
}
