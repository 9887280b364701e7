package lifecycle

import (
	"archive/tar"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"github.com/tenantwall/tenantwall/tenant"
)

// Format is the archive format Export writes and Import reads.
//
// An archive is a tar stream (POSIX/PAX) of, in this order:
//
//	tenant.json                   the tenant (as tenant.Tenant marshals) and its domains (host, status)
//	tables/<table>/<n>.ndjson     the tenant's rows of one table, one JSON object a line, in
//	                              primary-key order, in parts of at most the part size (n from 000001)
//	blobs/<key>                   each object under the tenant's prefix, key relative to it
//	manifest.json                 the Manifest: every entry above with its size and SHA-256,
//	                              row counts per table, object attributes
//	manifest.hmac                 with archive keys (WithArchiveKeys) only: the signature,
//	                              64 lowercase hex digits of HMAC-SHA256 under the first key
//	                              of Format + " manifest.hmac" + a NUL byte + manifest.json's bytes
//
// Tables are named "schema.table" on PostgreSQL and "table" on SQLite, and
// come parents first (a table after those its foreign keys reference).
// Row objects have one member per column, named as the column; values are
// as the engine writes a row in JSON (PostgreSQL's row_to_json, SQLite's
// json_object). Integration credentials are not in an archive.
//
// The signature covers the manifest as written, and through its
// checksums every other entry, their names, order and sizes: an archive
// that verifies under a key is, entry for entry, the one an Export with
// that key wrote.
const Format = "tenantwall-tenant-archive/1"

// Entry names.
const (
	settingsEntry  = "tenant.json"
	manifestEntry  = "manifest.json"
	signatureEntry = "manifest.hmac"
	tablesDir      = "tables/"
	blobsDir       = "blobs/"
)

// Manifest describes an archive. Export returns it; Import checks every
// entry against it before writing anything.
type Manifest struct {
	Format      string         `json:"format"`
	TenantID    string         `json:"tenant_id"`
	Slug        string         `json:"slug"`
	Dialect     string         `json:"dialect"`
	Tables      []TableSummary `json:"tables"`
	Objects     int64          `json:"objects"`
	ObjectBytes int64          `json:"object_bytes"`
	Entries     []Entry        `json:"entries"`
}

// TableSummary is one table of an archive.
type TableSummary struct {
	Name    string   `json:"name"`
	Rows    int64    `json:"rows"`
	Columns []string `json:"columns"`
}

// Entry is one tar entry of an archive other than the manifest.
type Entry struct {
	Name   string       `json:"name"`
	Size   int64        `json:"size"`
	SHA256 string       `json:"sha256"`
	Rows   int64        `json:"rows,omitempty"`   // rows in a table part
	Object *ObjectAttrs `json:"object,omitempty"` // attributes of a blob
}

// ObjectAttrs are the attributes of a blob that an archive keeps.
type ObjectAttrs struct {
	ContentType        string            `json:"content_type,omitempty"`
	ContentDisposition string            `json:"content_disposition,omitempty"`
	Metadata           map[string]string `json:"metadata,omitempty"`
}

// Rows returns the number of rows in all tables.
func (m Manifest) Rows() int64 {
	var n int64
	for _, t := range m.Tables {
		n += t.Rows
	}
	return n
}

// settings is tenant.json.
type settings struct {
	Tenant  tenant.Tenant  `json:"tenant"`
	Domains []domainRecord `json:"domains"`
}

type domainRecord struct {
	Host   string              `json:"host"`
	Status tenant.DomainStatus `json:"status"`
}

// archiveWriter writes entries to a tar stream and records them.
type archiveWriter struct {
	tw      *tar.Writer
	entries []Entry
	modTime time.Time
	written *countingWriter
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func newArchiveWriter(w io.Writer, now time.Time) *archiveWriter {
	cw := &countingWriter{w: w}
	return &archiveWriter{tw: tar.NewWriter(cw), modTime: now.UTC().Truncate(time.Second), written: cw}
}

func (a *archiveWriter) header(name string, size int64) error {
	return a.tw.WriteHeader(&tar.Header{Name: name, Size: size, Mode: 0o600, ModTime: a.modTime,
		Typeflag: tar.TypeReg, Format: tar.FormatPAX})
}

// bytes writes a whole entry.
func (a *archiveWriter) bytes(name string, data []byte, rows int64) error {
	if err := a.header(name, int64(len(data))); err != nil {
		return err
	}
	if _, err := a.tw.Write(data); err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	a.entries = append(a.entries, Entry{Name: name, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]), Rows: rows})
	return nil
}

// stream writes an entry of a known size from r.
func (a *archiveWriter) stream(name string, size int64, r io.Reader, obj *ObjectAttrs) error {
	if err := a.header(name, size); err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(a.tw, io.TeeReader(io.LimitReader(r, size+1), h))
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("lifecycle: %s changed while exported (%d bytes, listed as %d)", name, n, size)
	}
	a.entries = append(a.entries, Entry{Name: name, Size: size, SHA256: hex.EncodeToString(h.Sum(nil)), Object: obj})
	return nil
}

// parts cuts a table's rows into entries of at most size bytes.
type parts struct {
	a     *archiveWriter
	table string
	size  int
	buf   bytes.Buffer
	rows  int64 // rows in buf
	total int64 // rows of the table
	n     int   // parts written
	track *tracker
}

// line adds one row.
func (p *parts) line(row []byte) error {
	if p.buf.Len() > 0 && p.buf.Len()+len(row)+1 > p.size {
		if err := p.flush(); err != nil {
			return err
		}
	}
	p.buf.Write(row)
	p.buf.WriteByte('\n')
	p.rows++
	p.total++
	p.track.add(1, int64(len(row)+1))
	return nil
}

func (p *parts) flush() error {
	if p.buf.Len() == 0 {
		return nil
	}
	p.n++
	name := fmt.Sprintf("%s%s/%06d.ndjson", tablesDir, p.table, p.n)
	if err := p.a.bytes(name, p.buf.Bytes(), p.rows); err != nil {
		return err
	}
	p.buf.Reset()
	p.rows = 0
	return nil
}

// signatureContext goes into the HMAC before the manifest, so that a
// signature made here means "manifest of this format" and nothing else.
const signatureContext = Format + " " + signatureEntry + "\x00"

// signatureSize is the size of the signature entry: HMAC-SHA256 in hex.
const signatureSize = 2 * sha256.Size

// sign returns the signature entry for manifest under key.
func sign(key, manifest []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(signatureContext))
	m.Write(manifest)
	out := make([]byte, signatureSize)
	hex.Encode(out, m.Sum(nil))
	return out
}

// checkSignature checks that a signature entry has its form: exactly
// signatureSize lowercase hex digits, nothing else (no blank, no line
// break, no capitals).
func checkSignature(entry []byte) error {
	if len(entry) != signatureSize {
		return fmt.Errorf("%w: %w: %s has %d bytes, want %d hex digits", ErrArchive, ErrSignature, signatureEntry, len(entry), signatureSize)
	}
	for _, c := range entry {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return fmt.Errorf("%w: %w: %s holds byte %#02x, want lowercase hex digits", ErrArchive, ErrSignature, signatureEntry, c)
		}
	}
	return nil
}

// authentic reports whether entry is manifest's signature entry under
// one of keys (sign, compared in constant time). Every key is tried.
func authentic(keys [][]byte, manifest, entry []byte) bool {
	ok := false
	for _, k := range keys {
		if hmac.Equal(sign(k, manifest), entry) {
			ok = true
		}
	}
	return ok
}
