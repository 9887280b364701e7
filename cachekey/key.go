package cachekey

import (
	"strconv"
	"strings"
	"unsafe"
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

// build writes "<prefix>:<id>:<seg><gen>:<part>:<part>…", seg being
// "e<epoch>:g" (the ID in braces with hash tags) with exactly one allocation: the length is computed
// first, the bytes copied into a buffer of that size, and the buffer
// becomes the string without a copy, as strings.Builder does.
func build(prefix, id string, hashTags bool, seg string, gen uint64, parts []string) string {
	var num [20]byte
	g := strconv.AppendUint(num[:0], gen, 10)
	n := len(prefix) + len(id) + 2 + len(seg) + len(g) + len(parts)
	if hashTags {
		n += 2
	}
	var plain uint64 // bit i: part i needs no escaping (the common case)
	for i, p := range parts {
		l := partLen(p)
		if l == len(p) && i < 64 {
			plain |= 1 << i
		}
		n += l
	}
	buf := make([]byte, n)
	w := copy(buf, prefix)
	buf[w] = ':'
	w++
	if hashTags {
		buf[w] = '{'
		w++
		w += copy(buf[w:], id)
		buf[w] = '}'
		w++
	} else {
		w += copy(buf[w:], id)
	}
	buf[w] = ':'
	w++
	w += copy(buf[w:], seg)
	w += copy(buf[w:], g)
	for i, p := range parts {
		buf[w] = ':'
		w++
		if i < 64 && plain&(1<<i) != 0 {
			w += copy(buf[w:], p)
			continue
		}
		for j := 0; j < len(p); j++ {
			if c := p[j]; escaped[c] {
				buf[w], buf[w+1], buf[w+2] = '%', hexDigits[c>>4], hexDigits[c&15]
				w += 3
			} else {
				buf[w] = c
				w++
			}
		}
	}
	return unsafe.String(unsafe.SliceData(buf), len(buf))
}

// decodePart reverses the escaping of one key part; it reports false for a
// malformed escape. The tests use it to prove the escaping reversible, and
// so keys injective.
func decodePart(p string) (string, bool) {
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
