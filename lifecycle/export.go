package lifecycle

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5/stdlib"
	"gocloud.dev/blob"

	"github.com/tenantwall/tenantwall/tenant"
)

// Export writes one tenant's archive (see Format) to w and returns its
// manifest: its rows of every tenant table, its objects, its registry
// entry and domains, and, with WithArchiveKeys, the manifest's signature
// under the first key. It reads in one snapshot (a REPEATABLE READ, read-only
// transaction on PostgreSQL) in which the RLS setting holds the tenant's
// ID and every statement also filters on tenant_id, so it can never include
// another tenant's row. On PostgreSQL through pgx's stdlib driver, rows
// come by COPY. Memory stays flat: at most one part of rows (WithPartSize)
// is held, and one manifest entry per part and object.
//
// Freeze the tenant's writes first (Schedule, or suspend it) when the
// archive must be its last state: objects are read after the rows, outside
// the database's snapshot. ctx must carry tenant.WithPlatformScope's
// reason.
func (m *Manager) Export(ctx context.Context, tenantID string, w io.Writer) (Manifest, error) {
	t, err := m.platform(ctx, tenantID, "export")
	if err != nil {
		return Manifest{}, err
	}
	man := Manifest{Format: Format, TenantID: t.ID, Slug: t.Slug, Dialect: m.dialect.String(), Tables: []TableSummary{}}
	doms, err := m.tenants.Domains(ctx, t.ID)
	if err != nil {
		return man, fmt.Errorf("lifecycle: export domains: %w", err)
	}
	st := settings{Tenant: t, Domains: []domainRecord{}}
	for _, d := range doms {
		st.Domains = append(st.Domains, domainRecord{Host: d.Host, Status: d.Status})
	}
	settingsJSON, err := json.Marshal(st)
	if err != nil {
		return man, err
	}

	rs, err := m.openRead(ctx, t.ID)
	if err != nil {
		return man, err
	}
	ok := false
	defer func() { rs.close(ok) }()
	tables, err := m.tenantTables(ctx, rs.q)
	if err != nil {
		return man, err
	}
	var total int64
	counts := make([]int64, len(tables))
	for i, tb := range tables {
		if err := rs.q.QueryRowContext(ctx, m.q(`SELECT count(*) FROM `+tb.quoted+` x WHERE x.`+tenantColumn+` = ?`), t.ID).Scan(&counts[i]); err != nil {
			return man, fmt.Errorf("lifecycle: count %s: %w", tb.name, err)
		}
		total += counts[i]
	}
	a := newArchiveWriter(w, m.now())
	track := m.track("export", total, 0)
	if err := a.bytes(settingsEntry, settingsJSON, 0); err != nil {
		return man, err
	}
	for i, tb := range tables {
		track.step(tb.name)
		p := &parts{a: a, table: tb.name, size: m.partSize, track: track}
		if err := m.exportTable(ctx, rs, t.ID, tb, p); err != nil {
			return man, fmt.Errorf("lifecycle: export %s: %w", tb.name, err)
		}
		if err := p.flush(); err != nil {
			return man, err
		}
		if p.total != counts[i] {
			return man, fmt.Errorf("lifecycle: export %s: read %d rows, counted %d in the same snapshot", tb.name, p.total, counts[i])
		}
		cols := make([]string, len(tb.columns))
		for j, c := range tb.columns {
			cols[j] = c.name
		}
		man.Tables = append(man.Tables, TableSummary{Name: tb.name, Rows: p.total, Columns: cols})
	}
	ok = true
	if err := rs.close(true); err != nil {
		return man, err
	}
	if m.bucket != nil {
		track.step("blobs")
		if err := m.exportBlobs(ctx, t.ID, a, &man, track); err != nil {
			return man, err
		}
	}
	man.Entries = a.entries
	manJSON, err := json.Marshal(man)
	if err != nil {
		return man, err
	}
	if err := a.header(manifestEntry, int64(len(manJSON))); err != nil {
		return man, err
	}
	if _, err := a.tw.Write(manJSON); err != nil {
		return man, err
	}
	if len(m.archiveKeys) > 0 {
		sig := sign(m.archiveKeys[0], manJSON)
		if err := a.header(signatureEntry, int64(len(sig))); err != nil {
			return man, err
		}
		if _, err := a.tw.Write(sig); err != nil {
			return man, err
		}
	}
	if err := a.tw.Close(); err != nil {
		return man, err
	}
	track.p.Bytes = a.written.n
	track.done()
	return man, nil
}

// platform checks the platform scope and returns the tenant.
func (m *Manager) platform(ctx context.Context, tenantID, op string) (tenant.Tenant, error) {
	if err := tenant.ValidateID(tenantID); err != nil {
		return tenant.Tenant{}, err
	}
	if _, err := tenant.RequirePlatformScope(ctx, m.auditor, tenant.Event{Package: "lifecycle",
		OwnerID: tenantID, Resource: op}); err != nil {
		return tenant.Tenant{}, err
	}
	t, err := m.tenants.ByID(ctx, tenantID)
	if err != nil {
		return t, fmt.Errorf("lifecycle: %s: %w", op, err)
	}
	return t, nil
}

// readSession is one read-only snapshot scoped to a tenant.
type readSession struct {
	q interface {
		querier
		QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	}
	conn   *sql.Conn // PostgreSQL: the transaction is this connection's
	tx     *sql.Tx   // SQLite
	closed bool
}

func (m *Manager) openRead(ctx context.Context, id string) (*readSession, error) {
	if m.dialect != Postgres {
		tx, err := m.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			return nil, err
		}
		return &readSession{q: tx, tx: tx}, nil
	}
	// A connection of its own, so that COPY can run on the driver's
	// connection inside the same transaction.
	conn, err := m.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	rs := &readSession{q: conn, conn: conn}
	if _, err := conn.ExecContext(ctx, `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`); err != nil {
		conn.Close()
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, `SELECT set_config($1, $2, true)`, m.setting, id); err != nil {
		rs.close(false)
		return nil, fmt.Errorf("lifecycle: set tenant: %w", err)
	}
	return rs, nil
}

// close ends the snapshot; it may be called again.
func (rs *readSession) close(commit bool) error {
	if rs.closed {
		return nil
	}
	rs.closed = true
	if rs.tx != nil {
		if commit {
			return rs.tx.Commit()
		}
		return rs.tx.Rollback()
	}
	defer rs.conn.Close()
	end := `ROLLBACK`
	if commit {
		end = `COMMIT`
	}
	if _, err := rs.conn.ExecContext(context.Background(), end); err != nil {
		// The transaction may still be open: the connection must not go
		// back to the pool.
		_ = rs.conn.Raw(func(any) error { return driver.ErrBadConn })
		return err
	}
	return nil
}

// exportTable writes the tenant's rows of one table.
func (m *Manager) exportTable(ctx context.Context, rs *readSession, id string, tb *table, p *parts) error {
	order := tb.orderBy(m.dialect, "x")
	if m.dialect == Postgres {
		if err := tenant.ValidateID(id); err != nil {
			return err
		}
		// COPY takes no parameters: the ID is a validated UUID, written
		// as a literal.
		query := `SELECT row_to_json(x)::text FROM ` + tb.quoted + ` x WHERE x.` + tenantColumn + ` = '` + id + `' ORDER BY ` + order
		copied, err := copyRows(ctx, rs.conn, `COPY (`+query+`) TO STDOUT`, p.line)
		if copied || err != nil {
			return err
		}
		return queryRows(ctx, rs.q, query, nil, p.line)
	}
	var sel strings.Builder
	sel.WriteString(`SELECT json_object(`)
	for i, c := range tb.columns {
		if i > 0 {
			sel.WriteString(", ")
		}
		sel.WriteString(`'` + strings.ReplaceAll(c.name, `'`, `''`) + `', x.` + quoteIdent(c.name))
	}
	sel.WriteString(`) FROM ` + tb.quoted + ` x WHERE x.` + tenantColumn + ` = ? ORDER BY ` + order)
	return queryRows(ctx, rs.q, sel.String(), []any{id}, p.line)
}

// queryRows streams a one-column text result into line.
func queryRows(ctx context.Context, q querier, query string, args []any, line func([]byte) error) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var raw sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&raw); err != nil {
			return err
		}
		if err := line(oneLine(raw)); err != nil {
			return err
		}
	}
	return rows.Err()
}

// oneLine turns raw line breaks, which a JSON text can hold only as
// whitespace between tokens (a json column kept as written), into blanks.
func oneLine(b []byte) []byte {
	if bytes.IndexByte(b, '\n') < 0 && bytes.IndexByte(b, '\r') < 0 {
		return b
	}
	for i, c := range b {
		if c == '\n' || c == '\r' {
			b[i] = ' '
		}
	}
	return b
}

var errNoCopy = errors.New("not a pgx connection")

// copyRows runs COPY … TO STDOUT on the pgx connection under conn and
// feeds line with each decoded row. It reports copied=false, with no
// error, when the driver is not pgx's stdlib.
func copyRows(ctx context.Context, conn *sql.Conn, query string, line func([]byte) error) (copied bool, err error) {
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return errNoCopy
		}
		d := &copyDecoder{emit: line}
		if _, err := c.Conn().PgConn().CopyTo(ctx, d, query); err != nil {
			return err
		}
		if len(d.line) > 0 || d.esc {
			return fmt.Errorf("COPY ended inside a row")
		}
		return nil
	})
	if errors.Is(err, errNoCopy) {
		return false, nil
	}
	return true, err
}

// copyDecoder splits COPY's text format into rows and undoes its
// escapes. The one column is JSON text, which holds no tab, and line
// breaks only as whitespace (written as blanks, as oneLine does).
type copyDecoder struct {
	line []byte
	esc  bool
	emit func([]byte) error
}

func (d *copyDecoder) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if d.esc {
			d.esc = false
			switch p[0] {
			case '\\':
				d.line = append(d.line, '\\')
			case 'n', 'r':
				d.line = append(d.line, ' ')
			case 't':
				d.line = append(d.line, '\t')
			default:
				return 0, fmt.Errorf("COPY: unexpected escape \\%c", p[0])
			}
			p = p[1:]
			continue
		}
		i := bytes.IndexAny(p, "\\\n")
		if i < 0 {
			d.line = append(d.line, p...)
			break
		}
		d.line = append(d.line, p[:i]...)
		if p[i] == '\\' {
			d.esc = true
		} else {
			if err := d.emit(d.line); err != nil {
				return 0, err
			}
			d.line = d.line[:0]
		}
		p = p[i+1:]
	}
	return n, nil
}

// Objects are read ahead by blobWorkers goroutines, in listing order,
// each held in memory if it is at most blobInline bytes (else streamed
// when its turn comes): a bucket's per-object latency, not its
// throughput, bounds an export of many small files. Memory stays below
// blobWorkers × blobInline.
const (
	blobWorkers = 8
	blobInline  = 1 << 20
)

type fetched struct {
	key   string
	attrs *blob.Attributes
	data  []byte // nil: stream it
	err   error
}

// exportBlobs writes every object under the tenant's prefix.
func (m *Manager) exportBlobs(ctx context.Context, id string, a *archiveWriter, man *Manifest, track *tracker) error {
	prefix := m.blobPrefix(id)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	order := make(chan chan fetched, blobWorkers)
	sem := make(chan struct{}, blobWorkers)
	go func() {
		defer close(order)
		it := m.bucket.List(&blob.ListOptions{Prefix: prefix})
		for {
			obj, err := it.Next(ctx)
			if err == io.EOF {
				return
			}
			ch := make(chan fetched, 1)
			if err != nil {
				ch <- fetched{err: fmt.Errorf("lifecycle: list objects: %w", err)}
				select {
				case order <- ch:
				case <-ctx.Done():
				}
				return
			}
			if obj.IsDir {
				continue
			}
			select {
			case order <- ch:
			case <-ctx.Done():
				return
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			go func(key string, size int64) {
				defer func() { <-sem }()
				ch <- m.fetch(ctx, key, size)
			}(obj.Key, obj.Size)
		}
	}()
	for ch := range order {
		var f fetched
		select {
		case f = <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		if f.err != nil {
			return f.err
		}
		rel := strings.TrimPrefix(f.key, prefix)
		if err := checkObjectKey(rel); err != nil {
			return fmt.Errorf("lifecycle: export object %q: %w", f.key, err)
		}
		oa := &ObjectAttrs{ContentType: f.attrs.ContentType, ContentDisposition: f.attrs.ContentDisposition}
		if len(f.attrs.Metadata) > 0 {
			oa.Metadata = f.attrs.Metadata
		}
		var err error
		size := f.attrs.Size
		if f.data != nil {
			size = int64(len(f.data))
			err = a.stream(blobsDir+rel, size, bytes.NewReader(f.data), oa)
		} else {
			var r *blob.Reader
			if r, err = m.bucket.NewReader(ctx, f.key, nil); err == nil {
				size = r.Size()
				err = a.stream(blobsDir+rel, size, r, oa)
				r.Close()
			}
		}
		if err != nil {
			return fmt.Errorf("lifecycle: export object %q: %w", f.key, err)
		}
		man.Objects++
		man.ObjectBytes += size
		track.add(0, size)
	}
	return ctx.Err()
}

// fetch reads an object's attributes, and the object if it is small.
func (m *Manager) fetch(ctx context.Context, key string, size int64) fetched {
	f := fetched{key: key}
	if f.attrs, f.err = m.bucket.Attributes(ctx, key); f.err != nil {
		f.err = fmt.Errorf("lifecycle: export object %q: %w", key, f.err)
		return f
	}
	if size > blobInline || f.attrs.Size > blobInline {
		return f
	}
	if f.data, f.err = m.bucket.ReadAll(ctx, key); f.err != nil {
		f.err = fmt.Errorf("lifecycle: export object %q: %w", key, f.err)
	}
	if f.data == nil && f.err == nil {
		f.data = []byte{}
	}
	return f
}

// checkObjectKey accepts a relative object key as blobstore writes them:
// 1 to 1024 bytes of ASCII letters, digits, '.', '_', '-' and '/', in
// non-empty segments that are not made only of dots.
func checkObjectKey(rel string) error {
	if rel == "" || len(rel) > 1024 {
		return fmt.Errorf("%w: object key length %d", ErrArchive, len(rel))
	}
	for i := 0; i < len(rel); i++ {
		c := rel[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-' || c == '/') {
			return fmt.Errorf("%w: object key %.60q has byte %#02x", ErrArchive, rel, c)
		}
	}
	for _, seg := range strings.Split(rel, "/") {
		if strings.Trim(seg, ".") == "" {
			return fmt.Errorf("%w: object key %.60q has an empty or dots-only segment", ErrArchive, rel)
		}
	}
	return nil
}
