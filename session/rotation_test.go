package session_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/session"
	"github.com/tenantwall/tenantwall/tenant"
)

// stores returns every Store this package ships, each fresh.
func stores(t *testing.T) map[string]func(t *testing.T) session.Store {
	return map[string]func(t *testing.T) session.Store{
		"memory": func(*testing.T) session.Store { return session.NewMemStore() },
		"redis": func(t *testing.T) session.Store {
			s, err := session.NewRedisStore(testenv.Redis(t), testenv.Name("twsessrot"))
			require.NoError(t, err)
			return s
		},
	}
}

// rotationHandler adds to the test app the handlers that write after a
// rotation, a logout or a destruction, in the same request.
func rotationHandler(a *app) http.Handler {
	setErr := func(w http.ResponseWriter, err error) bool {
		switch {
		case errors.Is(err, session.ErrNoSession):
			http.Error(w, "no session", http.StatusUnauthorized)
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		default:
			return false
		}
		return true
	}
	set := func(w http.ResponseWriter, r *http.Request) bool {
		return !setErr(w, a.m.Set(r, r.URL.Query().Get("k"), r.URL.Query().Get("v")))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/set", func(w http.ResponseWriter, r *http.Request) { set(w, r) })
	mux.HandleFunc("/get", func(w http.ResponseWriter, r *http.Request) {
		s, ok := session.FromContext(r.Context())
		if !ok {
			http.Error(w, "anonymous", http.StatusUnauthorized)
			return
		}
		io.WriteString(w, s.UserID+":"+s.Values[r.URL.Query().Get("k")])
	})
	mux.HandleFunc("/renew-set", func(w http.ResponseWriter, r *http.Request) {
		if _, err := a.m.Renew(w, r); !setErr(w, err) {
			set(w, r)
		}
	})
	mux.HandleFunc("/login-set", func(w http.ResponseWriter, r *http.Request) {
		if _, err := a.m.Login(w, r, r.URL.Query().Get("user"), nil); !setErr(w, err) && set(w, r) {
			s, ok := session.FromContext(r.Context())
			if !ok {
				http.Error(w, "the request lost its session", http.StatusInternalServerError)
				return
			}
			io.WriteString(w, s.UserID)
		}
	})
	mux.HandleFunc("/set-renew-set", func(w http.ResponseWriter, r *http.Request) {
		if setErr(w, a.m.Set(r, "before", "1")) {
			return
		}
		if _, err := a.m.Renew(w, r); !setErr(w, err) {
			set(w, r)
		}
	})
	mux.HandleFunc("/logout-set", func(w http.ResponseWriter, r *http.Request) {
		if !setErr(w, a.m.Logout(w, r)) {
			set(w, r)
		}
	})
	mux.HandleFunc("/destroy-set", func(w http.ResponseWriter, r *http.Request) {
		s, ok := session.FromContext(r.Context())
		if !ok {
			http.Error(w, "anonymous", http.StatusUnauthorized)
			return
		}
		if !setErr(w, a.m.DestroyUser(r.Context(), s.UserID)) {
			set(w, r)
		}
	})
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		if _, err := a.m.Login(w, r, r.URL.Query().Get("user"), nil); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	return withTenantOf(a, a.m.Middleware(mux))
}

// withTenantOf puts the tenant of the request's host into its context, as
// resolve would.
func withTenantOf(a *app, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if t, ok := a.hosts[r.Host]; ok {
			r = r.WithContext(tenant.NewContext(r.Context(), t))
		}
		next.ServeHTTP(w, r)
	})
}

// newCookie returns the session cookie a response set, failing when it
// set none or cleared it.
func newCookie(t *testing.T, res *http.Response) *http.Cookie {
	t.Helper()
	var got *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "session" {
			got = c
		}
	}
	require.NotNil(t, got, "no session cookie set")
	require.NotEmpty(t, got.Value, "the session cookie was cleared")
	return got
}

// assertDead checks that a token is refused over HTTP and absent from the
// store, so that no later write could have revived it.
func assertDead(t *testing.T, h http.Handler, store session.Store, c *http.Cookie) {
	t.Helper()
	assert.Equal(t, http.StatusUnauthorized, call(h, "acme.example.com", "/get", c).Code, "the old cookie must be refused")
	_, found, err := store.Find(context.Background(), session.Hash(c.Value))
	require.NoError(t, err)
	assert.False(t, found, "the old token's record must stay deleted")
}

func TestRotationIsTotal(t *testing.T) {
	for name, newStore := range stores(t) {
		t.Run(name, func(t *testing.T) {
			store := newStore(t)
			a := newApp(t, store)
			h := rotationHandler(a)
			login := func(user string) *http.Cookie {
				return sessionCookie(t, call(h, "acme.example.com", "/login?user="+user))
			}

			t.Run("renew then set saves under the new token only", func(t *testing.T) {
				old := login("alice")
				rec := call(h, "acme.example.com", "/renew-set?k=role&v=admin", old)
				require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
				fresh := newCookie(t, rec.Result())
				assert.NotEqual(t, old.Value, fresh.Value)
				assert.Equal(t, "alice:admin", call(h, "acme.example.com", "/get?k=role", fresh).Body.String())
				assertDead(t, h, store, old)
			})
			t.Run("login then set saves under the new token and the request follows the login", func(t *testing.T) {
				old := login("mallory")
				rec := call(h, "acme.example.com", "/login-set?user=victim&k=cart&v=42", old)
				require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
				assert.Equal(t, "victim", rec.Body.String(), "FromContext must return the session Login started")
				fresh := newCookie(t, rec.Result())
				assert.Equal(t, "victim:42", call(h, "acme.example.com", "/get?k=cart", fresh).Body.String())
				assertDead(t, h, store, old)
			})
			t.Run("login then set works on a request that came without a session", func(t *testing.T) {
				rec := call(h, "acme.example.com", "/login-set?user=dave&k=theme&v=dark")
				require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
				fresh := newCookie(t, rec.Result())
				assert.Equal(t, "dave:dark", call(h, "acme.example.com", "/get?k=theme", fresh).Body.String())
			})
			t.Run("set then renew then set keeps both values under the new token only", func(t *testing.T) {
				old := login("bob")
				rec := call(h, "acme.example.com", "/set-renew-set?k=after&v=2", old)
				require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
				fresh := newCookie(t, rec.Result())
				assert.Equal(t, "bob:1", call(h, "acme.example.com", "/get?k=before", fresh).Body.String())
				assert.Equal(t, "bob:2", call(h, "acme.example.com", "/get?k=after", fresh).Body.String())
				assertDead(t, h, store, old)
			})
			t.Run("logout then set is refused and writes nothing", func(t *testing.T) {
				old := login("carol")
				rec := call(h, "acme.example.com", "/logout-set?k=x&v=y", old)
				assert.Equal(t, http.StatusUnauthorized, rec.Code, rec.Body.String())
				assertDead(t, h, store, old)
			})
			t.Run("destroying the user then set is refused and writes nothing", func(t *testing.T) {
				old := login("erin")
				rec := call(h, "acme.example.com", "/destroy-set?k=x&v=y", old)
				assert.Equal(t, http.StatusUnauthorized, rec.Code, rec.Body.String())
				assertDead(t, h, store, old)
			})
			t.Run("renewing twice in a row leaves only the last token", func(t *testing.T) {
				old := login("frank")
				mid := newCookie(t, call(h, "acme.example.com", "/renew-set?k=n&v=1", old).Result())
				last := newCookie(t, call(h, "acme.example.com", "/renew-set?k=n&v=2", mid).Result())
				assert.Equal(t, "frank:2", call(h, "acme.example.com", "/get?k=n", last).Body.String())
				assertDead(t, h, store, old)
				assertDead(t, h, store, mid)
			})
			t.Run("set on the old token is refused after another request renewed it", func(t *testing.T) {
				old := login("grace")
				fresh := newCookie(t, call(h, "acme.example.com", "/renew-set?k=k&v=new", old).Result())
				assert.Equal(t, http.StatusUnauthorized, call(h, "acme.example.com", "/set?k=k&v=stale", old).Code)
				assertDead(t, h, store, old)
				assert.Equal(t, "grace:new", call(h, "acme.example.com", "/get?k=k", fresh).Body.String())
			})
		})
	}
}

// gateStore pauses Find of one hash until released, so that a test can
// interleave two requests exactly, without sleeping.
type gateStore struct {
	session.Store
	mu      sync.Mutex
	hold    string
	found   chan struct{}
	release chan struct{}
}

func (g *gateStore) Find(ctx context.Context, hash string) (session.Record, bool, error) {
	rec, found, err := g.Store.Find(ctx, hash)
	g.mu.Lock()
	hold := hash == g.hold
	if hold {
		g.hold = "" // only the first request with this hash pauses
	}
	g.mu.Unlock()
	if hold {
		g.found <- struct{}{}
		<-g.release
	}
	return rec, found, err
}

func (g *gateStore) holdNext(hash string) {
	g.mu.Lock()
	g.hold = hash
	g.mu.Unlock()
}

func TestConcurrentRequestsWithTheOldTokenCannotReviveIt(t *testing.T) {
	for name, newStore := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Run("a request that loaded the old token cannot set after another renewed it", func(t *testing.T) {
				store := newStore(t)
				a := newApp(t, store)
				h := rotationHandler(a)
				old := sessionCookie(t, call(h, "acme.example.com", "/login?user=alice"))

				loaded, proceed := make(chan struct{}), make(chan struct{})
				mux := http.NewServeMux()
				mux.HandleFunc("/slow-set", func(w http.ResponseWriter, r *http.Request) {
					close(loaded)
					<-proceed
					if err := a.m.Set(r, "k", "stale"); err != nil {
						http.Error(w, err.Error(), http.StatusUnauthorized)
					}
				})
				slow := withTenantOf(a, a.m.Middleware(mux))
				done := make(chan int)
				go func() { done <- call(slow, "acme.example.com", "/slow-set", old).Code }()
				<-loaded
				fresh := newCookie(t, call(h, "acme.example.com", "/renew-set?k=k&v=new", old).Result())
				close(proceed)
				assert.Equal(t, http.StatusUnauthorized, <-done, "Set on a rotated-out token must fail")
				assertDead(t, h, store, old)
				assert.Equal(t, "alice:new", call(h, "acme.example.com", "/get?k=k", fresh).Body.String())
			})
			for _, rotate := range []string{"/renew-set?k=k&v=new", "/logout-set", "/destroy-set"} {
				t.Run("a load that extends the idle window cannot revive a token ended by "+rotate, func(t *testing.T) {
					gate := &gateStore{Store: newStore(t), found: make(chan struct{}), release: make(chan struct{})}
					a := newApp(t, gate)
					h := rotationHandler(a)
					old := sessionCookie(t, call(h, "acme.example.com", "/login?user=alice"))
					a.advance(2 * time.Minute) // the next load extends the idle window

					gate.holdNext(session.Hash(old.Value))
					done := make(chan int)
					go func() { done <- call(h, "acme.example.com", "/get", old).Code }()
					<-gate.found // that request has read the record and not yet written it
					call(h, "acme.example.com", rotate, old)
					close(gate.release)
					assert.Equal(t, http.StatusUnauthorized, <-done, "the paused request must not get the ended session")
					assertDead(t, h, gate.Store, old)
				})
			}
		})
	}
}
