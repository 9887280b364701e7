package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantwall/tenantwall/internal/testenv"
	"github.com/tenantwall/tenantwall/tenant"
)

// The source plan's manual checklist, done by a real browser: one
// Chromium profile visits acme and globex on their subdomains and acme on
// its custom domain, and a page on a sibling host tries to make it write
// to acme. Two pairs of sibling hosts are used: acme.localhost and
// globex.localhost, which Chromium treats as different sites (localhost
// is no public suffix), and acme.sites.example.com and
// globex.sites.example.com (two custom domains under one registrable
// domain), which it treats as the same site, so that SameSite=Lax cookies
// do ride along and only the server's cross-origin check stands in the
// way.

const (
	acmeSibling   = "acme.sites.example.com"
	globexSibling = "globex.sites.example.com"
	hostilePath   = "/__test/hostile"
)

// hostRules sends the test's names to the loopback server and every other
// name nowhere (the logos' hosts among them), so nothing waits on DNS.
const hostRules = "MAP *.localhost 127.0.0.1, MAP crm.acme.test 127.0.0.1, MAP *.sites.example.com 127.0.0.1, MAP * ~NOTFOUND"

// post is one POST the server answered.
type post struct {
	host, path, site string
	cookie           bool
	status           int
}

// recorder wraps the CRM, recording every POST with its answer, and
// serves hostilePath on every host: a page without the CRM's policy, as a
// sibling tenant's own page would be.
type recorder struct {
	next  http.Handler
	mu    sync.Mutex
	posts []post
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == hostilePath {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, `<!doctype html><title>a sibling's page</title><iframe name="sink"></iframe>`)
		return
	}
	if r.Method != http.MethodPost {
		rec.next.ServeHTTP(w, r)
		return
	}
	sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
	rec.next.ServeHTTP(sw, r)
	_, err := r.Cookie("session")
	host, _, _ := net.SplitHostPort(r.Host)
	rec.mu.Lock()
	rec.posts = append(rec.posts, post{host: host, path: r.URL.Path, site: r.Header.Get("Sec-Fetch-Site"), cookie: err == nil, status: sw.code})
	rec.mu.Unlock()
}

// postsTo returns the recorded POSTs to host.
func (rec *recorder) postsTo(host string) []post {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []post
	for _, p := range rec.posts {
		if p.host == host {
			out = append(out, p)
		}
	}
	return out
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) { w.code = code; w.ResponseWriter.WriteHeader(code) }

// tab drives one browser tab against the CRM.
type tab struct {
	t    *testing.T
	ctx  context.Context
	port string
}

func (b *tab) url(host, path string) string { return "http://" + host + ":" + b.port + path }

func (b *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	require.NoError(b.t, chromedp.Do(ctx, steps...))
}

// open navigates and returns the final HTTP status.
func (b *tab) open(host, path string) int64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(b.url(host, path)))
	require.NoError(b.t, err)
	return resp.Status
}

// submit clicks a form's button and returns the status of the page the
// browser lands on.
func (b *tab) submit(button string) int64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(button)))
	require.NoError(b.t, err)
	return resp.Status
}

func eval[T any](b *tab, js string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	require.NoError(b.t, err, js)
	return v
}

// eventually waits until the JavaScript condition holds in the tab, across
// reloads (a page that is loading answers nothing, and is asked again).
func (b *tab) eventually(cond string) {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+cond+")"))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("still false after 20s: %s (last error: %v)", cond, err)
		}
		<-tick.C
	}
}

func (b *tab) body() string { b.t.Helper(); return eval[string](b, `document.body.innerText`) }

// brand is the page's company name and the header's computed colour.
func (b *tab) brand() string {
	b.t.Helper()
	return eval[string](b, `document.getElementById("company").textContent + " " + getComputedStyle(document.querySelector(".bar")).backgroundColor`)
}

func (b *tab) signIn(host, email string) {
	b.t.Helper()
	b.open(host, "/login/")
	b.do(chromedp.SetValue(chromedp.CSS(`#login input[name=email]`), email),
		chromedp.SetValue(chromedp.CSS(`#login input[name=password]`), demoPassword))
	require.EqualValues(b.t, http.StatusOK, b.submit(`#login button`))
	b.do(chromedp.WaitVisible(chromedp.CSS(`#overview`)))
}

// screenshot writes the page as a PNG into dir and logs its path.
func (b *tab) screenshot(dir, name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(b.t, err)
	path := filepath.Join(dir, name+".png")
	require.NoError(b.t, os.WriteFile(path, png, 0o644))
	b.t.Logf("screenshot: %s", path)
}

// rowID is the data-id of the first row of list whose text has s.
func (b *tab) rowID(list, s string) string {
	b.t.Helper()
	js := fmt.Sprintf(`(() => { const r = [...document.querySelectorAll(%q)].find(e => e.textContent.includes(%q)); return r ? r.dataset.id : ""; })()`,
		list+" [data-id]", s)
	id := eval[string](b, js)
	require.NotEmpty(b.t, id, "no row with %q in %s", s, list)
	return id
}

// fetchStatus fetches path from the page's origin, with its cookies.
func (b *tab) fetchStatus(path string) int {
	b.t.Helper()
	return eval[int](b, fmt.Sprintf(`fetch(%q, {credentials: "same-origin"}).then(r => r.status)`, path))
}

func TestBrowser(t *testing.T) {
	start := time.Now()
	dir := t.TempDir()
	cfg, _, err := parseFlags("crm", []string{"-data", dir, "-operator-token", "op-secret", "-bcrypt-cost", "4"}, io.Discard)
	require.NoError(t, err)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	a, err := newApp(ctx, cfg, log)
	require.NoError(t, err)
	t.Cleanup(a.close)
	acme, globex := demoTenants[0].t, demoTenants[1].t
	for host, id := range map[string]string{acmeSibling: acme.ID, globexSibling: globex.ID} {
		require.NoError(t, a.tenants.PutDomain(ctx, tenant.Domain{Host: host, TenantID: id, Status: tenant.DomainActive}))
	}
	rec := &recorder{next: a.routes()}
	ts := httptest.NewUnstartedServer(nil)
	ts.Config = newHTTPServer(cfg, rec, log)
	ts.Start()
	t.Cleanup(ts.Close)
	_, port, _ := net.SplitHostPort(ts.Listener.Addr().String())

	b := &tab{t: t, ctx: testenv.Chromium(t, hostRules), port: port}
	shots, err := os.MkdirTemp("", "tenantwall-crm-screens-")
	require.NoError(t, err)
	const acmeHost, globexHost, acmeCustom = "acme.localhost", "globex.localhost", "crm.acme.test"
	acmeRed, globexBlue := "Acme Corporation rgb(217, 72, 15)", "Globex Inc rgb(28, 126, 214)"
	acmeLeads := func() []map[string]any {
		items, err := a.list(tenant.NewContext(ctx, acme), resources["leads"])
		require.NoError(t, err)
		return items
	}
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, func(t *testing.T) { b.t = t; f(t) }) {
			t.FailNow()
		}
		b.t = t
	}
	var leadID, docID string

	step("acme signed out shows its sign-in page in its branding", func(t *testing.T) {
		assert.EqualValues(t, http.StatusOK, b.open(acmeHost, "/"))
		assert.Equal(t, b.url(acmeHost, "/login/"), eval[string](b, `location.href`))
		assert.Equal(t, acmeRed, b.brand())
		// app.js ran under the policy: the unreachable logo is hidden.
		b.eventually(`document.querySelector("img[data-logo]").hidden`)
	})

	step("acme signed in sees only acme's data", func(t *testing.T) {
		b.signIn(acmeHost, "admin@acme.test")
		assert.Equal(t, acmeRed, b.brand())
		assert.Contains(t, b.body(), "admin@acme.test")
		b.screenshot(shots, "acme-dashboard")
		b.open(acmeHost, "/leads/")
		body := b.body()
		for _, n := range demoTenants[0].leads {
			assert.Contains(t, body, n)
		}
		for _, n := range demoTenants[1].leads {
			assert.NotContains(t, body, n)
		}
	})

	step("the lead form says what is wrong, then creates, edits, sets the status and deletes", func(t *testing.T) {
		b.do(chromedp.SetValue(chromedp.CSS(`#new-lead input[name=name]`), "   "),
			chromedp.SetValue(chromedp.CSS(`#new-lead input[name=phone]`), "555-0199"))
		assert.EqualValues(t, http.StatusBadRequest, b.submit(`#new-lead button`))
		assert.Contains(t, eval[string](b, `document.getElementById("form-error").textContent`), `field "name": must not be empty`)
		assert.Equal(t, "555-0199", eval[string](b, `document.querySelector("#new-lead input[name=phone]").value`), "the input is kept")

		// A name with markup is shown as text, never as markup.
		name := `Browser Lead <b id="pwned">`
		b.do(chromedp.SetValue(chromedp.CSS(`#new-lead input[name=name]`), name))
		assert.EqualValues(t, http.StatusOK, b.submit(`#new-lead button`))
		assert.Contains(t, b.body(), name)
		assert.False(t, eval[bool](b, `!!document.getElementById("pwned")`))
		leadID = b.rowID("#leads", "Browser Lead")

		b.do(chromedp.SetValue(chromedp.CSS(`#leads tr[data-id="`+leadID+`"] select`), "qualified"))
		assert.EqualValues(t, http.StatusOK, b.submit(`#leads tr[data-id="`+leadID+`"] form.inline button`))
		assert.Equal(t, "qualified", eval[string](b, `document.querySelector('#leads tr[data-id="`+leadID+`"] select').value`))

		assert.EqualValues(t, http.StatusOK, b.open(acmeHost, "/leads/"+leadID+"/"))
		b.do(chromedp.SetValue(chromedp.CSS(`#edit-lead input[name=phone]`), "555-0123"))
		assert.EqualValues(t, http.StatusOK, b.submit(`#edit-lead button`))
		assert.Contains(t, b.body(), "555-0123")

		b.do(chromedp.SetValue(chromedp.CSS(`#new-lead input[name=name]`), "Doomed lead"))
		b.submit(`#new-lead button`)
		doomed := b.rowID("#leads", "Doomed lead")
		assert.EqualValues(t, http.StatusOK, b.submit(`#leads tr[data-id="`+doomed+`"] button.danger`))
		assert.NotContains(t, b.body(), "Doomed lead")
	})

	step("tasks are created and marked done", func(t *testing.T) {
		b.open(acmeHost, "/tasks/")
		b.do(chromedp.SetValue(chromedp.CSS(`#new-task input[name=title]`), "Browser task"),
			chromedp.SetValue(chromedp.CSS(`#new-task input[name=due]`), "2030-01-02"))
		assert.EqualValues(t, http.StatusOK, b.submit(`#new-task button`))
		id := b.rowID("#tasks", "Browser task")
		assert.EqualValues(t, http.StatusOK, b.submit(`#tasks tr[data-id="`+id+`"] form.inline button`))
		assert.True(t, eval[bool](b, `document.querySelector('#tasks tr[data-id="`+id+`"]').classList.contains("done")`))
	})

	step("the pages fit a phone's screen", func(t *testing.T) {
		b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
		for _, p := range []string{"/", "/leads/", "/tasks/", "/documents/"} {
			b.open(acmeHost, p)
			assert.True(t, eval[bool](b, `document.documentElement.scrollWidth <= window.innerWidth`), "%s scrolls sideways on a phone", p)
		}
		b.open(acmeHost, "/leads/")
		b.screenshot(shots, "acme-leads-phone")
		b.do(chromedp.EmulateViewport(1280, 900)) // the window size the browser started with
	})

	step("globex in the same browser is signed out and shows its own branding", func(t *testing.T) {
		assert.EqualValues(t, http.StatusOK, b.open(globexHost, "/leads/"))
		assert.Equal(t, b.url(globexHost, "/login/"), eval[string](b, `location.href`))
		assert.Equal(t, globexBlue, b.brand())
	})

	step("globex signed in sees only globex's data", func(t *testing.T) {
		b.signIn(globexHost, "admin@globex.test")
		assert.Equal(t, globexBlue, b.brand())
		b.screenshot(shots, "globex-dashboard")
		b.open(globexHost, "/leads/")
		body := b.body()
		for _, n := range demoTenants[1].leads {
			assert.Contains(t, body, n)
		}
		for _, n := range append(demoTenants[0].leads, "Browser Lead") {
			assert.NotContains(t, body, n)
		}
	})

	step("acme's lead URL under globex's host is not found", func(t *testing.T) {
		assert.EqualValues(t, http.StatusNotFound, b.open(globexHost, "/leads/"+leadID+"/"))
		b.do(chromedp.WaitVisible(chromedp.CSS(`#not-found`)))
		assert.NotContains(t, b.body(), "Browser Lead")
		assert.Equal(t, globexBlue, b.brand())
		status := eval[int](b, `fetch("/leads/`+leadID+`/", {method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: "status=lost"}).then(r => r.status)`)
		assert.Equal(t, http.StatusNotFound, status, "a same-origin update of acme's lead from globex")
	})

	step("a document uploaded on acme downloads on acme and not on globex", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "acme-secret.txt")
		content := strings.Repeat("acme only, line of a larger file\n", 64<<10) // 2 MiB, for progress events
		require.NoError(t, os.WriteFile(file, []byte(content), 0o600))
		b.open(acmeHost, "/documents/")
		// Progress is recorded where it survives the reload after the upload.
		eval[bool](b, `(() => { const p = document.querySelector("#upload progress"); sessionStorage.removeItem("progress");
			new MutationObserver(() => sessionStorage.setItem("progress", p.value + "/" + p.max)).observe(p, {attributes: true}); return true; })()`)
		b.do(chromedp.SetUploadFiles(chromedp.CSS(`#upload input[type=file]`), []string{file}),
			chromedp.Click(chromedp.CSS(`#upload button`)))
		b.eventually(`document.querySelector("#documents") && document.querySelector("#documents").textContent.includes("acme-secret.txt")`)
		progress := eval[string](b, `sessionStorage.getItem("progress") || ""`)
		done, total, _ := strings.Cut(progress, "/")
		assert.True(t, done != "" && done == total && total != "1", "progress shown: %q", progress)
		docID = b.rowID("#documents", "acme-secret.txt")
		got := eval[string](b, `fetch("/api/documents/`+docID+`/download/").then(async r => r.status + " " + r.headers.get("Content-Disposition") + " " + (await r.text()).slice(0, 20))`)
		assert.Regexp(t, `^200 attachment; filename="acme-secret\.txt"; .* acme only, line of a$`, got, "status, disposition, content")

		// An uploaded page is never rendered on acme's origin, where its
		// script would run with acme's session.
		page := filepath.Join(t.TempDir(), "page.html")
		require.NoError(t, os.WriteFile(page, []byte(`<!doctype html><script>localStorage.setItem("pwned", "1")</script><p>hi</p>`), 0o600))
		b.open(acmeHost, "/documents/")
		b.do(chromedp.SetUploadFiles(chromedp.CSS(`#upload input[type=file]`), []string{page}),
			chromedp.Click(chromedp.CSS(`#upload button`)))
		b.eventually(`document.querySelector("#documents") && document.querySelector("#documents").textContent.includes("page.html")`)
		pageID := b.rowID("#documents", "page.html")
		ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
		_ = chromedp.Do(ctx, chromedp.Navigate(b.url(acmeHost, "/api/documents/"+pageID+"/download/"))) // a download aborts the navigation
		cancel()
		b.open(acmeHost, "/documents/")
		assert.False(t, eval[bool](b, `localStorage.getItem("pwned") !== null`), "the uploaded page's script ran on acme's origin")

		b.open(globexHost, "/documents/")
		assert.NotContains(t, b.body(), "acme-secret.txt")
		assert.Equal(t, http.StatusNotFound, b.fetchStatus("/api/documents/"+docID+"/download/"))
	})

	step("an applicant is added with a photo, shown on acme only", func(t *testing.T) {
		var img bytes.Buffer
		m := image.NewRGBA(image.Rect(0, 0, 32, 32))
		for i := range m.Pix {
			m.Pix[i] = 0xc0
		}
		m.Set(1, 1, color.RGBA{R: 255, A: 255})
		require.NoError(t, png.Encode(&img, m))
		photo := filepath.Join(t.TempDir(), "ada.png")
		require.NoError(t, os.WriteFile(photo, img.Bytes(), 0o600))
		notPhoto := filepath.Join(t.TempDir(), "notes.txt")
		require.NoError(t, os.WriteFile(notPhoto, []byte("not an image"), 0o600))
		b.open(acmeHost, "/applicants/")
		b.do(chromedp.SetValue(chromedp.CSS(`#new-applicant input[name=name]`), "Ada Applicant"),
			chromedp.SetUploadFiles(chromedp.CSS(`#new-applicant input[name=photo]`), []string{notPhoto}),
			chromedp.Click(chromedp.CSS(`#new-applicant button`)))
		b.eventually(`document.querySelector("#new-applicant [data-error]").textContent.includes("must be a PNG, JPEG, GIF or WebP image")`)
		assert.Equal(t, "Ada Applicant", eval[string](b, `document.querySelector("#new-applicant input[name=name]").value`), "the input is kept")
		b.do(chromedp.SetValue(chromedp.CSS(`#new-applicant input[name=name]`), "Ada Applicant"),
			chromedp.SetUploadFiles(chromedp.CSS(`#new-applicant input[name=photo]`), []string{photo}),
			chromedp.Click(chromedp.CSS(`#new-applicant button`)))
		b.eventually(`document.querySelector("#applicants img.photo") && document.querySelector("#applicants img.photo").naturalWidth === 32`)
		id := b.rowID("#applicants", "Ada Applicant")
		b.open(globexHost, "/applicants/")
		assert.NotContains(t, b.body(), "Ada Applicant")
		assert.Equal(t, http.StatusNotFound, b.fetchStatus("/api/applicants/"+id+"/photo/"))
	})

	step("notifications arrive live, to their own tenant only", func(t *testing.T) {
		gctx, cancel := chromedp.NewContext(b.ctx) // a second tab of the same profile
		defer cancel()
		require.NoError(t, chromedp.Do(gctx)) // opens the tab, for as long as gctx lives
		g := &tab{t: t, ctx: gctx, port: port}
		g.open(globexHost, "/notifications/")
		g.eventually(`document.getElementById("live").dataset.live === "connected"`)
		b.open(acmeHost, "/notifications/")
		b.eventually(`document.getElementById("live").dataset.live === "connected"`)
		eval[bool](b, `window.sameDocument = true`)
		status := eval[int](b, `fetch("/api/notifications/", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({message: "Live for acme"})}).then(r => r.status)`)
		require.Equal(t, http.StatusCreated, status)
		b.eventually(`document.getElementById("notifications").textContent.includes("Live for acme")`)
		assert.True(t, eval[bool](b, `window.sameDocument === true`), "shown without a reload")
		status = eval[int](g, `fetch("/api/notifications/", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({message: "Live for globex"})}).then(r => r.status)`)
		require.Equal(t, http.StatusCreated, status)
		// One socket delivers in order: had acme's message gone to globex,
		// it would be there before globex's own.
		g.eventually(`document.getElementById("notifications").textContent.includes("Live for globex")`)
		assert.NotContains(t, g.body(), "Live for acme")
		assert.NotContains(t, b.body(), "Live for globex")
	})

	step("the custom domain shows acme", func(t *testing.T) {
		assert.EqualValues(t, http.StatusOK, b.open(acmeCustom, "/"))
		assert.Equal(t, b.url(acmeCustom, "/login/"), eval[string](b, `location.href`))
		assert.Equal(t, acmeRed, b.brand())
		b.signIn(acmeCustom, "admin@acme.test")
		b.open(acmeCustom, "/leads/")
		assert.Contains(t, b.body(), "Browser Lead")
		assert.NotContains(t, b.body(), "Hank Scorpio")
	})

	// attack runs, on a page of the sibling host, a form post,
	// credentialed fetches and a WebSocket at the victim's host, then
	// waits until the server has answered the form.
	attack := func(t *testing.T, sibling, victim string) []post {
		before := len(rec.postsTo(victim))
		b.open(sibling, hostilePath)
		js := fmt.Sprintf(`(async (origin, id) => {
			const opts = {method: "POST", credentials: "include", mode: "no-cors"};
			const form = {...opts, headers: {"Content-Type": "application/x-www-form-urlencoded"}};
			await fetch(origin + "/leads/" + id + "/delete/", opts).catch(() => {});
			await fetch(origin + "/leads/", {...form, body: "name=Planted+by+a+sibling"}).catch(() => {});
			await fetch(origin + "/api/leads/", {...opts, headers: {"Content-Type": "text/plain"}, body: '{"name":"Planted by a sibling"}'}).catch(() => {});
			await fetch(origin + "/logout/", opts).catch(() => {});
			const f = document.createElement("form");
			f.method = "post"; f.action = origin + "/leads/" + id + "/"; f.target = "sink";
			const i = document.createElement("input"); i.name = "status"; i.value = "lost"; f.appendChild(i);
			document.body.appendChild(f); f.submit();
			return true;
		})(%s, %s)`, mustJSON(b.url(victim, "")), mustJSON(leadID))
		eval[bool](b, js)
		// Nor may it listen to acme's notifications: the socket's handshake
		// carries the cookie too, and the Origin check refuses it.
		socket := eval[string](b, fmt.Sprintf(`new Promise(done => {
			const s = new WebSocket(%s + "/ws/notifications");
			s.onopen = () => { s.close(); done("open"); };
			s.onerror = () => done("refused");
		})`, mustJSON("ws://"+victim+":"+b.port)))
		assert.Equal(t, "refused", socket, "a WebSocket to %s from %s", victim, sibling)
		deadline := time.Now().Add(20 * time.Second)
		for len(rec.postsTo(victim)) < before+5 {
			require.True(t, time.Now().Before(deadline), "the server did not see the sibling's five posts: %+v", rec.postsTo(victim)[before:])
			// The form post is in flight in the iframe: ask the page.
			eval[bool](b, `new Promise(r => setTimeout(() => r(true), 50))`)
		}
		got := rec.postsTo(victim)[before:]
		for _, p := range got {
			assert.Equal(t, http.StatusForbidden, p.status, "%+v", p)
		}
		return got
	}
	unchanged := func(t *testing.T, victim string, want []map[string]any) {
		assert.Equal(t, want, acmeLeads(), "acme's leads changed")
		b.open(victim, "/leads/")
		assert.Contains(t, b.body(), "Browser Lead", "acme's session survived")
		assert.NotContains(t, b.body(), "Planted by a sibling")
	}

	step("a page on globex's subdomain cannot make the browser write to acme", func(t *testing.T) {
		want := acmeLeads()
		got := attack(t, globexHost, acmeHost)
		t.Logf("acme.localhost saw: %+v", got)
		unchanged(t, acmeHost, want)
	})

	step("nor can a same-site sibling, whose requests carry acme's cookie", func(t *testing.T) {
		b.signIn(acmeSibling, "admin@acme.test")
		want := acmeLeads()
		got := attack(t, globexSibling, acmeSibling)
		withCookie := 0
		for _, p := range got {
			if p.cookie {
				withCookie++
			}
		}
		// Over plain HTTP on a name other than localhost the browser sends
		// no Sec-Fetch-Site: the Origin header is what gives these away.
		t.Logf("%s saw: %+v", acmeSibling, got)
		assert.Positive(t, withCookie, "the browser sent acme's cookie along: only the server's check refused it")
		unchanged(t, acmeSibling, want)
	})

	t.Logf("browser suite: %s", time.Since(start).Round(time.Millisecond))
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
