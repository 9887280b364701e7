package jwtclaims

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unsafe"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tenantwall/tenantwall/tenant"
)

// Defaults of the options.
const (
	DefaultAccessTTL  = 15 * time.Minute
	DefaultRefreshTTL = 7 * 24 * time.Hour
	DefaultLeeway     = 30 * time.Second
)

// Authority issues and validates the tenant-bound tokens of one service.
// The audience of a token is "<audience>:<tenant ID>", so a token is
// bound to its tenant twice: by the tenant_id claim and by the audience,
// and both are checked against the request's resolved tenant. It is safe
// for concurrent use.
type Authority struct {
	keys     KeySource
	issuer   string
	audience string
	options
	methods []string
	parser  *jwt.Parser
	cache   *verifiedCache // nil without WithVerifiedCache
}

// Option configures an Authority. Options write to a private options
// value, never to a live Authority, and an invalid one makes New return an
// error wrapping ErrConfig that names it.
type Option func(*options) error

// options are what New's options set; Authority embeds them.
type options struct {
	accessTTL  time.Duration
	refreshTTL time.Duration
	leeway     time.Duration
	now        func() time.Time
	auditor    tenant.Auditor
	cacheSize  int // 0: no verified-token cache
}

// WithTTL sets the lifetimes of access and refresh tokens (defaults
// DefaultAccessTTL, DefaultRefreshTTL).
func WithTTL(access, refresh time.Duration) Option {
	return func(o *options) error {
		if access <= 0 || refresh < access {
			return fmt.Errorf("%w: WithTTL(%v, %v): access must be positive and at most refresh", ErrConfig, access, refresh)
		}
		o.accessTTL, o.refreshTTL = access, refresh
		return nil
	}
}

// WithLeeway sets the clock skew allowed on exp, nbf and iat (default
// DefaultLeeway, at most five minutes).
func WithLeeway(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 || d > 5*time.Minute {
			return fmt.Errorf("%w: WithLeeway(%v): between 0 and 5m", ErrConfig, d)
		}
		o.leeway = d
		return nil
	}
}

// WithClock replaces time.Now, for tests. A nil clock is an error.
func WithClock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return fmt.Errorf("%w: WithClock(nil)", ErrConfig)
		}
		o.now = now
		return nil
	}
}

// WithAuditor sets where tokens presented on the wrong tenant are reported
// (default tenant.DefaultAuditor).
func WithAuditor(au tenant.Auditor) Option {
	return func(o *options) error { o.auditor = tenant.OrDefault(au); return nil }
}

// New returns an Authority for issuer (the iss claim) and audience (the
// service; tokens carry "<audience>:<tenant ID>").
func New(keys KeySource, issuer, audience string, opts ...Option) (*Authority, error) {
	if keys == nil || issuer == "" || audience == "" {
		return nil, fmt.Errorf("%w: keys, issuer and audience are required", ErrConfig)
	}
	o := options{accessTTL: DefaultAccessTTL, refreshTTL: DefaultRefreshTTL, leeway: DefaultLeeway,
		now: time.Now, auditor: tenant.DefaultAuditor}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	a := &Authority{keys: keys, issuer: issuer, audience: audience, options: o,
		methods: []string{jwt.SigningMethodHS256.Alg(), jwt.SigningMethodES256.Alg(), jwt.SigningMethodEdDSA.Alg()}}
	a.parser = jwt.NewParser(
		jwt.WithValidMethods(a.methods),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithIssuer(a.issuer),
		jwt.WithLeeway(a.leeway),
		jwt.WithTimeFunc(func() time.Time { return a.now() }),
	)
	if o.cacheSize > 0 {
		a.cache = newVerifiedCache(o.cacheSize)
	}
	return a, nil
}

// checkPayload runs checkClaimsJSON on a token's payload segment.
func checkPayload(token string) error {
	_, rest, _ := strings.Cut(token, ".")
	payload, _, _ := strings.Cut(rest, ".")
	// Typical claims fit the stack buffer; larger ones allocate. The
	// payload is only read, so it is viewed as bytes without a copy.
	var dstBuf [768]byte
	dst := dstBuf[:0]
	if n := base64.RawURLEncoding.DecodedLen(len(payload)); n > len(dstBuf) {
		dst = make([]byte, 0, n)
	}
	dst, err := base64.RawURLEncoding.AppendDecode(dst, unsafe.Slice(unsafe.StringData(payload), len(payload)))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrClaims, err)
	}
	return checkClaimsJSON(dst)
}

func (a *Authority) audienceFor(tenantID string) string { return a.audience + ":" + tenantID }

// isAudience reports aud == audienceFor(tenantID) without building it.
func (a *Authority) isAudience(aud, tenantID string) bool {
	n := len(a.audience)
	return len(aud) == n+1+len(tenantID) && aud[:n] == a.audience && aud[n] == ':' && aud[n+1:] == tenantID
}

// Issue returns an access and a refresh token for subject on the context
// tenant, signed with the tenant's current key (kid in the header).
func (a *Authority) Issue(ctx context.Context, subject string) (access, refresh string, err error) {
	t, ok := tenant.FromContext(ctx)
	if !ok || t.ID == "" {
		return "", "", tenant.ErrNoTenant
	}
	if subject == "" {
		return "", "", fmt.Errorf("%w: empty subject", ErrConfig)
	}
	key, err := a.keys.Current(ctx, t.ID)
	if err != nil {
		return "", "", keySourceErr(t.ID, "current", err)
	}
	if access, err = a.sign(key, t, subject, Access, a.accessTTL); err != nil {
		return "", "", err
	}
	if refresh, err = a.sign(key, t, subject, Refresh, a.refreshTTL); err != nil {
		return "", "", err
	}
	return access, refresh, nil
}

func (a *Authority) sign(key Key, t tenant.Tenant, subject, typ string, ttl time.Duration) (string, error) {
	if key.Sign == nil {
		return "", fmt.Errorf("%w: kid %s cannot sign", ErrConfig, key.ID)
	}
	now := a.now()
	var jti [16]byte
	rand.Read(jti[:])
	c := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    a.issuer,
			Subject:   subject,
			Audience:  jwt.ClaimStrings{a.audienceFor(t.ID)},
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ID:        hex.EncodeToString(jti[:]),
		},
		TenantID: t.ID, TenantSlug: t.Slug, Type: typ,
	}
	tok := jwt.NewWithClaims(key.Method, c)
	tok.Header["kid"] = key.ID
	return tok.SignedString(key.Sign)
}

// Validate parses and verifies a token presented on the context tenant
// and returns its claims. It requires: a kid naming a key of the request's
// tenant, and that key's own algorithm (no "none", no algorithm
// confusion); a valid signature; exp present and not past (with the
// leeway), nbf and iat not in the future; iss equal to the issuer; aud
// equal to this service on this tenant; a tenant_id claim that is a
// string equal to the request's tenant, with no duplicate or case-variant
// keys; no "crit" header (no extension is understood); and the wanted
// token type, which must be Access or Refresh. A token of another tenant gives
// ErrTenantMismatch (and an audit event); other failures wrap golang-jwt's
// errors.
func (a *Authority) Validate(ctx context.Context, token, typ string) (*Claims, error) {
	if typ != Access && typ != Refresh {
		// An allow-list: "" would otherwise accept tokens without typ.
		return nil, fmt.Errorf("%w: %q is not a token type", ErrTokenType, typ)
	}
	id, err := tenant.IDFromContext(ctx)
	if err != nil {
		return nil, err
	}
	var ck cacheKey
	if a.cache != nil {
		ck = cacheKey{tenantID: id, sum: sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))}
		if c, ok, err := a.fromCache(ctx, ck, typ); ok {
			return c, err
		}
	}
	claims := &Claims{}
	var used Key // the key the signature is checked with, for the cache
	var usedKid string
	_, err = a.parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		if crit, ok := t.Header["crit"]; ok {
			// RFC 7515 §4.1.11: extensions the recipient does not
			// understand must be refused, and this one understands none.
			return nil, fmt.Errorf("%w: critical header extensions %.100v", ErrClaims, crit)
		}
		kid, _ := t.Header["kid"].(string)
		if err := checkKid(kid); err != nil {
			return nil, err
		}
		key, err := a.keys.Key(ctx, id, kid)
		if err != nil {
			return nil, keySourceErr(id, kid, err)
		}
		if t.Method.Alg() != key.Method.Alg() {
			return nil, fmt.Errorf("%w: kid %s is an %s key, token says %s", jwt.ErrTokenSignatureInvalid, kid, key.Method.Alg(), t.Method.Alg())
		}
		used, usedKid = key, kid
		return key.Verify, nil
	})
	if err != nil {
		return nil, fmt.Errorf("jwtclaims: %w", err)
	}
	// The signature is good; now refuse claims that encoding/json read
	// leniently (duplicates, case variants, a null tenant).
	if err := checkPayload(token); err != nil {
		return nil, err
	}
	// Checked after the signature, so a forged token learns nothing.
	if claims.TenantID != id {
		a.auditor.Audit(ctx, tenant.Event{Kind: tenant.EventCrossTenant, Package: "jwtclaims",
			TenantID: id, OwnerID: claims.TenantID, Resource: "token " + claims.ID})
		return nil, ErrTenantMismatch
	}
	if len(claims.Audience) != 1 || !a.isAudience(claims.Audience[0], id) {
		return nil, fmt.Errorf("jwtclaims: %w: %w", ErrTenantMismatch, jwt.ErrTokenInvalidAudience)
	}
	if err := checkType(claims, typ); err != nil {
		return nil, err
	}
	if a.cache != nil && cacheable(used) {
		a.cache.add(ck, newVerified(claims, usedKid, used, a.leeway), a.now())
	}
	return claims, nil
}

func checkType(c *Claims, typ string) error {
	if c.Type != typ {
		return fmt.Errorf("%w: want %s, got %q", ErrTokenType, typ, c.Type)
	}
	return nil
}

// fromCache answers Validate for a token the cache holds, when it can
// give the answer the full validation would give (ok true); otherwise
// Validate runs in full. The key is looked up again, so that a key
// removed or replaced in the KeySource, or a KeySource that fails, counts
// as it would on the full path: the errors are built as golang-jwt's
// parser builds them around the keyfunc's error.
func (a *Authority) fromCache(ctx context.Context, ck cacheKey, typ string) (_ *Claims, ok bool, _ error) {
	v := a.cache.get(ck)
	if v == nil {
		return nil, false, nil
	}
	key, err := a.keys.Key(ctx, ck.tenantID, v.kid)
	if err != nil {
		if errors.Is(err, ErrUnknownKey) {
			a.cache.drop(ck, v)
		}
		return nil, true, fmt.Errorf("jwtclaims: %w: error while executing keyfunc: %w", jwt.ErrTokenUnverifiable, keySourceErr(ck.tenantID, v.kid, err))
	}
	if !sameKey(key, v.key) || !v.validAt(a.now()) {
		// Another key under the same kid, or a time outside the
		// token's bounds: the full path finds out which error it is.
		a.cache.drop(ck, v)
		return nil, false, nil
	}
	if err := checkType(&v.claims, typ); err != nil {
		return nil, true, err
	}
	return cloneClaims(&v.claims), true, nil
}

// Refresh validates a refresh token on the context tenant and returns a
// new access token for its subject.
func (a *Authority) Refresh(ctx context.Context, refresh string) (string, error) {
	c, err := a.Validate(ctx, refresh, Refresh)
	if err != nil {
		return "", err
	}
	t := tenant.MustFromContext(ctx)
	key, err := a.keys.Current(ctx, t.ID)
	if err != nil {
		return "", keySourceErr(t.ID, "current", err)
	}
	return a.sign(key, t, c.Subject, Access, a.accessTTL)
}

// keySourceErr keeps a KeySource's ErrUnknownKey (the kid names no key: a
// wrong credential) and wraps every other error in ErrKeySource (the keys
// could not be read: nothing is known about the token).
func keySourceErr(tenantID, kid string, err error) error {
	if errors.Is(err, ErrUnknownKey) {
		return err
	}
	return fmt.Errorf("%w: tenant %s kid %s: %w", ErrKeySource, tenantID, kid, err)
}
