package resolve

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"

	"github.com/tenantwall/tenantwall/tenant"
)

// challengeLabel is the DNS label under a custom domain where its TXT
// verification record lives: _tenantwall-challenge.crm.acme.com.
const challengeLabel = "_tenantwall-challenge"

// DNS is the part of *net.Resolver that verification uses; inject a fake
// or a resolver pointed at a test DNS server in tests.
type DNS interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupCNAME(ctx context.Context, host string) (string, error)
}

// Verifier proves that a tenant controls a custom domain, by a TXT record
// holding a token bound to (tenant, domain), or by a CNAME to a target name
// bound to (tenant, domain) under the platform's CNAME domain. Both are
// HMACs under a platform secret, so they need no storage, cannot be
// guessed, and what one tenant publishes proves nothing for another. Safe
// for concurrent use.
type Verifier struct {
	dns    DNS
	secret []byte
	target string // CNAME domain, normalised; empty disables CNAME proof
}

// NewVerifier returns a Verifier. secret must hold at least 32 bytes.
// cnameTarget (such as "domains.example.com") may be empty, which disables
// CNAME proof; otherwise the platform's DNS must answer every name under
// it (a wildcard) with address records, not a further CNAME, because the
// proof is the end of the host's CNAME chain: CNAMETarget, exactly.
func NewVerifier(dns DNS, secret []byte, cnameTarget string) (*Verifier, error) {
	if dns == nil || len(secret) < 32 {
		return nil, fmt.Errorf("%w: verifier needs a DNS resolver and a 32-byte secret", ErrConfig)
	}
	v := &Verifier{dns: dns, secret: append([]byte(nil), secret...)}
	if cnameTarget != "" {
		t, err := Normalize(cnameTarget)
		if err != nil {
			return nil, fmt.Errorf("%w: CNAME target: %w", ErrConfig, err)
		}
		v.target = t
	}
	return v, nil
}

// Token returns the TXT value that proves tenantID controls host.
func (v *Verifier) Token(tenantID, host string) string {
	return "tenantwall-verification=" + v.mac("txt", tenantID, host)
}

// CNAMETarget returns the name host must be a CNAME of to prove that
// tenantID controls it: one label bound to (tenant, host) under the CNAME
// target given to NewVerifier, or "" when CNAME proof is disabled. A CNAME
// to the bare target proves nothing, since every tenant's domains point
// at the platform.
func (v *Verifier) CNAMETarget(tenantID, host string) string {
	if v.target == "" {
		return ""
	}
	// The "tw-" prefix keeps the label from ever being an IDNA A-label or
	// starting with a digit-only run that looks like an address.
	return "tw-" + v.mac("cname", tenantID, host) + "." + v.target
}

// mac binds (purpose, tenant, host) under the secret. The purpose keeps a
// TXT token from being usable as a CNAME label and the reverse.
func (v *Verifier) mac(purpose, tenantID, host string) string {
	m := hmac.New(sha256.New, v.secret)
	if purpose != "txt" {
		// TXT tokens keep their original input, so records already
		// published stay valid.
		m.Write([]byte(purpose + "\x00"))
	}
	m.Write([]byte(tenantID + "\x00" + host))
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(m.Sum(nil)[:20]))
}

// RecordName returns where the TXT record goes.
func (v *Verifier) RecordName(host string) string { return challengeLabel + "." + host }

// Verify checks the DNS of d: the TXT record under RecordName holds the
// token for d's tenant, or d's host is a CNAME of CNAMETarget for d's
// tenant. It returns nil or an error wrapping ErrUnverified, and the DNS
// failure when a lookup failed for another reason than a missing record
// (so that Reverify can tell an outage from a departure). A domain whose
// tenant ID is not canonical (tenant.ErrInvalidID) is never verified.
func (v *Verifier) Verify(ctx context.Context, d tenant.Domain) error {
	host, err := Normalize(d.Host)
	if err != nil {
		return err
	}
	if err := tenant.ValidateID(d.TenantID); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnverified, host, err)
	}
	want := v.Token(d.TenantID, host)
	txts, txtErr := v.dns.LookupTXT(ctx, v.RecordName(host))
	for _, t := range txts {
		if hmac.Equal([]byte(strings.TrimSpace(t)), []byte(want)) {
			return nil
		}
	}
	if v.target != "" {
		cname, err := v.dns.LookupCNAME(ctx, host)
		if err == nil {
			if c, nerr := Normalize(cname); nerr == nil && hmac.Equal([]byte(c), []byte(v.CNAMETarget(d.TenantID, host))) {
				return nil
			}
		} else if transient(err) {
			return fmt.Errorf("%w: %s: CNAME lookup: %w", ErrUnverified, host, err)
		}
	}
	if txtErr != nil && len(txts) == 0 {
		return fmt.Errorf("%w: %s: %w", ErrUnverified, host, txtErr)
	}
	if v.target != "" {
		return fmt.Errorf("%w: %s: no TXT %s with the tenant's token and no CNAME to the tenant's target", ErrUnverified, host, v.RecordName(host))
	}
	return fmt.Errorf("%w: %s: no TXT %s with the tenant's token", ErrUnverified, host, v.RecordName(host))
}

// Reverify checks every active or verified domain of the store's tenants
// and marks removed those whose DNS no longer proves control (the domain
// was let go, or points elsewhere). It returns the domains it removed.
// DNS errors other than a clean "no such record" leave a domain as it is.
func (v *Verifier) Reverify(ctx context.Context, store tenant.Store) ([]tenant.Domain, error) {
	ts, err := store.List(ctx)
	if err != nil {
		return nil, err
	}
	var removed []tenant.Domain
	for _, t := range ts {
		ds, err := store.Domains(ctx, t.ID)
		if err != nil {
			return removed, err
		}
		for _, d := range ds {
			if d.Status != tenant.DomainActive && d.Status != tenant.DomainVerified {
				continue
			}
			if err := v.Verify(ctx, d); err == nil || !definitelyGone(err) {
				continue
			}
			d.Status = tenant.DomainRemoved
			if err := store.PutDomain(ctx, d); err != nil {
				return removed, err
			}
			removed = append(removed, d)
		}
	}
	return removed, nil
}

// definitelyGone tells a proof that is missing from a DNS failure that
// might pass: only the former removes a domain.
func definitelyGone(err error) bool {
	var nf interface{ IsNotFound() bool }
	if errors.As(err, &nf) {
		return nf.IsNotFound()
	}
	return !transient(err) && errors.Is(err, ErrUnverified)
}

// transient reports a DNS failure that may pass (a timeout, a SERVFAIL),
// which proves neither presence nor absence of a record.
func transient(err error) bool {
	var tmp interface{ Temporary() bool }
	if errors.As(err, &tmp) && tmp.Temporary() {
		return true
	}
	var to interface{ Timeout() bool }
	return errors.As(err, &to) && to.Timeout()
}
