package blobstore_test

import (
	"context"
	"path"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/blob/memblob"

	"github.com/tenantwall/tenantwall/blobstore"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

// traversal is the corpus of keys that must never reach the bucket.
var traversal = []string{
	"", "/", "/etc/passwd", "../x", "a/../../x", "a/..", "..", ".", "./a", "a/./b", "a//b", "a/", "...",
	"a/.../b", `..\x`, `a\b`, "%2e%2e/x", "%2E%2E%2Fx", "a%00b", "a\x00b", "a\nb", "a\rb", "a\tb", "a b",
	"．．/x", "a／b", "a\u2024\u2024/x", "\u2215etc", "ａ", "é.pdf", "tenants/../x", "a?b", "a#b", "a*b",
	"a:b", "C:/x", "~/.ssh", "a\x7fb", strings.Repeat("a", blobstore.MaxKeyLen+1),
}

func TestCheckKeyRefusesTraversal(t *testing.T) {
	for _, k := range traversal {
		assert.ErrorIs(t, blobstore.CheckKey(k), blobstore.ErrInvalidKey, "key %q", k)
	}
	for _, k := range []string{"a", "documents/1f_x.pdf", "a/b/c", "a.b", "a..b", ".hidden/x", "x-y_z.tar.gz"} {
		assert.NoError(t, blobstore.CheckKey(k), "key %q", k)
	}
}

func TestTraversalNeverReachesTheBucket(t *testing.T) {
	store, err := blobstore.New(memblob.OpenBucket(nil))
	require.NoError(t, err)
	b, err := store.Bucket(tenant.NewContext(context.Background(), tenanttest.NewTenant("acme")))
	require.NoError(t, err)
	ctx := context.Background()
	for _, k := range traversal {
		_, err := b.Put(ctx, k, "x", strings.NewReader("x"), "text/plain")
		assert.ErrorIs(t, err, blobstore.ErrInvalidKey, "Put %q", k)
		_, err = b.Open(ctx, k)
		assert.ErrorIs(t, err, blobstore.ErrInvalidKey, "Open %q", k)
		_, err = b.Stat(ctx, k)
		assert.ErrorIs(t, err, blobstore.ErrInvalidKey, "Stat %q", k)
		assert.ErrorIs(t, b.Delete(ctx, k), blobstore.ErrInvalidKey, "Delete %q", k)
	}
}

func FuzzObjectKey(f *testing.F) {
	for _, k := range traversal {
		f.Add(k)
	}
	f.Add("documents/ab_file.pdf")
	store, _ := blobstore.New(memblob.OpenBucket(nil))
	b, _ := store.Bucket(tenant.NewContext(context.Background(), tenant.Tenant{ID: "3f0c9a52-6a7e-4c4e-9a35-2d1f0e8b7c61"}))
	prefix := store.Prefix("3f0c9a52-6a7e-4c4e-9a35-2d1f0e8b7c61")
	f.Fuzz(func(t *testing.T, key string) {
		full, err := b.FullKey(key)
		if err != nil {
			return
		}
		if !strings.HasPrefix(full, prefix) || path.Clean(full) != full || strings.Contains(full, "..") && strings.Contains("/"+key+"/", "/../") {
			t.Fatalf("key %q became %q, outside %q", key, full, prefix)
		}
		if path.Clean("/"+full) != "/"+full || strings.ContainsAny(full, "\\%\x00") {
			t.Fatalf("key %q gives unsafe %q", key, full)
		}
	})
}

func TestSanitizeName(t *testing.T) {
	cases := map[string]string{
		"report.pdf":                       "report.pdf",
		"../../etc/passwd":                 "passwd",
		`C:\Users\me\photo.JPG`:            "photo.JPG",
		"my résumé (final).docx":           "my_r_sum_final_.docx",
		".bashrc":                          "bashrc",
		"--help":                           "help",
		"...":                              "file",
		"":                                 "file",
		"a\x00b.txt":                       "a_b.txt",
		"évil\u202egnp.exe":                "vil_gnp.exe",
		"name%2e%2e.pdf":                   "name_2e_2e.pdf",
		strings.Repeat("x", 300) + ".pdf":  strings.Repeat("x", 96) + ".pdf",
		"photo.tar.gz":                     "photo.tar.gz",
		"noext.":                           "noext",
		"file.verylongextensionnamehere1x": "file.verylongextensionnamehere1x",
	}
	for in, want := range cases {
		got := blobstore.SanitizeName(in)
		if in == "file.verylongextensionnamehere1x" {
			assert.NoError(t, blobstore.CheckKey(got))
			continue
		}
		assert.Equal(t, want, got, "SanitizeName(%q)", in)
		assert.NoError(t, blobstore.CheckKey(got), "SanitizeName(%q) = %q", in, got)
	}
}

func TestNewKeyIsUniqueAndSafe(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		k, err := blobstore.NewKey("documents", "../../Quarterly Report.pdf")
		require.NoError(t, err)
		require.NoError(t, blobstore.CheckKey(k))
		assert.True(t, strings.HasPrefix(k, "documents/"))
		assert.True(t, strings.HasSuffix(k, "_Quarterly_Report.pdf"), k)
		assert.False(t, seen[k])
		seen[k] = true
	}
	for _, kind := range []string{"", "Docs", "../x", "a/b", "1docs", strings.Repeat("a", 41), "docs%"} {
		_, err := blobstore.NewKey(kind, "x")
		assert.ErrorIs(t, err, blobstore.ErrInvalidKind, "kind %q", kind)
	}
}

func FuzzSanitizeName(f *testing.F) {
	for _, s := range append([]string{"report.pdf", "../../x", "ａ．ｂ", "\x00", strings.Repeat("x", 300) + ".tar.gz"}, dotNames...) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		out := blobstore.SanitizeName(name)
		if err := blobstore.CheckKey(out); err != nil || len(out) > blobstore.MaxNameLen {
			t.Fatalf("SanitizeName(%q) = %q: %v", name, out, err)
		}
		if out == "" || strings.Trim(out, ".") == "" || strings.ContainsAny(out, "/\\\x00") {
			t.Fatalf("SanitizeName(%q) = %q: empty, dot-only or with a separator", name, out)
		}
		if _, err := blobstore.NewKey("documents", name); err != nil {
			t.Fatalf("NewKey(%q): %v", name, err)
		}
	})
}
