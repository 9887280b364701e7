package lifecycle

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
	"gocloud.dev/blob"

	"github.com/tenantwall/tenantwall/internal/redisnodes"
	"github.com/tenantwall/tenantwall/tenant"
)

// Report is what Verify scanned and found.
type Report struct {
	Tables      int       `json:"tables"`      // tables scanned
	Rows        int64     `json:"rows"`        // rows scanned
	RedisKeys   int64     `json:"redis_keys"`  // keys scanned
	Uninspected int64     `json:"uninspected"` // keys whose value type Verify does not read (streams, modules): their names were checked
	Objects     int64     `json:"objects"`     // objects scanned
	Findings    []Finding `json:"findings"`    // what names the tenant; empty when nothing survives
}

// Finding is one thing of a deleted tenant that Verify found.
type Finding struct {
	Store string `json:"store"` // "table public.leads", "redis", "blob"
	Where string `json:"where"` // the key, object key, or "row"
	Match string `json:"match"` // "id" or "slug", and where: "id in name", "slug as a value"
	Count int64  `json:"count,omitempty"`
}

// Err returns nil when nothing was found, else an error wrapping
// ErrSurvived that names the first findings.
func (r Report) Err() error {
	if len(r.Findings) == 0 {
		return nil
	}
	var b strings.Builder
	for i, f := range r.Findings {
		if i == 5 {
			fmt.Fprintf(&b, "; and %d more", len(r.Findings)-5)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s %s (%s)", f.Store, f.Where, f.Match)
	}
	return fmt.Errorf("%w: %s", ErrSurvived, b.String())
}

// Verify looks for a tenant everywhere the Manager can see and reports
// every place that still names it:
//
//   - every table in the schemas on the search path (PostgreSQL; tables
//     of other schemas are not seen), tenant tables or not: a row any of
//     whose columns contains the ID, or equals the slug. On PostgreSQL it
//     reads in a transaction where the RLS setting holds the tenant's ID,
//     so tables under row level security show exactly that tenant's rows
//     (there should be none) and other tables all of theirs;
//   - with WithRedis, the whole key space, by SCAN (never KEYS), on every
//     node that can hold keys (the one server, every master of a cluster,
//     every shard of a Ring; a Ring with a shard out is an error): a key whose name contains the ID or has the
//     slug as a segment (between ':', '{', '}', '/' or '.'), and a string,
//     hash, list, set or sorted set value that contains the ID;
//   - with WithBucket, every object of the bucket: a key that contains the
//     ID or has the slug as a path segment.
//
// It is a full scan, for after a delete; it takes as long as reading
// everything once. Matching the slug exactly (not within text) keeps other
// tenants' data that merely mentions the word from being reported.
// ctx must carry tenant.WithPlatformScope's reason.
func (m *Manager) Verify(ctx context.Context, tenantID, slug string) (Report, error) {
	rep := Report{Findings: []Finding{}}
	if err := tenant.ValidateID(tenantID); err != nil {
		return rep, err
	}
	if err := tenant.ValidateSlug(slug); err != nil {
		return rep, err
	}
	if _, err := tenant.RequirePlatformScope(ctx, m.auditor, tenant.Event{Package: "lifecycle",
		OwnerID: tenantID, Resource: "verify deletion"}); err != nil {
		return rep, err
	}
	if err := m.verifyTables(ctx, tenantID, slug, &rep); err != nil {
		return rep, err
	}
	if m.redis != nil {
		if err := m.verifyRedis(ctx, tenantID, slug, &rep); err != nil {
			return rep, err
		}
	}
	if m.bucket != nil {
		if err := m.verifyBucket(ctx, tenantID, slug, &rep); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

func (m *Manager) verifyTables(ctx context.Context, id, slug string, rep *Report) error {
	tx, err := m.scopedTx(ctx, id, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	tables, err := m.catalog(ctx, tx)
	if err != nil {
		return err
	}
	for _, tb := range tables {
		var query string
		var args []any
		if m.dialect == Postgres {
			query = `SELECT count(*), count(*) FILTER (WHERE strpos(x::text, $1) > 0),
				count(*) FILTER (WHERE EXISTS (SELECT 1 FROM json_each_text(row_to_json(x)) j WHERE j.value = $2))
				FROM ` + tb.quoted + ` x`
			args = []any{id, slug}
		} else {
			var hasID, isSlug []string
			for _, c := range tb.columns {
				col := `x.` + quoteIdent(c.name)
				hasID = append(hasID, `instr(CAST(`+col+` AS TEXT), ?1) > 0`)
				isSlug = append(isSlug, `CAST(`+col+` AS TEXT) = ?2`)
			}
			query = `SELECT count(*), coalesce(sum(` + strings.Join(hasID, ` OR `) + `), 0), coalesce(sum(` +
				strings.Join(isSlug, ` OR `) + `), 0) FROM ` + tb.quoted + ` x`
			args = []any{id, slug}
		}
		var rows, withID, withSlug int64
		if err := tx.QueryRowContext(ctx, query, args...).Scan(&rows, &withID, &withSlug); err != nil {
			return fmt.Errorf("lifecycle: verify %s: %w", tb.name, err)
		}
		rep.Tables++
		rep.Rows += rows
		if withID > 0 {
			rep.Findings = append(rep.Findings, Finding{Store: "table " + tb.name, Where: "rows", Match: "id in a column", Count: withID})
		}
		if withSlug > 0 {
			rep.Findings = append(rep.Findings, Finding{Store: "table " + tb.name, Where: "rows", Match: "slug as a value", Count: withSlug})
		}
	}
	return nil
}

// namesTenant reports whether a key names the tenant: it contains the ID,
// or has the slug as a whole segment.
func namesTenant(key, id, slug, seps string) string {
	if strings.Contains(key, id) {
		return "id in name"
	}
	for _, seg := range strings.FieldsFunc(key, func(r rune) bool { return strings.ContainsRune(seps, r) }) {
		if seg == slug {
			return "slug in name"
		}
	}
	return ""
}

const redisScanCount = 1000

// verifyRedis scans every node that can hold keys (see WithRedis), each
// with its own client, which reaches the keys it holds whatever the
// hashing says; nodes are scanned at once, each into a report of its own.
func (m *Manager) verifyRedis(ctx context.Context, id, slug string, rep *Report) error {
	var mu sync.Mutex
	err := redisnodes.ForEach(ctx, m.redis, func(ctx context.Context, c *redis.Client) error {
		var local Report
		var cursor uint64
		for {
			keys, next, err := c.Scan(ctx, cursor, "*", redisScanCount).Result()
			if err != nil {
				return err
			}
			if err := inspectKeys(ctx, c, keys, id, slug, &local); err != nil {
				return err
			}
			if next == 0 {
				break
			}
			cursor = next
		}
		mu.Lock()
		defer mu.Unlock()
		rep.RedisKeys += local.RedisKeys
		rep.Uninspected += local.Uninspected
		rep.Findings = append(rep.Findings, local.Findings...)
		return nil
	})
	if err != nil {
		return fmt.Errorf("lifecycle: verify redis: %w", err)
	}
	return nil
}

// inspectKeys checks one SCAN batch: names, then values by type, in two
// pipelines.
func inspectKeys(ctx context.Context, c redis.UniversalClient, keys []string, id, slug string, rep *Report) error {
	if len(keys) == 0 {
		return nil
	}
	rep.RedisKeys += int64(len(keys))
	for _, k := range keys {
		if match := namesTenant(k, id, slug, ":{}/."); match != "" {
			rep.Findings = append(rep.Findings, Finding{Store: "redis", Where: k, Match: match})
		}
	}
	types := make([]*redis.StatusCmd, len(keys))
	if _, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			types[i] = p.Type(ctx, k)
		}
		return nil
	}); err != nil {
		return err
	}
	vals := make([]redis.Cmder, len(keys))
	if _, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			switch types[i].Val() {
			case "string":
				vals[i] = p.Get(ctx, k)
			case "hash":
				vals[i] = p.HGetAll(ctx, k)
			case "list":
				vals[i] = p.LRange(ctx, k, 0, -1)
			case "set":
				vals[i] = p.SMembers(ctx, k)
			case "zset":
				vals[i] = p.ZRange(ctx, k, 0, -1)
			case "none":
				// expired between SCAN and TYPE
			default:
				rep.Uninspected++
			}
		}
		return nil
	}); err != nil && err != redis.Nil {
		return err
	}
	for i, cmd := range vals {
		if cmd == nil {
			continue
		}
		var found bool
		switch x := cmd.(type) {
		case *redis.StringCmd:
			found = strings.Contains(x.Val(), id)
		case *redis.MapStringStringCmd:
			for k, v := range x.Val() {
				found = found || strings.Contains(k, id) || strings.Contains(v, id)
			}
		case *redis.StringSliceCmd:
			for _, v := range x.Val() {
				found = found || strings.Contains(v, id)
			}
		}
		if found {
			rep.Findings = append(rep.Findings, Finding{Store: "redis", Where: keys[i], Match: "id in value"})
		}
	}
	return nil
}

func (m *Manager) verifyBucket(ctx context.Context, id, slug string, rep *Report) error {
	it := m.bucket.List(&blob.ListOptions{})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("lifecycle: verify bucket: %w", err)
		}
		rep.Objects++
		if match := namesTenant(obj.Key, id, slug, "/"); match != "" {
			rep.Findings = append(rep.Findings, Finding{Store: "blob", Where: obj.Key, Match: match})
		}
	}
}
