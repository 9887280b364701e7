package tenant

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// NewID returns a new random tenant ID: a version 4 UUID in canonical
// lowercase form, from crypto/rand.
func NewID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand.Read panics rather than return an error)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

// exampleID shows the expected shape in error messages.
const exampleID = "0b6f4c1e-8d2a-4f3b-9c5d-7e1a2b3c4d5e"

// ValidateID checks that id is a UUID in canonical lowercase form
// (8-4-4-4-12 hex digits). Tenant IDs are compared byte for byte
// everywhere, so other spellings of the same UUID are refused rather than
// normalised. The error wraps ErrInvalidID.
func ValidateID(id string) error {
	if len(id) != 36 {
		return fmt.Errorf("%w %.40q: a tenant ID is a UUID in canonical lowercase form (36 characters, like %q; tenant.NewID makes one), got %d characters", ErrInvalidID, id, exampleID, len(id))
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return fmt.Errorf("%w %q: a tenant ID is a UUID in canonical lowercase form (like %q): want '-' at byte %d", ErrInvalidID, id, exampleID, i)
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return fmt.Errorf("%w %q: a tenant ID is a UUID in canonical lowercase form (like %q): want a lowercase hex digit at byte %d", ErrInvalidID, id, exampleID, i)
			}
		}
	}
	return nil
}
