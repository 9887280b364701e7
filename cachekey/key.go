package cachekey

import (
	"strconv"
	"strings"
)

// escaped reports the bytes a key part may not carry as is: the part
// separator, the escape itself, Redis Cluster hash-tag braces, the SCAN
// MATCH glob characters, and control bytes. They are written as %XX, so
// that parts are joined injectively: no two part lists give the same key,
// and no part can reach into another tenant's namespace or hash slot.
var escaped = func() (t [256]bool) {
	for _, c := range []byte(":%{}*?[]\\") {
		t[c] = true
	}
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t[0x7f] = true
	return t
}()

const hexDigits = "0123456789ABCDEF"

// partLen returns the encoded length of p.
func partLen(p string) int {
	n := len(p)
	for i := 0; i < len(p); i++ {
		if escaped[p[i]] {
			n += 2
		}
	}
	return n
}

func writePart(b *strings.Builder, p string) {
	start := 0
	for i := 0; i < len(p); i++ {
		if c := p[i]; escaped[c] {
			b.WriteString(p[start:i])
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
			start = i + 1
		}
	}
	b.WriteString(p[start:])
}

// build writes "<ns>g<gen>:<part>:<part>…" with exactly one allocation.
func build(ns string, gen uint64, parts []string) string {
	var num [20]byte
	g := strconv.AppendUint(num[:0], gen, 10)
	n := len(ns) + 1 + len(g) + len(parts)
	for _, p := range parts {
		n += partLen(p)
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(ns)
	b.WriteByte('g')
	b.Write(g)
	for _, p := range parts {
		b.WriteByte(':')
		writePart(&b, p)
	}
	return b.String()
}

// DecodePart reverses the escaping of one key part, for tools that read
// keys back. It reports false for a malformed escape.
func DecodePart(p string) (string, bool) {
	if !strings.Contains(p, "%") {
		return p, true
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] != '%' {
			b.WriteByte(p[i])
			continue
		}
		if i+2 >= len(p) {
			return "", false
		}
		v, err := strconv.ParseUint(p[i+1:i+3], 16, 8)
		if err != nil {
			return "", false
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String(), true
}

// escapeGlob escapes Redis MATCH pattern characters.
func escapeGlob(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
