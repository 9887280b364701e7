package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tenantwall/tenantwall/sqlscope"
	"github.com/tenantwall/tenantwall/sqlscope/sqlstore"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

// The repository README shows this service's code. Each ```go block there
// is preceded by a line <!-- from examples/notes/FILE readme:NAME --> and
// must equal, after dedenting, the lines of FILE between "// readme:NAME"
// and "// readme:end": so every Go line the README shows is compiled and
// tested here. Each ```sql block is preceded by <!-- sql NAME --> and is
// run by a test below.

type block struct {
	lang, marker, body string
	line               int
}

func readmeBlocks(t *testing.T) []block {
	t.Helper()
	f, err := os.Open("../../README.md")
	require.NoError(t, err)
	defer f.Close()
	var (
		out    []block
		marker string
		cur    *block
		n      int
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case cur != nil && strings.TrimSpace(line) == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.body += line + "\n"
		case strings.HasPrefix(line, "```") && len(line) > 3:
			cur = &block{lang: strings.TrimPrefix(line, "```"), marker: marker, line: n}
			marker = ""
		case strings.HasPrefix(line, "<!-- ") && strings.HasSuffix(line, " -->"):
			marker = strings.TrimSuffix(strings.TrimPrefix(line, "<!-- "), " -->")
		case strings.TrimSpace(line) != "":
			marker = ""
		}
	}
	require.NoError(t, sc.Err())
	require.Nil(t, cur, "README: unterminated code block")
	return out
}

// region returns the dedented lines of file between "// readme:name" and
// "// readme:end".
func region(file, name string) (string, error) {
	data, err := os.ReadFile(filepath.Clean(file))
	if err != nil {
		return "", err
	}
	var lines []string
	in := false
	for _, l := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(l)
		switch {
		case trimmed == "// readme:"+name:
			in = true
		case in && trimmed == "// readme:end":
			return dedent(lines), nil
		case in:
			lines = append(lines, l)
		}
	}
	return "", fmt.Errorf("%s: no region readme:%s … readme:end", file, name)
}

func dedent(lines []string) string {
	prefix := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, "\t"))
		if prefix < 0 || n < prefix {
			prefix = n
		}
	}
	var b strings.Builder
	for _, l := range lines {
		if len(l) >= prefix && prefix > 0 {
			l = l[prefix:]
		}
		b.WriteString(strings.TrimRight(l, " \t") + "\n")
	}
	return b.String()
}

var fromMarker = regexp.MustCompile(`^from (examples/notes/[a-z_]+\.go) readme:([a-z]+)$`)

func TestEveryGoBlockInTheReadmeIsCompiledCode(t *testing.T) {
	blocks := readmeBlocks(t)
	var goBlocks int
	for _, b := range blocks {
		if b.lang != "go" {
			continue
		}
		goBlocks++
		m := fromMarker.FindStringSubmatch(b.marker)
		if !assert.NotNil(t, m, "README line %d: a ```go block without <!-- from examples/notes/FILE readme:NAME -->", b.line) {
			continue
		}
		want, err := region(strings.TrimPrefix(m[1], "examples/notes/"), m[2])
		if assert.NoError(t, err, "README line %d", b.line) {
			assert.Equal(t, want, dedent(strings.Split(strings.TrimSuffix(b.body, "\n"), "\n")),
				"README line %d differs from %s readme:%s", b.line, m[1], m[2])
		}
	}
	assert.GreaterOrEqual(t, goBlocks, 8, "the adoption guide's steps")
}

// TestTheReadmeRoleRecipeWorks runs the README's role SQL, with the role
// and database names made unique, and starts the service on it: the
// application role it creates passes the start-up check.
func TestTheReadmeRoleRecipeWorks(t *testing.T) {
	sqlBlocks := map[string]string{}
	for _, b := range readmeBlocks(t) {
		if b.lang == "sql" && strings.HasPrefix(b.marker, "sql ") {
			sqlBlocks[strings.TrimPrefix(b.marker, "sql ")] = b.body
		}
	}
	require.Contains(t, sqlBlocks, "admin")
	require.Contains(t, sqlBlocks, "owner")

	adminURL := envOrDefault("TENANTWALL_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	ctx := context.Background()
	admin, err := sql.Open("pgx", adminURL)
	require.NoError(t, err)
	if err := admin.PingContext(ctx); err != nil {
		admin.Close()
		if required {
			t.Fatalf("PostgreSQL is required: %v", err)
		}
		t.Skipf("skipping: PostgreSQL unavailable: %v", err)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	suffix := hex.EncodeToString(rnd[:])
	names := strings.NewReplacer("notes_owner", "notes_owner_"+suffix, "notes_app", "notes_app_"+suffix, "notes_db", "notes_db_"+suffix)
	t.Cleanup(func() {
		for _, s := range []string{"DROP DATABASE IF EXISTS notes_db WITH (FORCE)", "DROP ROLE IF EXISTS notes_app", "DROP ROLE IF EXISTS notes_owner"} {
			_, err := admin.ExecContext(context.Background(), names.Replace(s))
			assert.NoError(t, err, s)
		}
		admin.Close()
	})
	for _, stmt := range statements(names.Replace(sqlBlocks["admin"])) {
		_, err := admin.ExecContext(ctx, strings.ReplaceAll(stmt, "'…'", "'"+suffix+"'"))
		require.NoError(t, err, stmt)
	}
	ownerURL := withUserDB(t, adminURL, "notes_owner_"+suffix, suffix, "notes_db_"+suffix)
	appURL := withUserDB(t, adminURL, "notes_app_"+suffix, suffix, "notes_db_"+suffix)
	owner, err := sql.Open("pgx", ownerURL)
	require.NoError(t, err)
	defer owner.Close()
	require.NoError(t, migrate(ctx, owner)) // step 3 runs before its grants
	for _, stmt := range statements(names.Replace(sqlBlocks["owner"])) {
		_, err := owner.ExecContext(ctx, stmt)
		require.NoError(t, err, stmt)
	}
	app, err := sql.Open("pgx", appURL)
	require.NoError(t, err)
	defer app.Close()
	rls, err := scopedDB(ctx, app)
	require.NoError(t, err, "the application role made by the README's recipe passes the start-up check")

	// And it can do the service's work: read tenants, write and read notes.
	tenants, err := sqlstore.New(owner, sqlscope.Postgres)
	require.NoError(t, err)
	acme := tenanttest.NewTenant(tenanttest.RandomSlug("acme"))
	require.NoError(t, tenants.Create(ctx, acme))
	appTenants, err := sqlstore.New(app, sqlscope.Postgres)
	require.NoError(t, err)
	_, err = appTenants.BySlug(ctx, acme.Slug)
	require.NoError(t, err)
	actx := tenant.NewContext(ctx, acme)
	var title string
	require.NoError(t, rls.Tx(actx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(actx, `INSERT INTO notes (title) VALUES ('from the recipe')`); err != nil {
			return err
		}
		return tx.QueryRowContext(actx, `SELECT title FROM notes`).Scan(&title)
	}))
	assert.Equal(t, "from the recipe", title)

	// The registry is read-only to the application role.
	_, err = app.ExecContext(ctx, `UPDATE tenantwall_tenants SET status = status`)
	assert.ErrorContains(t, err, "permission denied", "the application role cannot rewrite the tenant registry")
}

func statements(script string) []string {
	var out []string
	for _, s := range strings.Split(script, ";") {
		var kept []string
		for _, l := range strings.Split(s, "\n") {
			if i := strings.Index(l, "--"); i >= 0 {
				l = l[:i]
			}
			kept = append(kept, l)
		}
		if s := strings.TrimSpace(strings.Join(kept, "\n")); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func withUserDB(t *testing.T, raw, user, password, db string) string {
	u, err := url.Parse(raw)
	require.NoError(t, err)
	u.User = url.UserPassword(user, password)
	u.Path = "/" + db
	return u.String()
}
