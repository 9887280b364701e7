package sqlscope

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/tenantwall/tenantwall/sqlscope/internal/sqllex"
	"github.com/tenantwall/tenantwall/tenant"
)

// Dialect selects the row filter's lexer, placeholder syntax and quoting.
// The caller names it (NewFilter); it is never guessed from the driver.
type Dialect uint8

// Supported dialects.
const (
	SQLite   = Dialect(sqllex.SQLite)   // ? placeholders; SQLite's tokenizer
	MySQL    = Dialect(sqllex.MySQL)    // ? placeholders; sql_mode- and charset-dependent forms refused
	Postgres = Dialect(sqllex.Postgres) // $n placeholders; PostgreSQL's lexer, standard_conforming_strings on
)

// String names the dialect.
func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case MySQL:
		return "mysql"
	case Postgres:
		return "postgres"
	}
	return "Dialect(" + strconv.Itoa(int(d)) + ")"
}

// Rebind rewrites ? placeholders as $1, $2, … for Postgres and returns
// query unchanged for the other dialects. It does not parse SQL: use it
// only on statements whose literals hold no '?'.
func Rebind(d Dialect, query string) string {
	if d != Postgres || strings.IndexByte(query, '?') < 0 {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// Marker is the token a row-filter statement writes where the tenant ID
// goes: "SELECT … FROM leads WHERE tenant_id = {tenant} AND id = ?".
const Marker = sqllex.Marker

// Filter is the portable row filter, for databases without row level
// security (SQLite, MySQL/MariaDB, or PostgreSQL without RLS). Every
// statement must reference the tenant through Marker in plain code, which
// Filter binds to the context tenant's ID as a parameter; a statement
// without one is refused with ErrUnscoped, and one its lexer cannot
// classify with certainty with ErrStatement, before it is sent. A
// statement is one statement: text after a ';' other than blanks and
// comments is refused. Insert sets tenant_id itself and refuses a
// caller-supplied one.
//
// A Filter cannot stop a statement that mentions the tenant and then
// widens the match ("… = {tenant} OR 1=1"): that is what PostgreSQL row
// level security is for. It is safe for concurrent use.
type Filter struct {
	db      Querier
	dialect Dialect
}

// NewFilter returns a Filter over db (a *sql.DB, *sql.Tx or *sql.Conn).
func NewFilter(db Querier, d Dialect) (*Filter, error) {
	if d < SQLite || d > Postgres {
		return nil, fmt.Errorf("sqlscope: unknown dialect %v", d)
	}
	return &Filter{db: db, dialect: d}, nil
}

// On returns a Filter with the same dialect over another handle, such as
// a transaction.
func (f *Filter) On(db Querier) *Filter { return &Filter{db: db, dialect: f.dialect} }

// Bind rewrites query for the context tenant: every Marker in plain code
// becomes a placeholder bound to the tenant ID ("$n" after the caller's
// arguments for Postgres, "?" in turn for SQLite and MySQL). Markers in
// string literals, quoted identifiers, dollar quotes and comments are text
// and stay as they are. The statement is lexed as the dialect's server
// lexes it (see the package documentation); whatever the lexer cannot
// classify with certainty, and a second statement after ';', is refused
// with ErrStatement. It returns tenant.ErrNoTenant without a tenant and
// ErrUnscoped without a Marker in code. Use it to feed another executor.
// The rewriting of each text is kept, up to 1,024 texts, so a statement
// sent on every request is lexed once; the tenant is bound on each call.
func (f *Filter) Bind(ctx context.Context, query string, args []any) (string, []any, error) {
	id, err := tenant.IDFromContext(ctx)
	if err != nil {
		return "", nil, err
	}
	return bind(f.dialect, query, args, id)
}

// Query runs a scoped query.
func (f *Filter) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	q, a, err := f.Bind(ctx, query, args)
	if err != nil {
		return nil, err
	}
	return f.db.QueryContext(ctx, q, a...)
}

// Row is the result of QueryRow: like *sql.Row, but it can carry the
// scoping error.
type Row struct {
	row *sql.Row
	err error
}

// Scan is sql.Row.Scan, or the scoping error.
func (r Row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	return r.row.Scan(dest...)
}

// Err is the scoping or query error, if any.
func (r Row) Err() error {
	if r.err != nil {
		return r.err
	}
	return r.row.Err()
}

// QueryRow runs a scoped query expected to return at most one row.
func (f *Filter) QueryRow(ctx context.Context, query string, args ...any) Row {
	q, a, err := f.Bind(ctx, query, args)
	if err != nil {
		return Row{err: err}
	}
	return Row{row: f.db.QueryRowContext(ctx, q, a...)}
}

// Exec runs a scoped statement (UPDATE, DELETE).
func (f *Filter) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	q, a, err := f.Bind(ctx, query, args)
	if err != nil {
		return nil, err
	}
	return f.db.ExecContext(ctx, q, a...)
}

// Insert inserts one row into table with tenant_id set to the context
// tenant; columns name the other values. A tenant_id among columns is
// refused with ErrTenantColumn. Identifiers are validated and quoted.
func (f *Filter) Insert(ctx context.Context, table string, columns []string, values ...any) (sql.Result, error) {
	q, args, err := f.InsertSQL(ctx, table, columns, values)
	if err != nil {
		return nil, err
	}
	return f.db.ExecContext(ctx, q, args...)
}

// InsertReturning is Insert with a RETURNING clause (PostgreSQL, SQLite
// 3.35 and later), for generated ids: scan the returned columns from the
// Row.
func (f *Filter) InsertReturning(ctx context.Context, table string, columns []string, values []any, returning ...string) Row {
	q, args, err := f.InsertSQL(ctx, table, columns, values)
	if err != nil {
		return Row{err: err}
	}
	if len(returning) == 0 {
		return Row{err: fmt.Errorf("sqlscope: insert into %s: no RETURNING column", table)}
	}
	ret := make([]string, len(returning))
	for i, c := range returning {
		if ret[i], err = f.quote(c, false); err != nil {
			return Row{err: err}
		}
	}
	return Row{row: f.db.QueryRowContext(ctx, q+" RETURNING "+strings.Join(ret, ", "), args...)}
}

// InsertSQL builds the statement Insert runs, with its arguments, for use
// with RETURNING or another executor.
func (f *Filter) InsertSQL(ctx context.Context, table string, columns []string, values []any) (string, []any, error) {
	id, err := tenant.IDFromContext(ctx)
	if err != nil {
		return "", nil, err
	}
	if len(columns) != len(values) {
		return "", nil, fmt.Errorf("sqlscope: insert into %s: %d columns, %d values", table, len(columns), len(values))
	}
	t, err := f.quote(table, true)
	if err != nil {
		return "", nil, err
	}
	var b strings.Builder
	b.WriteString("INSERT INTO " + t + " (" + TenantColumn)
	for _, c := range columns {
		if strings.EqualFold(c, TenantColumn) {
			return "", nil, fmt.Errorf("%w: insert into %s", ErrTenantColumn, table)
		}
		qc, err := f.quote(c, false)
		if err != nil {
			return "", nil, err
		}
		b.WriteString(", " + qc)
	}
	b.WriteString(") VALUES (")
	for i := 0; i <= len(columns); i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(f.placeholder(i + 1))
	}
	b.WriteString(")")
	return b.String(), append([]any{id}, values...), nil
}

func (f *Filter) quote(name string, qualified bool) (string, error) {
	var q string
	var err error
	if qualified {
		q, err = QuoteQualified(name)
	} else {
		q, err = QuoteIdent(name)
	}
	if err == nil && f.dialect == MySQL {
		q = strings.ReplaceAll(q, `"`, "`")
	}
	return q, err
}

func (f *Filter) placeholder(n int) string {
	if f.dialect == Postgres {
		return "$" + strconv.Itoa(n)
	}
	return "?"
}

// bind is the rewriter behind Filter.Bind.
func bind(d Dialect, query string, args []any, id string) (string, []any, error) {
	t, err := templates.get(d, query, len(args))
	if err != nil {
		return "", nil, err
	}
	out := make([]any, len(t.order))
	for i, k := range t.order {
		if k < 0 {
			out[i] = id
		} else {
			out[i] = args[k]
		}
	}
	return t.text, out, nil
}

// compile lexes query once for n caller arguments: the rewritten text,
// and the order of the arguments that go with it.
func compile(d Dialect, query string, n int) (template, error) {
	var buf [8]sqllex.Site
	sites, err := sqllex.Sites(sqllex.Dialect(d), query, buf[:0])
	if err != nil {
		return template{}, fmt.Errorf("%w: %w", ErrStatement, err)
	}
	markers, placeholders := 0, 0
	for _, s := range sites {
		if s.Marker {
			markers++
		} else {
			placeholders++
		}
	}
	if markers == 0 {
		return template{}, ErrUnscoped
	}
	if d != Postgres && placeholders != n {
		return template{}, fmt.Errorf("%w: %d placeholders for %d arguments", ErrStatement, placeholders, n)
	}
	param := "?"
	if d == Postgres {
		param = "$" + strconv.Itoa(n+1)
	}
	var b strings.Builder
	b.Grow(len(query) + markers*(len(param)-len(Marker)))
	order := make([]int, 0, n+markers)
	last, next := 0, 0
	for _, s := range sites {
		b.WriteString(query[last:s.Pos])
		if !s.Marker {
			// A caller's '?' stays in the text (copied with the next run);
			// its argument takes its turn among the tenant's.
			order = append(order, next)
			next++
			last = s.Pos
			continue
		}
		b.WriteString(param)
		if d != Postgres {
			order = append(order, -1)
		}
		last = s.Pos + len(Marker)
	}
	b.WriteString(query[last:])
	if d == Postgres {
		for i := range n {
			order = append(order, i)
		}
		order = append(order, -1)
	}
	return template{text: b.String(), order: order}, nil
}
