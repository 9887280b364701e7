// Command loadtest drives the reference CRM server (examples/crm) with
// bearer-token clients of several tenants and checks that every answer
// belongs to the client's tenant. Start the server, then run for example
//
//	go run ./examples/crm -addr 127.0.0.1:18080 -data "$(mktemp -d)" -plans=
//	go run ./examples/crm/loadtest -url http://127.0.0.1:18080 -clients 32 -duration 15s
//
// At setup each tenant (by default the demo tenants acme and globex) gets a
// token from /api/auth/token/, sent with the Host header
// <slug>.<base-domain>, and its lead list is read once: that is the ground
// truth. Each client then belongs to one tenant and alternates a lead list
// and a lead read (its tenant's leads in turn). A 200 answer must hold
// only leads its tenant owned at setup, with their names; one lead of
// another tenant, or one no tenant owned, is a violation. The run leaves
// the data as it found it, so keep other writers off the server meanwhile.
//
// The run is bounded in time (-duration) and in count (-requests), and
// sends only to a loopback IP address. It prints throughput, latency
// percentiles (p50, p90, p99, max) and a histogram of statuses (0 is no
// answer). It exits 1 on any violation or any answer other than 200, and 2
// when it cannot set up.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// config is the command line.
type config struct {
	url        *url.URL
	clients    int
	duration   time.Duration
	requests   int64
	timeout    time.Duration
	tenants    []string
	baseDomain string
	email      string // with %s for the slug
	password   string
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	rawURL := fs.String("url", "http://127.0.0.1:18080", "base URL of the server; its host must be a loopback IP address")
	fs.IntVar(&c.clients, "clients", 32, "concurrent clients, spread over the tenants in turn")
	fs.DurationVar(&c.duration, "duration", 15*time.Second, "how long to send requests")
	fs.Int64Var(&c.requests, "requests", 1_000_000, "most requests of the whole run")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "longest wait for one answer")
	tenants := fs.String("tenants", "acme,globex", "comma-separated tenant slugs")
	fs.StringVar(&c.baseDomain, "base-domain", "localhost", "tenants are reached on <slug>.<base-domain>")
	fs.StringVar(&c.email, "email", "admin@%s.test", "user of each tenant; %s is the slug")
	fs.StringVar(&c.password, "password", "demo", "password of each tenant's user")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	u, err := loopbackURL(*rawURL)
	if err != nil {
		return c, err
	}
	c.url = u
	for s := range strings.SplitSeq(*tenants, ",") {
		if s = strings.TrimSpace(s); s != "" {
			c.tenants = append(c.tenants, s)
		}
	}
	switch {
	case strings.Count(c.email, "%") != 1 || !strings.Contains(c.email, "%s"):
		return c, fmt.Errorf("-email %q: want exactly one %%s, for the slug", c.email)
	case len(c.tenants) == 0:
		return c, errors.New("-tenants: no tenant")
	case c.clients < 1 || c.clients > 4096:
		return c, fmt.Errorf("-clients %d: want 1 to 4096", c.clients)
	case c.duration <= 0 || c.duration > time.Hour:
		return c, fmt.Errorf("-duration %s: want more than 0, at most 1h", c.duration)
	case c.requests < 1:
		return c, fmt.Errorf("-requests %d: want at least 1", c.requests)
	case c.timeout <= 0:
		return c, fmt.Errorf("-timeout %s: want more than 0", c.timeout)
	}
	return c, nil
}

// loopbackURL accepts only http URLs whose host is a loopback IP literal:
// the load must never leave the machine, and a name (even "localhost") is
// whatever the resolver says it is.
func loopbackURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("-url %q: %w", raw, err)
	}
	if u.Scheme != "http" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("-url %q: want http://host:port and nothing else", raw)
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("-url %q: host %q is not a loopback address", raw, host)
	}
	u.Path = ""
	return u, nil
}

// tenantClient is one tenant's credentials and leads.
type tenantClient struct {
	slug, host, token string
	leads             []int64
}

// loader sends the requests and keeps their outcomes.
type loader struct {
	cfg    config
	http   *http.Client
	owned  *ownership
	issued atomic.Int64

	mu         sync.Mutex
	statuses   map[int]int
	latencies  []time.Duration
	violations int
	examples   []string // the first violations
	firstErr   string   // the first request that got no answer
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "loadtest:", err)
		}
		return 2
	}
	l := &loader{
		cfg: cfg,
		http: &http.Client{Timeout: cfg.timeout, Transport: &http.Transport{
			MaxIdleConns: cfg.clients, MaxIdleConnsPerHost: cfg.clients, IdleConnTimeout: time.Minute,
			DisableCompression: true,
			// No proxy from the environment: the requests go to the
			// loopback -url and nowhere else; Host headers name tenants.
			Proxy: nil,
		}},
		owned:    newOwnership(),
		statuses: map[int]int{},
	}
	defer l.http.CloseIdleConnections()
	tenants, err := l.setup(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "loadtest: setup:", err)
		if errors.Is(err, errForeign) || errors.Is(err, errUnknown) {
			return 1
		}
		return 2
	}
	start := time.Now()
	deadline := start.Add(cfg.duration)
	var wg sync.WaitGroup
	for i := range cfg.clients {
		wg.Go(func() { l.client(ctx, tenants[i%len(tenants)], i, deadline) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	return l.report(stdout, tenants, elapsed)
}

// setup gets each tenant's token and its leads, the ground truth.
func (l *loader) setup(ctx context.Context) ([]*tenantClient, error) {
	var out []*tenantClient
	for _, slug := range l.cfg.tenants {
		t := &tenantClient{slug: slug, host: slug + "." + l.cfg.baseDomain}
		creds, _ := json.Marshal(map[string]string{"email": fmt.Sprintf(l.cfg.email, slug), "password": l.cfg.password})
		code, body, err := l.send(ctx, t.host, "", http.MethodPost, "/api/auth/token/", creds)
		if err != nil || code != http.StatusOK {
			return nil, fmt.Errorf("token of tenant %q: status %d %v %s", slug, code, err, snippet(body))
		}
		var tok struct {
			Access string `json:"access"`
		}
		if err := json.Unmarshal(body, &tok); err != nil || tok.Access == "" {
			return nil, fmt.Errorf("token of tenant %q: %w: %s", slug, errMalformed, snippet(body))
		}
		t.token = tok.Access
		code, body, err = l.send(ctx, t.host, t.token, http.MethodGet, "/api/leads/", nil)
		if err != nil || code != http.StatusOK {
			return nil, fmt.Errorf("leads of tenant %q: status %d %v %s", slug, code, err, snippet(body))
		}
		leads, err := parseList(body)
		if err != nil {
			return nil, fmt.Errorf("leads of tenant %q: %w", slug, err)
		}
		if len(leads) == 0 {
			return nil, fmt.Errorf("tenant %q has no lead to read", slug)
		}
		if err := l.owned.add(slug, leads); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	for _, t := range out {
		t.leads = l.owned.ids[t.slug]
	}
	return out, nil
}

// client alternates a list and a read of t's leads until the deadline or
// the run's request budget.
func (l *loader) client(ctx context.Context, t *tenantClient, n int, deadline time.Time) {
	var lat []time.Duration
	statuses := map[int]int{}
	var bad []string
	firstErr := ""
	for op := 0; time.Now().Before(deadline) && l.issued.Add(1) <= l.cfg.requests; op++ {
		path, id := "/api/leads/", int64(0)
		if op%2 == 1 {
			id = t.leads[(n+op/2)%len(t.leads)]
			path += strconv.FormatInt(id, 10) + "/"
		}
		start := time.Now()
		code, body, err := l.send(ctx, t.host, t.token, http.MethodGet, path, nil)
		lat = append(lat, time.Since(start))
		statuses[code]++
		if err != nil {
			// No answer: counted under status 0, not a violation.
			if firstErr == "" {
				firstErr = "GET " + path + " (" + t.slug + "): " + err.Error()
			}
			continue
		}
		if code != http.StatusOK {
			continue
		}
		if id == 0 {
			err = l.owned.checkList(t.slug, body)
		} else {
			err = l.owned.checkRead(t.slug, id, body)
		}
		if err != nil {
			bad = append(bad, err.Error())
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.latencies = append(l.latencies, lat...)
	for c, k := range statuses {
		l.statuses[c] += k
	}
	l.violations += len(bad)
	if firstErr != "" && l.firstErr == "" {
		l.firstErr = firstErr
	}
	if len(l.examples) < 10 {
		l.examples = append(l.examples, bad[:min(len(bad), 10-len(l.examples))]...)
	}
}

// send makes one request; a transport error is status 0.
func (l *loader) send(ctx context.Context, host, token, method, path string, body []byte) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, l.cfg.url.String()+path, r)
	if err != nil {
		return 0, nil, err
	}
	req.Host = host
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := l.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if err != nil {
		return 0, nil, err
	}
	return res.StatusCode, b, nil
}

// report prints the figures and returns the exit status.
func (l *loader) report(w io.Writer, tenants []*tenantClient, elapsed time.Duration) int {
	slugs := make([]string, len(tenants))
	for i, t := range tenants {
		slugs[i] = fmt.Sprintf("%s (%d leads)", t.slug, len(t.leads))
	}
	lat := sortedCopy(l.latencies)
	total := len(lat)
	fmt.Fprintf(w, "target     %s, %d clients over %s\n", l.cfg.url, l.cfg.clients, strings.Join(slugs, ", "))
	fmt.Fprintf(w, "requests   %d in %s: %.1f req/s\n", total, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds())
	if total > 0 {
		fmt.Fprintf(w, "latency    p50 %s  p90 %s  p99 %s  max %s\n", ms(percentile(lat, 50)), ms(percentile(lat, 90)),
			ms(percentile(lat, 99)), ms(lat[total-1]))
	}
	codes := make([]int, 0, len(l.statuses))
	for c := range l.statuses {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	fmt.Fprint(w, "statuses  ")
	failed := 0
	for _, c := range codes {
		fmt.Fprintf(w, " %d: %d", c, l.statuses[c])
		if c != http.StatusOK {
			failed += l.statuses[c]
		}
	}
	fmt.Fprintln(w)
	if l.firstErr != "" {
		fmt.Fprintln(w, "first unanswered request:", l.firstErr)
	}
	fmt.Fprintf(w, "violations %d\n", l.violations)
	for _, e := range l.examples {
		fmt.Fprintln(w, "  ", e)
	}
	if l.violations > 0 || failed > 0 {
		fmt.Fprintf(w, "FAIL: %d violations, %d answers other than 200\n", l.violations, failed)
		return 1
	}
	fmt.Fprintln(w, "ok: every answer was 200 and held only its tenant's leads")
	return 0
}

// ms prints a latency in milliseconds with two decimals.
func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + " ms"
}
