package session_test

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/session"
)

// A cookie planted by a sibling subdomain for the parent domain gets the
// request refused, and the refusal deletes it wherever it could have been
// set, so the person is not refused on every request for as long as the
// planted cookie lives, and can sign in again.
func TestTossedCookiesAreClearedByTheRefusal(t *testing.T) {
	a := newApp(t, session.NewMemStore())
	h := a.handler()
	own := sessionCookie(t, call(h, "acme.example.com", "/login?user=alice"))
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	acme, _ := url.Parse("http://acme.example.com/me/deep/page")
	jar.SetCookies(acme, []*http.Cookie{own})
	sibling, _ := url.Parse("http://globex.example.com/")
	planted := strings.Repeat("A", 43)
	for _, path := range []string{"/", "/me", "/me/deep/"} {
		jar.SetCookies(sibling, []*http.Cookie{{Name: own.Name, Value: planted, Domain: "example.com", Path: path, MaxAge: 3600}})
	}
	require.Len(t, jar.Cookies(acme), 4, "the own cookie and three planted ones")

	rec := call(h, "acme.example.com", acme.Path, jar.Cookies(acme)...)
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	jar.SetCookies(acme, rec.Result().Cookies())
	assert.Empty(t, jar.Cookies(acme), "every session cookie the request carried is deleted")

	again := sessionCookie(t, call(h, "acme.example.com", "/login?user=alice"))
	assert.Equal(t, "alice", call(h, "acme.example.com", "/me", again).Body.String(), "and the person signs in again")
}

func TestTossingClearsOnlyTheHostOverTLS(t *testing.T) {
	a := newApp(t, session.NewMemStore(), session.WithSecure(true))
	h := a.handler()
	c := &http.Cookie{Name: "__Host-session", Value: strings.Repeat("A", 43)}
	rec := call(h, "acme.example.com", "/me/x", c, c)
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	set := rec.Result().Cookies()
	require.Len(t, set, 1, "a __Host- cookie can only be the host's, at Path=/")
	assert.Equal(t, "__Host-session", set[0].Name)
	assert.Equal(t, "/", set[0].Path)
	assert.Empty(t, set[0].Domain)
	assert.True(t, set[0].Secure)
	assert.Negative(t, set[0].MaxAge)
}

func TestTossingClearsOnlyPlainPaths(t *testing.T) {
	h := newApp(t, session.NewMemStore()).handler()
	c := &http.Cookie{Name: "session", Value: strings.Repeat("A", 43)}
	rec := call(h, "acme.example.com", "/a%3Bb/c%0Ad", c, c)
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	set := rec.Result().Cookies()
	require.NotEmpty(t, set)
	for _, s := range set {
		assert.Equal(t, "/", s.Path, "a path net/http would rewrite is not written")
	}
}
