package blobstore

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// defaultName replaces a display name that could be read as a path: one
// without any letter or digit.
const defaultName = "file"

// cleanName turns a user's file name into the display name kept in an
// object's metadata and offered in Content-Disposition: the last path
// component ('/' and '\' both separate), valid UTF-8, without control
// characters or the bidirectional formatting characters that make
// "evil\u202egnp.exe" read as "evilexe.png", at most 255 bytes.
//
// A display name must contain at least one letter or digit; anything else
// becomes "file". Deciding by what a name must contain, not by a list of
// bad names, refuses ".", "..", "...", " . ", "./", "../..", and every
// Unicode dot or space look-alike (U+2024, U+FF0E, U+3002, …) at once —
// names that a browser, an operating system (Windows drops trailing dots
// and blanks) or a later path join could turn into a directory reference.
func cleanName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.ToValidUTF8(name, "_")
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return -1
		}
		return r
	}, name)
	for len(name) > 255 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	if strings.IndexFunc(name, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) < 0 {
		return defaultName
	}
	return strings.TrimSpace(name)
}
