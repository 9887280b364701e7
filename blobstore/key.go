package blobstore

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path"
	"strings"
	"unicode/utf8"
)

// maxKeyLen bounds an object key relative to the tenant's prefix.
const maxKeyLen = 512

// keyByte is the safe key alphabet: ASCII letters, digits, '.', '_', '-'
// and '/' as the separator. Everything else — backslashes, '%' (so no
// percent-encoded dots), NUL and control bytes, spaces, and every
// non-ASCII byte (so no full-width dots or other look-alikes) — is refused.
var keyByte = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "._-/" {
		t[c] = true
	}
	return t
}()

// checkKey validates an object key relative to a tenant's prefix: 1 to
// maxKeyLen bytes of the safe alphabet, '/'-separated segments that are
// neither empty (no leading, trailing or doubled '/') nor made only of
// dots ("." and ".." in particular). A key that passes can never resolve
// outside the prefix, on any gocloud.dev driver or file system. The error
// wraps ErrInvalidKey and names the problem.
func checkKey(key string) error {
	if key == "" || len(key) > maxKeyLen {
		return fmt.Errorf("%w %.60q: want 1 to %d bytes", ErrInvalidKey, key, maxKeyLen)
	}
	for i := 0; i < len(key); i++ {
		if !keyByte[key[i]] {
			return fmt.Errorf("%w %.60q: byte %q at %d is not allowed", ErrInvalidKey, key, key[i], i)
		}
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" {
			return fmt.Errorf("%w %.60q: empty path segment", ErrInvalidKey, key)
		}
		if strings.Trim(seg, ".") == "" {
			return fmt.Errorf("%w %.60q: dot segment %q", ErrInvalidKey, key, seg)
		}
	}
	return nil
}

// checkKind validates an upload kind such as "documents": 1 to 40 bytes
// of a-z, 0-9, '_' and '-', starting with a letter.
func checkKind(kind string) error {
	if kind == "" || len(kind) > 40 || !('a' <= kind[0] && kind[0] <= 'z') {
		return fmt.Errorf("%w %.50q", ErrInvalidKind, kind)
	}
	for i := 0; i < len(kind); i++ {
		c := kind[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("%w %q: byte %q", ErrInvalidKind, kind, c)
		}
	}
	return nil
}

// maxNameLen bounds the readable part of a generated key.
const maxNameLen = 100

// sanitizeName turns a user's file name into the readable part of a key:
// path components are dropped (both '/' and '\'), every byte outside the
// safe alphabet becomes '_', runs of '_' collapse, leading dots, dashes
// and underscores go (no hidden files, no option-like names), the base is
// cut so that the whole fits maxNameLen while the extension is kept, and
// an empty result becomes "file".
func sanitizeName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	var b strings.Builder
	lastUnderscore := false
	for _, r := range name {
		c := byte('_')
		if r < utf8.RuneSelf && keyByte[r] && r != '/' {
			c = byte(r)
		}
		if c == '_' {
			if lastUnderscore {
				continue
			}
			lastUnderscore = true
		} else {
			lastUnderscore = false
		}
		b.WriteByte(c)
	}
	s := strings.TrimLeft(b.String(), "._-")
	s = strings.TrimRight(s, "._-")
	if s == "" {
		return "file"
	}
	ext := path.Ext(s)
	if len(ext) > 16 || len(ext) < 2 {
		ext = ""
	}
	base := strings.TrimSuffix(s, ext)
	if len(base)+len(ext) > maxNameLen {
		base = strings.TrimRight(base[:maxNameLen-len(ext)], "._-")
	}
	if base == "" {
		base = "file"
	}
	return base + ext
}

// newKey returns a fresh key for an upload of the given kind and user file
// name: "<kind>/<16 random hex>_<sanitised name>". The random part keeps
// uploads from ever overwriting each other, and the key always passes
// checkKey.
func newKey(kind, filename string) (string, error) {
	if err := checkKind(kind); err != nil {
		return "", err
	}
	var r [8]byte
	rand.Read(r[:])
	return kind + "/" + hex.EncodeToString(r[:]) + "_" + sanitizeName(filename), nil
}
