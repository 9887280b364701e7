package jwtclaims_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/jwtclaims"
	"github.com/tenantwall/tenantwall/tenant"
	"github.com/tenantwall/tenantwall/tenant/tenanttest"
)

type fixture struct {
	keys       *jwtclaims.KeySet
	auth       *jwtclaims.Authority
	audit      *tenanttest.AuditRecorder
	a, b       tenant.Tenant
	ctxA, ctxB context.Context
	keyA, keyB jwtclaims.Key
	now        time.Time
}

func newFixture(t *testing.T, mk func(kid string) jwtclaims.Key) *fixture {
	t.Helper()
	f := &fixture{keys: jwtclaims.NewKeySet(), audit: &tenanttest.AuditRecorder{}, a: tenanttest.NewTenant("acme"), b: tenanttest.NewTenant("globex"),
		now: time.Now().Truncate(time.Second)}
	f.ctxA, f.ctxB = tenant.NewContext(context.Background(), f.a), tenant.NewContext(context.Background(), f.b)
	f.keyA, f.keyB = mk("a1"), mk("b1")
	require.NoError(t, f.keys.Add(f.a.ID, f.keyA))
	require.NoError(t, f.keys.Add(f.b.ID, f.keyB))
	var err error
	f.auth, err = jwtclaims.New(f.keys, "https://auth.example.com", "crm",
		jwtclaims.WithClock(func() time.Time { return f.now }), jwtclaims.WithAuditor(f.audit))
	require.NoError(t, err)
	return f
}

func b64(v any) string {
	var b []byte
	switch x := v.(type) {
	case string:
		b = []byte(x)
	default:
		b, _ = json.Marshal(x)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// raw signs an arbitrary header and payload with key (nil key: no
// signature, for "none").
func raw(t *testing.T, header, payload string, method jwt.SigningMethod, key any) string {
	t.Helper()
	s := b64(header) + "." + b64(payload)
	if method == nil {
		return s + "."
	}
	sig, err := method.Sign(s, key)
	require.NoError(t, err)
	return s + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func (f *fixture) payload(over map[string]any) string {
	p := map[string]any{
		"iss": "https://auth.example.com", "sub": "user-1", "aud": []string{"crm:" + f.a.ID},
		"exp": f.now.Add(time.Minute).Unix(), "iat": f.now.Unix(), "nbf": f.now.Unix(),
		"tenant_id": f.a.ID, "tenant_slug": "acme", "typ": "access", "jti": "x",
	}
	for k, v := range over {
		if v == nil {
			delete(p, k)
		} else {
			p[k] = v
		}
	}
	b, _ := json.Marshal(p)
	return string(b)
}

func TestIssueAndValidate(t *testing.T) {
	for name, mk := range map[string]func(string) jwtclaims.Key{"EdDSA": jwtclaims.NewEdDSAKey, "ES256": jwtclaims.NewES256Key, "HS256": jwtclaims.NewHS256Key} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, mk)
			access, refresh, err := f.auth.Issue(f.ctxA, "user-1")
			require.NoError(t, err)
			c, err := f.auth.Validate(f.ctxA, access, jwtclaims.Access)
			require.NoError(t, err)
			assert.Equal(t, f.a.ID, c.TenantID)
			assert.Equal(t, "acme", c.TenantSlug)
			assert.Equal(t, "user-1", c.Subject)
			assert.Equal(t, jwt.ClaimStrings{"crm:" + f.a.ID}, c.Audience)
			tok, _, err := jwt.NewParser().ParseUnverified(access, &jwt.MapClaims{})
			require.NoError(t, err)
			assert.Equal(t, "a1", tok.Header["kid"])

			_, err = f.auth.Validate(f.ctxA, refresh, jwtclaims.Access)
			assert.ErrorIs(t, err, jwtclaims.ErrTokenType, "a refresh token is not an access token")
			_, err = f.auth.Validate(f.ctxA, access, jwtclaims.Refresh)
			assert.ErrorIs(t, err, jwtclaims.ErrTokenType)
			fresh, err := f.auth.Refresh(f.ctxA, refresh)
			require.NoError(t, err)
			_, err = f.auth.Validate(f.ctxA, fresh, jwtclaims.Access)
			require.NoError(t, err)

			_, err = f.auth.Validate(f.ctxB, access, jwtclaims.Access)
			assert.Error(t, err, "A's token on B")
			_, err = f.auth.Refresh(f.ctxB, refresh)
			assert.Error(t, err, "A's refresh token on B")
			_, _, err = f.auth.Issue(context.Background(), "user-1")
			assert.ErrorIs(t, err, tenant.ErrNoTenant)
			_, err = f.auth.Validate(context.Background(), access, jwtclaims.Access)
			assert.ErrorIs(t, err, tenant.ErrNoTenant)
		})
	}
}

func TestRFC8725Attacks(t *testing.T) {
	f := newFixture(t, jwtclaims.NewEdDSAKey)
	hs := jwtclaims.NewHS256Key("h1")
	require.NoError(t, f.keys.Add(f.a.ID, hs))
	ed := `{"alg":"EdDSA","typ":"JWT","kid":"a1"}`
	good := raw(t, ed, f.payload(nil), jwt.SigningMethodEdDSA, f.keyA.Sign)
	_, err := f.auth.Validate(f.ctxA, good, jwtclaims.Access)
	require.NoError(t, err, "the baseline token must validate")

	pubBytes := []byte(f.keyA.Verify.(ed25519.PublicKey))
	cases := []struct {
		name  string
		token string
		is    error
	}{
		{"alg none", raw(t, `{"alg":"none","kid":"a1"}`, f.payload(nil), nil, nil), jwt.ErrTokenSignatureInvalid},
		{"alg none without kid", raw(t, `{"alg":"none"}`, f.payload(nil), nil, nil), nil},
		{"HS256 signed with the EdDSA public key (confusion)", raw(t, `{"alg":"HS256","kid":"a1"}`, f.payload(nil), jwt.SigningMethodHS256, pubBytes), nil},
		{"an HS256 key's kid with an EdDSA token", raw(t, `{"alg":"EdDSA","kid":"h1"}`, f.payload(nil), jwt.SigningMethodEdDSA, f.keyA.Sign), nil},
		{"kid path traversal", raw(t, `{"alg":"EdDSA","kid":"../../../../dev/null"}`, f.payload(nil), jwt.SigningMethodEdDSA, f.keyA.Sign), jwtclaims.ErrInvalidKid},
		{"kid SQL injection", raw(t, `{"alg":"EdDSA","kid":"a1' OR '1'='1"}`, f.payload(nil), jwt.SigningMethodEdDSA, f.keyA.Sign), jwtclaims.ErrInvalidKid},
		{"kid of another tenant's key", raw(t, `{"alg":"EdDSA","kid":"b1"}`, f.payload(nil), jwt.SigningMethodEdDSA, f.keyB.Sign), jwtclaims.ErrUnknownKey},
		{"kid as a number", raw(t, `{"alg":"EdDSA","kid":1}`, f.payload(nil), jwt.SigningMethodEdDSA, f.keyA.Sign), jwtclaims.ErrInvalidKid},
		{"missing exp", raw(t, ed, f.payload(map[string]any{"exp": nil}), jwt.SigningMethodEdDSA, f.keyA.Sign), jwt.ErrTokenRequiredClaimMissing},
		{"expired", raw(t, ed, f.payload(map[string]any{"exp": f.now.Add(-time.Hour).Unix()}), jwt.SigningMethodEdDSA, f.keyA.Sign), jwt.ErrTokenExpired},
		{"expired with a bad signature", raw(t, ed, f.payload(map[string]any{"exp": f.now.Add(-time.Hour).Unix()}), jwt.SigningMethodEdDSA, jwtclaims.NewEdDSAKey("x").Sign), nil},
		{"not yet valid", raw(t, ed, f.payload(map[string]any{"nbf": f.now.Add(time.Hour).Unix()}), jwt.SigningMethodEdDSA, f.keyA.Sign), jwt.ErrTokenNotValidYet},
		{"issued in the future", raw(t, ed, f.payload(map[string]any{"iat": f.now.Add(time.Hour).Unix()}), jwt.SigningMethodEdDSA, f.keyA.Sign), jwt.ErrTokenUsedBeforeIssued},
		{"wrong issuer", raw(t, ed, f.payload(map[string]any{"iss": "https://evil.example.com"}), jwt.SigningMethodEdDSA, f.keyA.Sign), jwt.ErrTokenInvalidIssuer},
		{"wrong audience", raw(t, ed, f.payload(map[string]any{"aud": []string{"crm"}}), jwt.SigningMethodEdDSA, f.keyA.Sign), jwt.ErrTokenInvalidAudience},
		{"another tenant's audience", raw(t, ed, f.payload(map[string]any{"aud": []string{"crm:" + f.b.ID}}), jwt.SigningMethodEdDSA, f.keyA.Sign), jwtclaims.ErrTenantMismatch},
		{"two audiences", raw(t, ed, f.payload(map[string]any{"aud": []string{"crm:" + f.a.ID, "other"}}), jwt.SigningMethodEdDSA, f.keyA.Sign), jwtclaims.ErrTenantMismatch},
		{"a forged tenant claim (re-signed by an attacker key)", raw(t, ed, f.payload(map[string]any{"tenant_id": f.b.ID}), jwt.SigningMethodEdDSA, jwtclaims.NewEdDSAKey("a1").Sign), jwt.ErrTokenSignatureInvalid},
		{"another tenant in the claim", raw(t, ed, f.payload(map[string]any{"tenant_id": f.b.ID}), jwt.SigningMethodEdDSA, f.keyA.Sign), jwtclaims.ErrTenantMismatch},
		{"tenant claim missing", raw(t, ed, f.payload(map[string]any{"tenant_id": nil}), jwt.SigningMethodEdDSA, f.keyA.Sign), jwtclaims.ErrTenantMismatch},
		{"tenant claim empty", raw(t, ed, f.payload(map[string]any{"tenant_id": ""}), jwt.SigningMethodEdDSA, f.keyA.Sign), jwtclaims.ErrTenantMismatch},
		{"tenant claim upper case", raw(t, ed, f.payload(map[string]any{"tenant_id": strings.ToUpper(f.a.ID)}), jwt.SigningMethodEdDSA, f.keyA.Sign), jwtclaims.ErrTenantMismatch},
		{"tenant claim null", raw(t, ed, strings.Replace(f.payload(nil), `"tenant_id":"`+f.a.ID+`"`, `"tenant_id":null`, 1), jwt.SigningMethodEdDSA, f.keyA.Sign), jwtclaims.ErrClaims},
		{"tenant claim a number", raw(t, ed, strings.Replace(f.payload(nil), `"tenant_id":"`+f.a.ID+`"`, `"tenant_id":1`, 1), jwt.SigningMethodEdDSA, f.keyA.Sign), jwt.ErrTokenMalformed},
		{"tenant claim an array", raw(t, ed, strings.Replace(f.payload(nil), `"tenant_id":"`+f.a.ID+`"`, `"tenant_id":["`+f.a.ID+`"]`, 1), jwt.SigningMethodEdDSA, f.keyA.Sign), jwt.ErrTokenMalformed},
		{"duplicate tenant claim", raw(t, ed, strings.Replace(f.payload(nil), `"tenant_id":"`+f.a.ID+`"`, `"tenant_id":"`+f.a.ID+`","tenant_id":"`+f.b.ID+`"`, 1), jwt.SigningMethodEdDSA, f.keyA.Sign), jwtclaims.ErrClaims},
		{"case-variant tenant claim", raw(t, ed, strings.Replace(f.payload(nil), `"tenant_id":"`+f.a.ID+`"`, `"tenant_id":"`+f.a.ID+`","Tenant_ID":"`+f.b.ID+`"`, 1), jwt.SigningMethodEdDSA, f.keyA.Sign), jwtclaims.ErrClaims},
		{"escaped duplicate tenant claim", raw(t, ed, strings.Replace(f.payload(nil), `"tenant_id":"`+f.a.ID+`"`, `"tenant_id":"`+f.a.ID+`","tenant\u005fid":"`+f.b.ID+`"`, 1), jwt.SigningMethodEdDSA, f.keyA.Sign), jwtclaims.ErrClaims},
		{"a Unicode fold of a registered claim (long s)", raw(t, ed, strings.Replace(f.payload(nil), `"sub":"user-1"`, `"sub":"user-1","ſub":"admin"`, 1), jwt.SigningMethodEdDSA, f.keyA.Sign), jwtclaims.ErrClaims},
		{"case-variant tenant claim alone", raw(t, ed, strings.Replace(f.payload(nil), `"tenant_id":`, `"TENANT_ID":`, 1), jwt.SigningMethodEdDSA, f.keyA.Sign), jwtclaims.ErrClaims},
		{"wrong token type", raw(t, ed, f.payload(map[string]any{"typ": "refresh"}), jwt.SigningMethodEdDSA, f.keyA.Sign), jwtclaims.ErrTokenType},
		{"garbage", "not.a.token", jwt.ErrTokenMalformed},
		{"empty", "", jwt.ErrTokenMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := f.auth.Validate(f.ctxA, c.token, jwtclaims.Access)
			require.Error(t, err)
			if c.is != nil {
				assert.ErrorIs(t, err, c.is)
			}
		})
	}
	assert.NotEmpty(t, f.audit.Events(), "a token of another tenant must be audited")
}

func TestLeewayAndRotation(t *testing.T) {
	f := newFixture(t, jwtclaims.NewEdDSAKey)
	access, _, err := f.auth.Issue(f.ctxA, "u")
	require.NoError(t, err)
	f.now = f.now.Add(15*time.Minute + 20*time.Second)
	_, err = f.auth.Validate(f.ctxA, access, jwtclaims.Access)
	assert.NoError(t, err, "20 s past exp is within the 30 s leeway")
	f.now = f.now.Add(time.Minute)
	_, err = f.auth.Validate(f.ctxA, access, jwtclaims.Access)
	assert.ErrorIs(t, err, jwt.ErrTokenExpired)

	f.now = time.Now().Truncate(time.Second)
	old, _, err := f.auth.Issue(f.ctxA, "u")
	require.NoError(t, err)
	require.NoError(t, f.keys.Add(f.a.ID, jwtclaims.NewEdDSAKey("a2")))
	require.NoError(t, f.keys.SetCurrent(f.a.ID, "a2"))
	fresh, _, err := f.auth.Issue(f.ctxA, "u")
	require.NoError(t, err)
	tok, _, _ := jwt.NewParser().ParseUnverified(fresh, &jwt.MapClaims{})
	assert.Equal(t, "a2", tok.Header["kid"])
	_, err = f.auth.Validate(f.ctxA, old, jwtclaims.Access)
	assert.NoError(t, err, "tokens of the previous key still validate during rotation")
	f.keys.Remove(f.a.ID, "a1")
	_, err = f.auth.Validate(f.ctxA, old, jwtclaims.Access)
	assert.ErrorIs(t, err, jwtclaims.ErrUnknownKey)
	_, err = f.auth.Validate(f.ctxA, fresh, jwtclaims.Access)
	assert.NoError(t, err)
}

func TestSharedKeyStillBindsTheTenant(t *testing.T) {
	// Even if an operator gave two tenants the same key, a token of A is
	// refused on B by the tenant claim and the audience.
	f := newFixture(t, jwtclaims.NewEdDSAKey)
	shared := jwtclaims.NewEdDSAKey("shared")
	require.NoError(t, f.keys.Add(f.a.ID, shared))
	require.NoError(t, f.keys.Add(f.b.ID, shared))
	require.NoError(t, f.keys.SetCurrent(f.a.ID, "shared"))
	access, _, err := f.auth.Issue(f.ctxA, "u")
	require.NoError(t, err)
	_, err = f.auth.Validate(f.ctxB, access, jwtclaims.Access)
	assert.ErrorIs(t, err, jwtclaims.ErrTenantMismatch)
	require.NotEmpty(t, f.audit.Events())
	e := lastEvent(f.audit)
	assert.Equal(t, tenant.EventCrossTenant, e.Kind)
	assert.Equal(t, f.b.ID, e.TenantID)
	assert.Equal(t, f.a.ID, e.OwnerID)
}

func TestMiddleware(t *testing.T) {
	f := newFixture(t, jwtclaims.NewES256Key)
	h := f.auth.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := jwtclaims.FromContext(r.Context())
		w.Write([]byte(c.Subject))
	}))
	serve := func(ctx context.Context, hdr ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/api/leads/", nil).WithContext(ctx)
		for _, v := range hdr {
			req.Header.Add("Authorization", v)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	access, _, _ := f.auth.Issue(f.ctxA, "alice")
	rec := serve(f.ctxA, "Bearer "+access)
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "alice", rec.Body.String())
	for name, rec := range map[string]*httptest.ResponseRecorder{
		"no header":          serve(f.ctxA),
		"other tenant":       serve(f.ctxB, "Bearer "+access),
		"basic":              serve(f.ctxA, "Basic dXNlcjpwYXNz"),
		"two headers":        serve(f.ctxA, "Bearer "+access, "Bearer "+access),
		"empty bearer":       serve(f.ctxA, "Bearer "),
		"tampered":           serve(f.ctxA, "Bearer "+access[:len(access)-4]+"AAAA"),
		"no tenant resolved": serve(context.Background(), "Bearer "+access),
	} {
		assert.Equal(t, http.StatusUnauthorized, rec.Code, name)
		assert.True(t, strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer "), name)
	}
}

func TestJWKS(t *testing.T) {
	f := newFixture(t, jwtclaims.NewEdDSAKey)
	require.NoError(t, f.keys.Add(f.a.ID, jwtclaims.NewES256Key("a2")))
	require.NoError(t, f.keys.Add(f.a.ID, jwtclaims.NewHS256Key("secret")))
	rec := httptest.NewRecorder()
	f.keys.JWKSHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/.well-known/jwks.json", nil).WithContext(f.ctxA))
	require.Equal(t, http.StatusOK, rec.Code)
	var set struct{ Keys []map[string]string }
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &set))
	require.Len(t, set.Keys, 2, "HMAC secrets must never be published")
	assert.Equal(t, "a1", set.Keys[0]["kid"])
	assert.Equal(t, "OKP", set.Keys[0]["kty"])
	assert.Equal(t, "EC", set.Keys[1]["kty"])
	for _, k := range set.Keys {
		assert.NotEqual(t, "b1", k["kid"], "another tenant's key leaked")
	}
	rec = httptest.NewRecorder()
	f.keys.JWKSHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	assert.Equal(t, http.StatusNotFound, rec.Code)
}

func TestKeysAreValidated(t *testing.T) {
	ks := jwtclaims.NewKeySet()
	id := tenant.NewID()
	for _, k := range []jwtclaims.Key{
		{ID: "x", Method: jwt.SigningMethodHS256, Verify: []byte("short")},
		{ID: "x", Method: jwt.SigningMethodRS256, Verify: []byte(strings.Repeat("k", 32))},
		{ID: "../x", Method: jwt.SigningMethodHS256, Verify: []byte(strings.Repeat("k", 32))},
		{ID: "x", Method: jwt.SigningMethodEdDSA, Verify: []byte(strings.Repeat("k", 32))},
	} {
		assert.Error(t, ks.Add(id, k))
	}
	assert.Error(t, ks.Add("not-a-tenant", jwtclaims.NewHS256Key("k")))
	require.NoError(t, ks.Add(id, jwtclaims.NewHS256Key("k")))
	assert.ErrorIs(t, ks.Add(id, jwtclaims.NewHS256Key("k")), jwtclaims.ErrConfig)
}

func TestOptionsAreValidated(t *testing.T) {
	ks := jwtclaims.NewKeySet()
	cases := []struct {
		name   string
		option string // what the error must name
		keys   jwtclaims.KeySource
		opts   []jwtclaims.Option
	}{
		{"an authority without keys is refused", "keys", nil, nil},
		{"a leeway over five minutes is refused", "WithLeeway", ks, []jwtclaims.Option{jwtclaims.WithLeeway(time.Hour)}},
		{"a negative leeway is refused", "WithLeeway", ks, []jwtclaims.Option{jwtclaims.WithLeeway(-time.Second)}},
		{"a zero access TTL is refused", "WithTTL", ks, []jwtclaims.Option{jwtclaims.WithTTL(0, time.Hour)}},
		{"a refresh TTL shorter than the access TTL is refused", "WithTTL", ks, []jwtclaims.Option{jwtclaims.WithTTL(time.Hour, time.Minute)}},
		{"a nil clock is refused", "WithClock", ks, []jwtclaims.Option{jwtclaims.WithClock(nil)}},
		{"a verified cache of no entries is refused", "WithVerifiedCache", ks, []jwtclaims.Option{jwtclaims.WithVerifiedCache(0)}},
		{"a verified cache of a negative size is refused", "WithVerifiedCache", ks, []jwtclaims.Option{jwtclaims.WithVerifiedCache(-1)}},
		{"a verified cache over the bound is refused", "WithVerifiedCache", ks, []jwtclaims.Option{jwtclaims.WithVerifiedCache(1<<20 + 1)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := jwtclaims.New(c.keys, "issuer", "audience", c.opts...)
			require.ErrorIs(t, err, jwtclaims.ErrConfig)
			assert.Contains(t, err.Error(), c.option, "the error names what is wrong")
		})
	}
}

func FuzzValidate(f *testing.F) {
	keys := jwtclaims.NewKeySet()
	a := tenanttest.NewTenant("acme")
	_ = keys.Add(a.ID, jwtclaims.NewEdDSAKey("a1"))
	auth, _ := jwtclaims.New(keys, "iss", "crm")
	ctx := tenant.NewContext(context.Background(), a)
	good, _, _ := auth.Issue(ctx, "u")
	f.Add(good)
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := auth.Validate(ctx, tok, jwtclaims.Access)
		if err != nil {
			return
		}
		if tok != good && !strings.HasPrefix(tok, strings.SplitN(good, ".", 2)[0]) {
			t.Fatalf("accepted a token that is not the issued one: %q", tok)
		}
		if c.TenantID != a.ID {
			t.Fatalf("accepted a token of tenant %q", c.TenantID)
		}
	})
}

func TestCheckClaimsJSON(t *testing.T) {
	ok := []string{`{}`, `{"a":1}`, `{"a":1,"a":2}`, "{\"\xb0\":1}", ` { "tenant_id" : "x" , "n":[1,{"tenant_id":2}], "o":{"a":"}"} } `, `{"typ":"access","s":"a\"b"}`}
	for _, s := range ok {
		assert.NoError(t, jwtclaims.CheckClaimsJSON([]byte(s)), s)
	}
	bad := []string{``, `[]`, "{\"\u017fub\":\"x\"}", "{\"\u212aey\":1,\"jti\":\"x\",\"J\u0074i\":1}", `{"sub":"a","sub":"b"}`, `{"tenant_id":"x","tenant_id":"y"}`, `{"Tenant_Id":"x"}`, `{"TYP":"access"}`,
		`{"tenant_id":null}`, `{"tenant_slug":1}`, `{"tenant\u005fid":"x","tenant_id":"y"}`, `{"a":1`, `{"a" 1}`, `{"a":}`,
		`{"a":"unterminated}`, `{a:1}`, `{"a":1,}`, `{} x`}
	for _, s := range bad {
		assert.ErrorIs(t, jwtclaims.CheckClaimsJSON([]byte(s)), jwtclaims.ErrClaims, s)
	}
}

func lastEvent(a *tenanttest.AuditRecorder) tenant.Event {
	e, _ := a.Last()
	return e
}

// FuzzCheckClaimsJSON checks the strict scan against encoding/json on
// valid JSON objects (invalid JSON never reaches it: golang-jwt rejects it
// first): it must refuse exactly the objects in which encoding/json would
// fill a claim tenantwall reads from a key that is not that claim's exact
// name, or from a second key, or fill tenant_id, tenant_slug or typ with
// something other than a string.
func FuzzCheckClaimsJSON(f *testing.F) {
	for _, s := range []string{`{"tenant_id":"x","a":[1,{"b":"}"}]}`, `{"a":1,"a":2}`, `{"Tenant_ID":"x"}`, `{}`, `{"s":"a\"b"}`,
		`{"tenant\u005fid":"x","tenant_id":"y"}`, `{"tenant_id":null}`, "{\"\u017fub\":1}"} {
		f.Add(s)
	}
	strict := []string{"tenant_id", "tenant_slug", "typ", "iss", "sub", "aud", "exp", "nbf", "iat", "jti"}
	f.Fuzz(func(t *testing.T, s string) {
		var obj map[string]json.RawMessage
		if !json.Valid([]byte(s)) || json.Unmarshal([]byte(s), &obj) != nil {
			return
		}
		bad := ""
		dec := json.NewDecoder(strings.NewReader(s))
		dec.Token()
		seen := map[string]bool{}
		for dec.More() {
			k, _ := dec.Token()
			key := k.(string)
			var v json.RawMessage
			_ = dec.Decode(&v)
			for i, sk := range strict {
				if !strings.EqualFold(key, sk) {
					continue
				}
				switch {
				case key != sk:
					bad = "variant " + key
				case seen[sk]:
					bad = "duplicate " + key
				case i < 3 && (len(v) == 0 || v[0] != '"'):
					bad = "non-string " + key
				}
				seen[sk] = true
			}
		}
		err := jwtclaims.CheckClaimsJSON([]byte(s))
		if bad != "" && err == nil {
			t.Fatalf("accepted %q (%s)", s, bad)
		}
		if bad == "" && err != nil {
			t.Fatalf("refused %q: %v", s, err)
		}
	})
}

// Validate decides by an allow-list of token types: a caller passing
// anything else (an empty string from a missing constant, a typo) must get
// an error, not a check that a token without "typ" passes.
func TestValidateAcceptsOnlyKnownTokenTypes(t *testing.T) {
	f := newFixture(t, jwtclaims.NewEdDSAKey)
	ed := `{"alg":"EdDSA","typ":"JWT","kid":"a1"}`
	untyped := raw(t, ed, f.payload(map[string]any{"typ": nil}), jwt.SigningMethodEdDSA, f.keyA.Sign)
	odd := raw(t, ed, f.payload(map[string]any{"typ": "Access"}), jwt.SigningMethodEdDSA, f.keyA.Sign)
	for _, c := range []struct {
		name, token, typ string
	}{
		{"a token without typ validated as the empty type", untyped, ""},
		{"a token without typ validated as access", untyped, jwtclaims.Access},
		{"a token of an unknown type validated as that type", odd, "Access"},
		{"a token of an unknown type validated as access", odd, jwtclaims.Access},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := f.auth.Validate(f.ctxA, c.token, c.typ)
			assert.ErrorIs(t, err, jwtclaims.ErrTokenType)
		})
	}
}

// RFC 7515 §4.1.11: a token naming critical header extensions the
// recipient does not understand must be refused.
func TestCriticalHeaderExtensionsAreRefused(t *testing.T) {
	f := newFixture(t, jwtclaims.NewEdDSAKey)
	for _, header := range []string{
		`{"alg":"EdDSA","kid":"a1","crit":["exp"],"exp":1}`,
		`{"alg":"EdDSA","kid":"a1","crit":["b64"],"b64":false}`,
		`{"alg":"EdDSA","kid":"a1","crit":[]}`,
		`{"alg":"EdDSA","kid":"a1","crit":null}`,
	} {
		t.Run(header, func(t *testing.T) {
			tok := raw(t, header, f.payload(nil), jwt.SigningMethodEdDSA, f.keyA.Sign)
			_, err := f.auth.Validate(f.ctxA, tok, jwtclaims.Access)
			assert.ErrorIs(t, err, jwtclaims.ErrClaims)
		})
	}
}

// A key is admitted only in the exact shape its algorithm needs: a P-384
// key is not an ES256 key, and a truncated Ed25519 key is no key.
func TestKeysOfTheWrongShapeAreRefused(t *testing.T) {
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	for _, c := range []struct {
		name string
		key  jwtclaims.Key
	}{
		{"an ES256 key on P-384", jwtclaims.Key{ID: "k", Method: jwt.SigningMethodES256, Sign: p384, Verify: &p384.PublicKey}},
		{"a nil ES256 public key", jwtclaims.Key{ID: "k", Method: jwt.SigningMethodES256, Verify: (*ecdsa.PublicKey)(nil)}},
		{"a short Ed25519 key", jwtclaims.Key{ID: "k", Method: jwt.SigningMethodEdDSA, Verify: edPub[:16]}},
		{"an empty Ed25519 key", jwtclaims.Key{ID: "k", Method: jwt.SigningMethodEdDSA, Verify: ed25519.PublicKey{}}},
		{"an ES256 signing key of another pair", jwtclaims.Key{ID: "k", Method: jwt.SigningMethodES256, Sign: p384, Verify: jwtclaims.NewES256Key("x").Verify}},
		{"an Ed25519 signing key of another pair", jwtclaims.Key{ID: "k", Method: jwt.SigningMethodEdDSA, Sign: jwtclaims.NewEdDSAKey("x").Sign, Verify: edPub}},
		{"an HS256 signing secret unlike the verifying one", jwtclaims.Key{ID: "k", Method: jwt.SigningMethodHS256, Sign: []byte(strings.Repeat("a", 32)), Verify: []byte(strings.Repeat("b", 32))}},
		{"an HS256 signing secret of the wrong type", jwtclaims.Key{ID: "k", Method: jwt.SigningMethodHS256, Sign: "secret", Verify: []byte(strings.Repeat("b", 32))}},
	} {
		t.Run(c.name, func(t *testing.T) {
			assert.ErrorIs(t, jwtclaims.NewKeySet().Add(tenant.NewID(), c.key), jwtclaims.ErrConfig)
		})
	}
}

// failingKeys is a KeySource over a KeySet whose backing store can be
// made to fail, as a database-backed KeySource does when its database is
// unreachable.
type failingKeys struct {
	*jwtclaims.KeySet
	err error // nil: healthy
}

func (k *failingKeys) Key(ctx context.Context, tenantID, kid string) (jwtclaims.Key, error) {
	if k.err != nil {
		return jwtclaims.Key{}, k.err
	}
	return k.KeySet.Key(ctx, tenantID, kid)
}

func (k *failingKeys) Current(ctx context.Context, tenantID string) (jwtclaims.Key, error) {
	if k.err != nil {
		return jwtclaims.Key{}, k.err
	}
	return k.KeySet.Current(ctx, tenantID)
}

func TestAKeySourceFailureIsNotAnInvalidToken(t *testing.T) {
	f := newFixture(t, jwtclaims.NewEdDSAKey)
	keys := &failingKeys{KeySet: f.keys}
	auth, err := jwtclaims.New(keys, "https://auth.example.com", "crm", jwtclaims.WithClock(func() time.Time { return f.now }))
	require.NoError(t, err)
	access, refresh, err := auth.Issue(f.ctxA, "alice")
	require.NoError(t, err)
	h := auth.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	serve := func(tok string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/api/leads/", nil).WithContext(f.ctxA)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for _, fault := range []struct {
		name string
		err  error
	}{
		{"an unreachable store", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}},
		{"a store past the deadline", context.DeadlineExceeded},
		{"a store error of any other kind", errors.New("keys table is locked")},
	} {
		t.Run("a good token while the key source has "+fault.name+" gets 503, not 401", func(t *testing.T) {
			keys.err = fault.err
			defer func() { keys.err = nil }()
			rec := serve(access)
			assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
			assert.NotEmpty(t, rec.Header().Get("Retry-After"))
			assert.Empty(t, rec.Header().Get("WWW-Authenticate"), "no challenge: the credentials were not judged")

			_, err := auth.Validate(f.ctxA, access, jwtclaims.Access)
			assert.ErrorIs(t, err, jwtclaims.ErrKeySource)
			assert.ErrorIs(t, err, fault.err, "the cause stays reachable")
			assert.NotErrorIs(t, err, jwtclaims.ErrUnknownKey)
			_, err = auth.Refresh(f.ctxA, refresh)
			assert.ErrorIs(t, err, jwtclaims.ErrKeySource)
			_, _, err = auth.Issue(f.ctxA, "alice")
			assert.ErrorIs(t, err, jwtclaims.ErrKeySource)
		})
	}
	t.Run("an unknown kid is a wrong credential, not a key source failure", func(t *testing.T) {
		keys.err = fmt.Errorf("lookup: %w", jwtclaims.ErrUnknownKey)
		defer func() { keys.err = nil }()
		rec := serve(access)
		assert.Equal(t, http.StatusUnauthorized, rec.Code)
		_, err := auth.Validate(f.ctxA, access, jwtclaims.Access)
		assert.ErrorIs(t, err, jwtclaims.ErrUnknownKey)
		assert.NotErrorIs(t, err, jwtclaims.ErrKeySource)
	})
	t.Run("a forged token while the key source is down is still never admitted", func(t *testing.T) {
		keys.err = context.DeadlineExceeded
		defer func() { keys.err = nil }()
		rec := serve(access[:len(access)-4] + "AAAA")
		assert.NotEqual(t, http.StatusOK, rec.Code)
	})
	t.Run("the same token works once the key source is back", func(t *testing.T) {
		assert.Equal(t, http.StatusOK, serve(access).Code)
	})
}

func TestRemoveTenantEndsEveryToken(t *testing.T) {
	f := newFixture(t, jwtclaims.NewEdDSAKey)
	access, refresh, err := f.auth.Issue(f.ctxA, "u")
	require.NoError(t, err)
	require.NoError(t, f.keys.Add(f.a.ID, jwtclaims.NewEdDSAKey("a2")))
	other, _, err := f.auth.Issue(f.ctxB, "u")
	require.NoError(t, err)

	assert.Equal(t, 2, f.keys.RemoveTenant(f.a.ID))
	assert.Equal(t, 0, f.keys.RemoveTenant(f.a.ID), "nothing is left to remove")
	_, err = f.auth.Validate(f.ctxA, access, jwtclaims.Access)
	assert.ErrorIs(t, err, jwtclaims.ErrUnknownKey)
	_, err = f.auth.Refresh(f.ctxA, refresh)
	assert.ErrorIs(t, err, jwtclaims.ErrUnknownKey, "refresh tokens end with the keys")
	_, _, err = f.auth.Issue(f.ctxA, "u")
	assert.ErrorIs(t, err, jwtclaims.ErrUnknownKey, "no key to sign with")
	_, err = f.auth.Validate(f.ctxB, other, jwtclaims.Access)
	assert.NoError(t, err, "another tenant's tokens still validate")
}
