package adopt

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tenantwall/tenantwall/sqlscope"
)

// Phases of a plan, in the order they run.
const (
	PhaseAdd      = "add"      // add tenant_id and the temporary fill trigger
	PhaseBackfill = "backfill" // give every existing row its tenant, batch by batch
	PhaseNotNull  = "not null" // CHECK NOT VALID, VALIDATE, SET NOT NULL
	PhaseKeys     = "keys"     // unique keys and foreign keys per tenant
	PhaseRLS      = "rls"      // the guard function, row level security, trigger removed
)

// Kind is how the executor runs a step.
type Kind int

const (
	// InTransaction steps run their statements in one short transaction,
	// after SET LOCAL lock_timeout, together with the record that the step
	// is done; a lock timeout rolls back and retries.
	InTransaction Kind = iota + 1
	// Concurrently steps run one CREATE UNIQUE INDEX CONCURRENTLY outside
	// a transaction. An invalid index of the same name, left by an
	// interrupted build, is dropped first (DROP INDEX CONCURRENTLY).
	Concurrently
	// Batches steps are a backfill: Statements[0] finds the last key of
	// the next batch ($1 the last key done, $2 the batch size),
	// Statements[1] updates the rows in that key range ($1 < key <= $2),
	// in one short transaction per batch that also records the last key
	// done, until no key is left; then Statements[2] counts the rows
	// still without a tenant, which must be none.
	Batches
	// Rebuild steps are a SQLite table's rebuild, run with every other
	// table's in one BEGIN IMMEDIATE transaction, foreign key enforcement
	// off and PRAGMA foreign_key_check before COMMIT: Statements[0] counts
	// the table's rows and those its assignment gives no tenant (which must
	// be none), the others create the new table, copy the rows with their
	// tenant, drop the old table, rename the new one and recreate its
	// indexes.
	Rebuild
)

func (k Kind) String() string {
	switch k {
	case InTransaction:
		return "one transaction"
	case Concurrently:
		return "outside a transaction"
	case Batches:
		return "one transaction per batch"
	case Rebuild:
		return "in the one transaction"
	}
	return "unknown"
}

// Statement is one SQL statement and its bound arguments.
type Statement struct {
	SQL  string
	Args []any
}

// Step is one unit of work the executor runs, and records, as a whole.
type Step struct {
	// Phase is one of the Phase constants.
	Phase string
	// Table is the table the step changes; empty for the guard function.
	Table string
	// Kind is how the step is run.
	Kind Kind
	// Statements are run in order, as Kind says.
	Statements []Statement
}

// Plan is the ordered list of steps that adopts a Schema. It is built
// without a database (New is pure), printed by WriteTo for a dry run and
// executed by Run. A Plan is immutable and safe for concurrent use.
type Plan struct {
	schema      Schema
	assign      map[string]Assignment
	steps       []Step
	lockTimeout time.Duration
	batch       int
	setting     string
	fingerprint string
}

// Option configures New.
type Option func(*options) error

type options struct {
	setting     string
	lockTimeout time.Duration
	batch       int
}

// WithSetting sets the run-time parameter the guard function reads
// (default sqlscope.DefaultSetting), as for sqlscope.FunctionSQL.
func WithSetting(name string) Option {
	return func(o *options) error {
		if _, err := sqlscope.FunctionSQL(name); err != nil {
			return err
		}
		o.setting = name
		return nil
	}
}

// WithLockTimeout sets how long each transaction waits for a table lock
// before it gives up, rolls back and is retried (default 500ms, at least
// 1ms). Short waits keep the application's own statements from queueing
// behind a DDL statement that waits for a lock: they wait at most about
// this long per attempt (BENCHMARKS.md). Below the server's
// deadlock_timeout (1s by default), it also makes the migration's
// statement, rather than the application's, the one that gives up in a
// lock cycle between them, unless the application's had already waited
// longer.
func WithLockTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d < time.Millisecond {
			return fmt.Errorf("adopt: WithLockTimeout(%v): want at least 1ms", d)
		}
		o.lockTimeout = d
		return nil
	}
}

// WithBatchSize sets how many rows each backfill transaction updates
// (default 1000, between 1 and 1,000,000).
func WithBatchSize(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 1_000_000 {
			return fmt.Errorf("adopt: WithBatchSize(%d): want 1 to 1000000", n)
		}
		o.batch = n
		return nil
	}
}

// New plans the adoption of s, each table's rows assigned to tenants as
// assign says (one entry per table of s, keyed by table name). It sends
// no SQL. It refuses, with ErrAssignment, a table without an assignment
// or an assignment without a table, and with ErrUnsupported a schema it
// does not understand (see Inspect).
//
// The steps, in order: add a nullable tenant_id to every table (no
// default, so no rewrite) with a temporary trigger that fills it for rows
// the application inserts or updates meanwhile; backfill each table in
// primary key ranges (parents before the tables that take their tenant
// through them); make tenant_id NOT NULL through a validated CHECK, so
// that SET NOT NULL does not scan under its exclusive lock; build unique
// indexes on (tenant_id, …) for the primary key and each unique
// constraint, concurrently; replace each foreign key between adopted
// tables with one on (tenant_id, …), added NOT VALID and validated
// apart; swap the primary keys and unique constraints onto the new
// indexes; then install the guard function (sqlscope.FunctionSQL) and
// isolate each table (sqlscope.RLSSQL), dropping its trigger in the same
// transaction. The last phase is the cut-over: from then on, the
// application must set the tenant (sqlscope.RLS.Tx or pgxscope).
func New(s Schema, assign map[string]Assignment, opts ...Option) (*Plan, error) {
	o := options{setting: sqlscope.DefaultSetting, lockTimeout: 500 * time.Millisecond, batch: 1000}
	for _, f := range opts {
		if err := f(&o); err != nil {
			return nil, err
		}
	}
	if err := checkSchema(s); err != nil {
		return nil, err
	}
	for name := range assign {
		if _, ok := s.table(name); !ok {
			return nil, fmt.Errorf("%w: assignment for %s, which is not a table of schema %s being adopted", ErrAssignment, name, s.Name)
		}
	}
	for _, t := range s.Tables {
		a, ok := assign[t.Name]
		if !ok {
			return nil, fmt.Errorf("%w: table %s has no assignment", ErrAssignment, t.Name)
		}
		if err := a.check(s, t); err != nil {
			return nil, err
		}
	}
	order, err := backfillOrder(s, assign)
	if err != nil {
		return nil, err
	}
	p := &Plan{schema: s, assign: assign, lockTimeout: o.lockTimeout, batch: o.batch, setting: o.setting}
	switch s.Dialect {
	case 0, sqlscope.Postgres:
		err = p.build(order)
	case sqlscope.SQLite:
		err = p.buildSQLite(order)
	default:
		err = fmt.Errorf("%w: dialect %s: adopt plans for PostgreSQL and SQLite", ErrUnsupported, s.Dialect)
	}
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	for _, st := range p.steps {
		fmt.Fprintf(h, "%s\x00%s\x00%d\x00", st.Phase, st.Table, st.Kind)
		for _, s := range st.Statements {
			fmt.Fprintf(h, "%s\x00%v\x00", s.SQL, s.Args)
		}
	}
	p.fingerprint = hex.EncodeToString(h.Sum(nil))
	return p, nil
}

// checkSchema validates every identifier of s and the shape the planner
// needs, for hand-built schemas as much as inspected ones.
func checkSchema(s Schema) error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if err := checkName(s.Name); err != nil {
		return err
	}
	if len(s.Tables) == 0 {
		add("no tables")
	}
	seen := map[string]bool{}
	for _, t := range s.Tables {
		if err := checkName(t.Name); err != nil {
			return err
		}
		if seen[t.Name] {
			add("%s: listed twice", t.Name)
		}
		seen[t.Name] = true
		keys := append([]Key{t.PrimaryKey}, t.Uniques...)
		for _, k := range keys {
			if err := checkName(k.Name); err != nil {
				return fmt.Errorf("table %s: %w", t.Name, err)
			}
			if len(k.Columns) == 0 {
				add("%s: key %s has no columns", t.Name, k.Name)
			}
			for _, c := range k.Columns {
				if err := checkName(c); err != nil {
					return fmt.Errorf("table %s: %w", t.Name, err)
				}
				if c == sqlscope.TenantColumn {
					add("%s: key %s already has tenant_id", t.Name, k.Name)
				}
			}
		}
		if len(t.PrimaryKey.Columns) != 1 {
			add("%s: the primary key must be one integer column", t.Name)
		}
		for _, fk := range t.ForeignKeys {
			for _, n := range append(append([]string{fk.Name, fk.RefTable}, fk.Columns...), fk.RefColumns...) {
				if err := checkName(n); err != nil {
					return fmt.Errorf("table %s: foreign key: %w", t.Name, err)
				}
			}
			if len(fk.Columns) == 0 || len(fk.Columns) != len(fk.RefColumns) {
				add("%s: foreign key %s: column lists differ in length", t.Name, fk.Name)
			}
			if !slices.Contains([]string{"", "NO ACTION", "RESTRICT", "CASCADE", "SET NULL", "SET DEFAULT"}, fk.OnDelete) {
				add("%s: foreign key %s: ON DELETE %q not understood", t.Name, fk.Name, fk.OnDelete)
			}
			switch fk.OnUpdate {
			case "", "NO ACTION", "RESTRICT", "CASCADE":
			default:
				// ON UPDATE SET NULL/DEFAULT would clear or reset tenant_id
				// too, once it is part of the key.
				add("%s: foreign key %s: ON UPDATE %q would change tenant_id; use NO ACTION, RESTRICT or CASCADE", t.Name, fk.Name, fk.OnUpdate)
			}
			if ref, ok := s.table(fk.RefTable); ok {
				if _, ok := ref.keyFor(fk.RefColumns); !ok {
					add("%s: foreign key %s references %s (%s), which is not its primary key or a unique constraint", t.Name, fk.Name, fk.RefTable, strings.Join(fk.RefColumns, ", "))
				}
			}
		}
	}
	if len(problems) > 0 {
		return unsupported(s.Name, problems)
	}
	return nil
}

// keyFor finds t's primary key or unique constraint on exactly cols.
func (t Table) keyFor(cols []string) (Key, bool) {
	for _, k := range append([]Key{t.PrimaryKey}, t.Uniques...) {
		if slices.Equal(k.Columns, cols) {
			return k, true
		}
	}
	return Key{}, false
}

// backfillOrder sorts the tables so that a parent is backfilled before
// the tables that take their tenant through it, keeping the schema's
// order otherwise.
func backfillOrder(s Schema, assign map[string]Assignment) ([]Table, error) {
	var order []Table
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(t Table, path []string) error
	visit = func(t Table, path []string) error {
		switch state[t.Name] {
		case 1:
			return fmt.Errorf("%w: join paths form a cycle: %s", ErrAssignment, strings.Join(append(path, t.Name), " → "))
		case 2:
			return nil
		}
		state[t.Name] = 1
		if a := assign[t.Name]; a.kind == assignThrough {
			parent, _ := s.table(a.parent)
			if err := visit(parent, append(path, t.Name)); err != nil {
				return err
			}
		}
		state[t.Name] = 2
		order = append(order, t)
		return nil
	}
	for _, t := range s.Tables {
		if err := visit(t, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// name derives a deterministic identifier of at most 63 bytes from
// parts, for the objects the plan creates.
func name(prefix string, parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return prefix + hex.EncodeToString(h[:8])
}

func quoteList(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = `"` + c + `"`
	}
	return strings.Join(q, ", ")
}

const (
	fillTrigger = "tenantwall_adopt_fill"
	notNullName = "tenantwall_adopt_not_null"
)

func (p *Plan) build(order []Table) error {
	s := p.schema
	stmt := func(sql string, args ...any) Statement { return Statement{SQL: sql, Args: args} }
	add := func(phase, table string, kind Kind, st ...Statement) {
		p.steps = append(p.steps, Step{Phase: phase, Table: table, Kind: kind, Statements: st})
	}
	for _, t := range order {
		q := quote(s.Name, t.Name)
		fn := sqlscope.FunctionSchema + "." + name("adopt_fill_", s.Name, t.Name)
		add(PhaseAdd, t.Name, InTransaction,
			stmt(`CREATE SCHEMA IF NOT EXISTS `+sqlscope.FunctionSchema),
			stmt(`ALTER TABLE `+q+` ADD COLUMN `+sqlscope.TenantColumn+` text`),
			stmt(p.fillFunction(t, fn)),
			stmt(`CREATE TRIGGER `+fillTrigger+` BEFORE INSERT OR UPDATE ON `+q+
				` FOR EACH ROW WHEN (NEW.`+sqlscope.TenantColumn+` IS NULL) EXECUTE FUNCTION `+fn+`()`))
	}
	for _, t := range order {
		q := quote(s.Name, t.Name)
		pk := `"` + t.PrimaryKey.Columns[0] + `"`
		update, args := p.backfillUpdate(t)
		add(PhaseBackfill, t.Name, Batches,
			stmt(`SELECT max(`+pk+`) FROM (SELECT `+pk+` FROM `+q+` WHERE `+pk+` > $1 ORDER BY `+pk+` LIMIT $2) AS batch`),
			stmt(update, args...),
			stmt(`SELECT count(*) FROM `+q+` WHERE `+sqlscope.TenantColumn+` IS NULL OR `+sqlscope.TenantColumn+` = ''`))
	}
	for _, t := range order {
		q := quote(s.Name, t.Name)
		add(PhaseNotNull, t.Name, InTransaction,
			stmt(`ALTER TABLE `+q+` ADD CONSTRAINT `+notNullName+` CHECK (`+sqlscope.TenantColumn+` IS NOT NULL) NOT VALID`))
		add(PhaseNotNull, t.Name, InTransaction,
			stmt(`ALTER TABLE `+q+` VALIDATE CONSTRAINT `+notNullName))
		add(PhaseNotNull, t.Name, InTransaction,
			stmt(`ALTER TABLE `+q+` ALTER COLUMN `+sqlscope.TenantColumn+` SET NOT NULL`),
			stmt(`ALTER TABLE `+q+` DROP CONSTRAINT `+notNullName))
	}
	for _, t := range order {
		q := quote(s.Name, t.Name)
		for _, k := range append([]Key{t.PrimaryKey}, t.Uniques...) {
			add(PhaseKeys, t.Name, Concurrently,
				stmt(`CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS `+p.indexName(t, k)+` ON `+q+
					` (`+sqlscope.TenantColumn+`, `+quoteList(k.Columns)+`)`))
		}
	}
	for _, t := range order {
		q := quote(s.Name, t.Name)
		for _, fk := range t.ForeignKeys {
			if _, ok := s.table(fk.RefTable); !ok {
				continue // into a shared table: left alone
			}
			tmp := name("tenantwall_fk_", s.Name, t.Name, fk.Name)
			add(PhaseKeys, t.Name, InTransaction,
				stmt(`ALTER TABLE `+q+` ADD CONSTRAINT `+tmp+` FOREIGN KEY (`+sqlscope.TenantColumn+`, `+quoteList(fk.Columns)+
					`) REFERENCES `+quote(s.Name, fk.RefTable)+` (`+sqlscope.TenantColumn+`, `+quoteList(fk.RefColumns)+`)`+
					fkActions(fk)+` NOT VALID`))
			add(PhaseKeys, t.Name, InTransaction,
				stmt(`ALTER TABLE `+q+` VALIDATE CONSTRAINT `+tmp))
			add(PhaseKeys, t.Name, InTransaction,
				stmt(`ALTER TABLE `+q+` DROP CONSTRAINT "`+fk.Name+`"`),
				stmt(`ALTER TABLE `+q+` RENAME CONSTRAINT `+tmp+` TO "`+fk.Name+`"`))
		}
	}
	for _, t := range order {
		q := quote(s.Name, t.Name)
		var sts []Statement
		for i, k := range append([]Key{t.PrimaryKey}, t.Uniques...) {
			kind := "UNIQUE"
			if i == 0 {
				kind = "PRIMARY KEY"
			}
			sts = append(sts,
				stmt(`ALTER TABLE `+q+` DROP CONSTRAINT "`+k.Name+`"`),
				stmt(`ALTER TABLE `+q+` ADD CONSTRAINT "`+k.Name+`" `+kind+` USING INDEX `+p.indexName(t, k)))
		}
		add(PhaseKeys, t.Name, InTransaction, sts...)
	}
	fsql, err := sqlscope.FunctionSQL(p.setting)
	if err != nil {
		return err
	}
	var guard []Statement
	for _, s := range fsql {
		guard = append(guard, stmt(s))
	}
	add(PhaseRLS, "", InTransaction, guard...)
	for _, t := range order {
		q := quote(s.Name, t.Name)
		rls, err := sqlscope.RLSSQL(s.Name + "." + t.Name)
		if err != nil {
			return err
		}
		var sts []Statement
		for _, r := range rls {
			sts = append(sts, stmt(r))
		}
		sts = append(sts,
			stmt(`DROP TRIGGER IF EXISTS `+fillTrigger+` ON `+q),
			stmt(`DROP FUNCTION IF EXISTS `+sqlscope.FunctionSchema+"."+name("adopt_fill_", s.Name, t.Name)+`()`))
		add(PhaseRLS, t.Name, InTransaction, sts...)
	}
	return nil
}

func (p *Plan) indexName(t Table, k Key) string {
	return name("tenantwall_key_", p.schema.Name, t.Name, k.Name)
}

// fkActions renders a foreign key's actions and timing. ON DELETE SET
// NULL and SET DEFAULT name the old columns, so that tenant_id is kept.
func fkActions(fk ForeignKey) string {
	var b strings.Builder
	switch fk.OnDelete {
	case "", "NO ACTION":
	case "SET NULL", "SET DEFAULT":
		b.WriteString(" ON DELETE " + fk.OnDelete + " (" + quoteList(fk.Columns) + ")")
	default:
		b.WriteString(" ON DELETE " + fk.OnDelete)
	}
	if fk.OnUpdate != "" && fk.OnUpdate != "NO ACTION" {
		b.WriteString(" ON UPDATE " + fk.OnUpdate)
	}
	if fk.Deferrable {
		b.WriteString(" DEFERRABLE")
		if fk.InitiallyDeferred {
			b.WriteString(" INITIALLY DEFERRED")
		}
	}
	return b.String()
}

// fillFunction is the temporary trigger function that gives rows the
// application writes during the migration their tenant, by the table's
// assignment. It runs as the writing role.
func (p *Plan) fillFunction(t Table, fn string) string {
	a := p.assign[t.Name]
	var body string
	switch a.kind {
	case assignConstant:
		// Validated by tenant.ValidateID: hex digits and hyphens only.
		body = `NEW.` + sqlscope.TenantColumn + ` := '` + a.tenantID + `';`
	case assignExpression:
		body = `SELECT (` + a.expr + `)::text INTO NEW.` + sqlscope.TenantColumn +
			` FROM (SELECT NEW.*) AS "` + t.Name + `";`
	case assignThrough:
		fk, _ := a.foreignKey(p.schema, t)
		body = `SELECT parent.` + sqlscope.TenantColumn + ` INTO NEW.` + sqlscope.TenantColumn +
			` FROM ` + quote(p.schema.Name, fk.RefTable) + ` AS parent WHERE parent."` + fk.RefColumns[0] + `" = NEW."` + fk.Columns[0] + `";`
	}
	return `CREATE OR REPLACE FUNCTION ` + fn + `() RETURNS trigger
LANGUAGE plpgsql SET search_path = "` + p.schema.Name + `", pg_temp AS ` + dollarQuote(`
BEGIN
	`+body+`
	RETURN NEW;
END
`)
}

// dollarQuote quotes body as a PostgreSQL dollar-quoted string. Such a
// string ends at the first occurrence of its tag, whatever token of the
// body it falls in (an Expression may hold '$' in a literal or an
// identifier), so the tag is one that occurs nowhere in body followed by
// the tag: $tenantwall_adopt$, else $tenantwall_adopt_1$, and so on.
func dollarQuote(body string) string {
	tag := "$tenantwall_adopt$"
	for n := 1; strings.Index(body+tag, tag) != len(body); n++ {
		tag = "$tenantwall_adopt_" + strconv.Itoa(n) + "$"
	}
	return tag + body + tag
}

// backfillUpdate is the batch UPDATE of t: $1 < key <= $2.
func (p *Plan) backfillUpdate(t Table) (string, []any) {
	a := p.assign[t.Name]
	q := quote(p.schema.Name, t.Name)
	pk := `"` + t.PrimaryKey.Columns[0] + `"`
	where := ` WHERE ` + pk + ` > $1 AND ` + pk + ` <= $2 AND ` + sqlscope.TenantColumn + ` IS NULL`
	switch a.kind {
	case assignConstant:
		return `UPDATE ` + q + ` SET ` + sqlscope.TenantColumn + ` = $3` + where, []any{a.tenantID}
	case assignExpression:
		return `UPDATE ` + q + ` AS "` + t.Name + `" SET ` + sqlscope.TenantColumn + ` = (` + a.expr + `)::text` + where, nil
	default:
		fk, _ := a.foreignKey(p.schema, t)
		return `UPDATE ` + q + ` AS child SET ` + sqlscope.TenantColumn + ` = parent.` + sqlscope.TenantColumn +
			` FROM ` + quote(p.schema.Name, fk.RefTable) + ` AS parent WHERE parent."` + fk.RefColumns[0] + `" = child."` + fk.Columns[0] +
			`" AND child.` + pk + ` > $1 AND child.` + pk + ` <= $2 AND child.` + sqlscope.TenantColumn + ` IS NULL`, nil
	}
}

// Steps returns the plan's steps in order.
func (p *Plan) Steps() []Step { return slices.Clone(p.steps) }

// WriteTo prints the plan as a dry run: every statement in the order Run
// sends it, each step headed by a comment that says how it runs, bound
// arguments shown in comments. It implements io.WriterTo.
func (p *Plan) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "-- adopt schema %s: %d table(s), %d steps; lock_timeout %v, backfill batches of %d rows\n",
		p.schema.Name, len(p.schema.Tables), len(p.steps), p.lockTimeout, p.batch)
	for _, t := range p.schema.Tables {
		fmt.Fprintf(&b, "--   %s (%d rows): %s\n", t.Name, t.Rows, p.assign[t.Name])
	}
	if p.schema.Dialect == sqlscope.SQLite {
		b.WriteString("-- one transaction for every table, on one connection:\nPRAGMA foreign_keys = OFF;\nPRAGMA legacy_alter_table = ON;\nBEGIN IMMEDIATE;\n")
	} else {
		b.WriteString("-- progress is recorded in tenantwall.adopt_runs and tenantwall.adopt_steps, each step in its own\n" +
			"-- transaction (a backfill: its last key with each batch), created first if missing:\n")
		for _, s := range stateSQL {
			b.WriteString(s + ";\n")
		}
	}
	for i, st := range p.steps {
		table := st.Table
		if table == "" {
			table = "(guard function)"
		}
		fmt.Fprintf(&b, "\n-- step %d/%d [%s] %s: %s\n", i+1, len(p.steps), st.Phase, table, st.Kind)
		if st.Kind == InTransaction || st.Kind == Batches {
			fmt.Fprintf(&b, "SET LOCAL lock_timeout = '%dms';\n", p.lockTimeout.Milliseconds())
		}
		for j, s := range st.Statements {
			switch {
			case st.Kind == Batches && j == 0:
				fmt.Fprintf(&b, "-- per batch: $1 = last key done, $2 = %d\n", p.batch)
			case st.Kind == Batches && j == 1:
				b.WriteString("-- then: $1 = last key done, $2 = last key of the batch\n")
			case st.Kind == Batches && j == 2:
				b.WriteString("-- once no key is left (must be 0):\n")
			case st.Kind == Rebuild && j == 0:
				b.WriteString("-- rows, and rows the assignment gives no tenant (must be 0):\n")
			}
			b.WriteString(s.SQL + ";\n")
			for k, a := range s.Args {
				if st.Kind == Rebuild {
					fmt.Fprintf(&b, "-- ? = %q\n", fmt.Sprint(a))
					continue
				}
				fmt.Fprintf(&b, "-- $%d = %q\n", k+boundFirst(st, j)+1, fmt.Sprint(a))
			}
		}
	}
	if p.schema.Dialect == sqlscope.SQLite {
		b.WriteString("\n-- must return no row:\nPRAGMA foreign_key_check;\nCOMMIT;\n-- then the two settings are restored\n")
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

// boundFirst is how many positional parameters the executor binds before
// a statement's own Args: a batch's lower and upper key.
func boundFirst(st Step, j int) int {
	if st.Kind == Batches && j == 1 {
		return 2
	}
	return 0
}
