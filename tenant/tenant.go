package tenant

import (
	"fmt"
	"log/slog"
	"time"
)

// Status is the lifecycle state of a tenant.
type Status string

// Tenant statuses. A suspended tenant still resolves, so that its users can be
// shown a clear answer, but serves no data.
const (
	StatusActive    Status = "active"
	StatusSuspended Status = "suspended"
)

// Valid reports whether s is a known status.
func (s Status) Valid() bool { return s == StatusActive || s == StatusSuspended }

// Branding is the presentation metadata a tenant shows its users, as in the
// tenant-branding response of the source plan.
type Branding struct {
	// LogoURL is an absolute http(s) URL or empty.
	LogoURL string `json:"logo_url"`
	// PrimaryColor is a CSS hex colour such as "#0a7cff", or empty.
	PrimaryColor string `json:"primary_color"`
}

// Tenant is one customer of a multi-tenant service.
//
// ID is the stable, opaque identity: every isolation boundary in tenantwall
// (row level security, cache keys, blob prefixes, token claims) is built on
// ID, never on Slug, because a slug may be renamed. Slug names the tenant in
// host names and URLs.
//
// ID must be a UUID in canonical lowercase form (8-4-4-4-12 hex digits, as
// made by NewID); ValidateID and every store refuse anything else, so map an
// existing numeric or string key to a UUID once (for example a column
// holding NewID's value) rather than passing it as the ID.
//
// A Tenant is a plain value. Once placed in a context with NewContext it is
// copied and cannot be changed through the context: FromContext returns a
// copy.
type Tenant struct {
	ID        string    `json:"tenant_id"`    // canonical lowercase UUID; the isolation key
	Slug      string    `json:"slug"`         // DNS label naming the tenant in hosts (ValidateSlug)
	Name      string    `json:"company_name"` // display name, 1 to 200 bytes
	Status    Status    `json:"status"`       // only StatusActive is served
	Branding  Branding  `json:"branding"`     // presentation metadata
	CreatedAt time.Time `json:"created_at"`   // set by the store
}

// Active reports whether the tenant may be served.
func (t Tenant) Active() bool { return t.Status == StatusActive }

// Validate checks every field of t: a canonical UUID ID, a valid slug, a
// non-empty name, a known status and well-formed branding.
func (t Tenant) Validate() error {
	if err := ValidateID(t.ID); err != nil {
		return err
	}
	if err := ValidateSlug(t.Slug); err != nil {
		return err
	}
	if t.Name == "" {
		return fmt.Errorf("%w: tenant %s has an empty name", ErrInvalidTenant, t.ID)
	}
	if len(t.Name) > 200 {
		return fmt.Errorf("%w: tenant %s has a name longer than 200 bytes", ErrInvalidTenant, t.ID)
	}
	if !t.Status.Valid() {
		return fmt.Errorf("%w: tenant %s has unknown status %q", ErrInvalidTenant, t.ID, t.Status)
	}
	return t.Branding.validate()
}

// LogValue makes a Tenant log as a group holding its id and slug only, so
// that names and branding never end up in logs by accident.
func (t Tenant) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", t.ID), slog.String("slug", t.Slug))
}

// String returns "slug (id)".
func (t Tenant) String() string { return t.Slug + " (" + t.ID + ")" }

func (b Branding) validate() error {
	if b.LogoURL != "" {
		if len(b.LogoURL) > 2048 || !(hasPrefixFold(b.LogoURL, "https://") || hasPrefixFold(b.LogoURL, "http://")) {
			return fmt.Errorf("%w: logo URL %q is not an http(s) URL", ErrInvalidTenant, b.LogoURL)
		}
		for i := 0; i < len(b.LogoURL); i++ {
			if c := b.LogoURL[i]; c <= ' ' || c == 0x7f || c == '"' || c == '<' || c == '>' {
				return fmt.Errorf("%w: logo URL %q contains a forbidden character", ErrInvalidTenant, b.LogoURL)
			}
		}
	}
	if c := b.PrimaryColor; c != "" {
		ok := (len(c) == 7 || len(c) == 4) && c[0] == '#'
		for i := 1; ok && i < len(c); i++ {
			ok = isHex(c[i])
		}
		if !ok {
			return fmt.Errorf("%w: primary colour %q is not #rgb or #rrggbb", ErrInvalidTenant, c)
		}
	}
	return nil
}

func hasPrefixFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
