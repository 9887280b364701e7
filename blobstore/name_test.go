package blobstore_test

import (
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/blob/memblob"

	"github.com/tenantwall/tenantwall/blobstore"
)

// dotNames are file names that, once their path is dropped, are made of
// dots, blanks and look-alikes only: any of them kept as a display or key
// name could be read as "." or "..".
var dotNames = []string{
	".", "..", "...", "....", "./", "../", "../..", "./.", "/..", `..\..`, `\..`, "a/..", "a/.", "x/../..",
	" . ", " .. ", ". .", ".. ", " ..", "..\t", "\t.", "..\n", "..\x00", "\x00..", "..\u200b", "\u202e..",
	"\u2024", "\u2024\u2024", "\u2025", "\u2026", "\uff0e", "\uff0e\uff0e", "\u3002", "\u3002\u3002", "\uff61",
	"\ufe52\ufe52", "\u00b7\u00b7", "\u0701\u0701", ".\u3000.", "..\u00a0", "\u2800", "\u200d..\u200d",
	"..\ufeff", ".\u2060.", ". . .", "-..-", "_._", "..~", "~", "", " ", "\u3000",
}

func TestDisplayNameIsNeverDotOnly(t *testing.T) {
	base := memblob.OpenBucket(nil)
	t.Cleanup(func() { base.Close() })
	store, err := blobstore.New(base)
	require.NoError(t, err)
	tt := newTwo()
	b, err := store.Bucket(tt.ctxA)
	require.NoError(t, err)

	for _, name := range dotNames {
		t.Run("an upload named "+strings.ToValidUTF8(strings.ReplaceAll(name, "/", "⁄"), "?")+" is stored as file", func(t *testing.T) {
			obj, err := b.Upload(tt.ctxA, "documents", name, strings.NewReader("x"), "text/plain")
			require.NoError(t, err)
			assert.Equal(t, "file", obj.Name, "display name of %q", name)
			assert.True(t, strings.HasSuffix(obj.Key, "_file"), "key %q of %q", obj.Key, name)
			_, params, err := parseCD(blobstore.ContentDisposition(name))
			require.NoError(t, err)
			assert.Equal(t, "file", params["filename"], "Content-Disposition of %q", name)
			assert.Equal(t, "file", blobstore.SanitizeName(name), "SanitizeName(%q)", name)
		})
	}
	t.Run("names with a letter or digit keep them", func(t *testing.T) {
		for name, want := range map[string]string{
			"..a": "..a", "a..": "a..", " .. 1 ": ".. 1", "../../Q3.pdf": "Q3.pdf", "文件": "文件", "٣": "٣",
			"evil\u202egnp.exe": "evilgnp.exe", "\u2066x\u2069.txt": "x.txt", "a\u0085b": "ab",
		} {
			obj, err := b.Upload(tt.ctxA, "documents", name, strings.NewReader("x"), "text/plain")
			require.NoError(t, err)
			assert.Equal(t, want, obj.Name, "display name of %q", name)
		}
	})
}

func FuzzDisplayName(f *testing.F) {
	for _, s := range dotNames {
		f.Add(s)
	}
	f.Add("Q3 plan.pdf")
	f.Fuzz(func(t *testing.T, name string) {
		_, params, err := parseCD(blobstore.ContentDisposition(name))
		if err != nil {
			t.Fatalf("ContentDisposition(%q) does not parse: %v", name, err)
		}
		got := params["filename"]
		if got == "" || got == "." || got == ".." || strings.ContainsAny(got, "/\\\x00") {
			t.Fatalf("display name of %q is %q", name, got)
		}
		if strings.IndexFunc(got, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) < 0 {
			t.Fatalf("display name of %q is %q, without a letter or digit", name, got)
		}
		if strings.IndexFunc(got, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) }) >= 0 {
			t.Fatalf("display name of %q is %q, with control characters", name, got)
		}
	})
}
