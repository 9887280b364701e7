package tenant

import (
	"fmt"
	"time"
)

// DomainStatus is the lifecycle state of a custom domain.
type DomainStatus string

// Domain statuses. Only an active domain resolves to its tenant.
const (
	// DomainPending: added, ownership not yet proven.
	DomainPending DomainStatus = "pending"
	// DomainVerified: ownership proven through DNS, not yet serving.
	DomainVerified DomainStatus = "verified"
	// DomainActive: verified and serving the tenant.
	DomainActive DomainStatus = "active"
	// DomainRemoved: taken away from the tenant. The record is kept so that
	// another tenant cannot claim the name without fresh verification.
	DomainRemoved DomainStatus = "removed"
)

// Valid reports whether s is a known domain status.
func (s DomainStatus) Valid() bool {
	switch s {
	case DomainPending, DomainVerified, DomainActive, DomainRemoved:
		return true
	}
	return false
}

// Domain is a custom domain record: a host name that belongs to one tenant.
type Domain struct {
	// Host is the canonical host name (see ValidateDomain); normalise user
	// input with resolve.Normalize first.
	Host      string       `json:"host"`
	TenantID  string       `json:"tenant_id"`  // the owning tenant's ID
	Status    DomainStatus `json:"status"`     // only DomainActive serves
	CreatedAt time.Time    `json:"created_at"` // set by the store
	UpdatedAt time.Time    `json:"updated_at"` // set by the store
}

// Validate checks the host, tenant ID and status of d.
func (d Domain) Validate() error {
	if err := ValidateDomain(d.Host); err != nil {
		return err
	}
	if err := ValidateID(d.TenantID); err != nil {
		return fmt.Errorf("domain %q: %w", d.Host, err)
	}
	if !d.Status.Valid() {
		return fmt.Errorf("%w %q: unknown status %q", ErrInvalidDomain, d.Host, d.Status)
	}
	return nil
}

// maxDomainLen is the longest host name in its ASCII form (RFC 1035, without
// the trailing dot).
const maxDomainLen = 253

// ValidateDomain reports whether host is already a canonical DNS host name:
// lowercase ASCII letters, digits and hyphens in dot-separated labels of 1 to
// 63 bytes, no label starting or ending with a hyphen, at most 253 bytes, no
// trailing dot, and a last label that is not all digits (so no IPv4 literal
// in any spelling). It does not normalise; resolve.Normalize does, and ends
// by calling this function. The error wraps ErrInvalidDomain.
func ValidateDomain(host string) error {
	p := checkDomain(host)
	switch p.kind {
	case domainOK:
		return nil
	case domainEmpty:
		return fmt.Errorf("%w: empty host", ErrInvalidDomain)
	case domainTooLong:
		return fmt.Errorf("%w %.40q…: longer than %d bytes", ErrInvalidDomain, host, maxDomainLen)
	case domainBadChar:
		return fmt.Errorf("%w %q: character %q at byte %d", ErrInvalidDomain, host, host[p.pos], p.pos)
	case domainEmptyLabel:
		return fmt.Errorf("%w %q: empty label at byte %d", ErrInvalidDomain, host, p.pos)
	case domainLongLabel:
		return fmt.Errorf("%w %q: label longer than 63 bytes", ErrInvalidDomain, host)
	case domainHyphen:
		return fmt.Errorf("%w %q: label starts or ends with a hyphen", ErrInvalidDomain, host)
	default: // domainNumeric
		return fmt.Errorf("%w %q: numeric top-level label (an IP address?)", ErrInvalidDomain, host)
	}
}

// IsDomain reports whether ValidateDomain(host) would succeed, without
// building an error: for hot paths that only branch on the answer.
func IsDomain(host string) bool { return checkDomain(host).kind == domainOK }

type domainProblem struct {
	kind uint8
	pos  int
}

const (
	domainOK = iota
	domainEmpty
	domainTooLong
	domainBadChar
	domainEmptyLabel
	domainLongLabel
	domainHyphen
	domainNumeric
)

func checkDomain(host string) domainProblem {
	if host == "" {
		return domainProblem{kind: domainEmpty}
	}
	if len(host) > maxDomainLen {
		return domainProblem{kind: domainTooLong}
	}
	labelStart := 0
	allDigits := true
	for i := 0; i < len(host); i++ {
		switch hostClass[host[i]] {
		case classDigit:
			continue
		case classLetter:
			allDigits = false
			continue
		case classDot:
			if k := checkLabel(host, labelStart, i); k != domainOK {
				return domainProblem{kind: k, pos: i}
			}
			labelStart = i + 1
			allDigits = true
		default:
			return domainProblem{kind: domainBadChar, pos: i}
		}
	}
	if k := checkLabel(host, labelStart, len(host)); k != domainOK {
		return domainProblem{kind: k, pos: len(host)}
	}
	if allDigits {
		return domainProblem{kind: domainNumeric}
	}
	return domainProblem{}
}

const (
	classInvalid = iota
	classDigit
	classLetter // a-z and '-'
	classDot
)

// hostClass classifies bytes for ValidateDomain, which runs on every
// request: a table lookup is cheaper than a chain of comparisons.
var hostClass = func() (t [256]uint8) {
	for c := '0'; c <= '9'; c++ {
		t[c] = classDigit
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = classLetter
	}
	t['-'] = classLetter
	t['.'] = classDot
	return t
}()

// checkLabel checks host[start:end], one label.
func checkLabel(host string, start, end int) uint8 {
	switch n := end - start; {
	case n == 0:
		return domainEmptyLabel
	case n > 63:
		return domainLongLabel
	case host[start] == '-' || host[end-1] == '-':
		return domainHyphen
	}
	return domainOK
}
