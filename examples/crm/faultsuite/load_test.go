package faultsuite

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// clientTimeout bounds one request: an answer later than this is no
	// answer. It is longer than any fault is held, so a server that waits
	// out a fault and then answers is not counted against.
	clientTimeout = 20 * time.Second
	// maxOpsPerClient bounds the load in count as the phases bound it in
	// time.
	maxOpsPerClient = 20000
)

// Violation kinds: each is a failed check.
const (
	vForeign  = "foreign or unscoped response"
	vLie      = "untruthful error (not the operation's success, nor 503 with Retry-After)"
	vNoAnswer = "no answer (transport error or timeout)"
	vLost     = "acknowledged write lost"
	vStale    = "stale read after recovery"
)

// phase of a scenario, by the time an answer arrived.
const (
	phaseBefore = iota
	phaseDuring
	phaseAfter
	phases
)

var phaseNames = [phases]string{"before", "during", "after"}

// recorder collects every answer of a scenario and the checks it failed.
type recorder struct {
	phase atomic.Int32

	mu         sync.Mutex
	faultStart time.Time
	faultEnd   time.Time
	firstBad   time.Time           // arrival of the first answer that was not a success
	lastBad    time.Time           // arrival of the last answer that was not a success
	drained    time.Time           // arrival of the last answer to a request sent before the fault's end
	counts     [phases]map[int]int // by status code; 0 is no answer
	latencies  [phases][]time.Duration
	violations map[string]int
	examples   map[string][]string
}

func newRecorder() *recorder {
	r := &recorder{violations: map[string]int{}, examples: map[string][]string{}}
	for i := range r.counts {
		r.counts[i] = map[int]int{}
	}
	return r
}

// startFault marks the moment the fault was injected.
func (r *recorder) startFault() {
	r.mu.Lock()
	r.faultStart = time.Now()
	r.mu.Unlock()
	r.phase.Store(phaseDuring)
}

// endFault marks the moment the fault was lifted.
func (r *recorder) endFault() {
	r.mu.Lock()
	r.faultEnd = time.Now()
	r.mu.Unlock()
	r.phase.Store(phaseAfter)
}

func (r *recorder) violate(kind, example string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.violations[kind]++
	if len(r.examples[kind]) < 5 {
		r.examples[kind] = append(r.examples[kind], example)
	}
}

// record counts one answer as a success or not; the caller has checked
// its body and reported any violation.
func (r *recorder) record(a answer, success bool) {
	p := r.phase.Load()
	r.mu.Lock()
	defer r.mu.Unlock()
	code := a.code
	if a.err != nil {
		code = 0
	}
	r.counts[p][code]++
	r.latencies[p] = append(r.latencies[p], a.end.Sub(a.start))
	if !r.faultEnd.IsZero() && a.start.Before(r.faultEnd) && a.end.After(r.drained) {
		r.drained = a.end
	}
	if success {
		return
	}
	if r.firstBad.IsZero() || a.end.Before(r.firstBad) {
		r.firstBad = a.end
	}
	if a.end.After(r.lastBad) {
		r.lastBad = a.end
	}
}

// cleanSince reports whether every answer since d ago, and since the
// fault's end, was a success, and at least one arrived.
func (r *recorder) cleanSince(d time.Duration) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	from := r.faultEnd
	if r.lastBad.After(from) {
		from = r.lastBad
	}
	return time.Since(from) >= d && len(r.counts[phaseAfter]) > 0
}

// recovery is the time from the fault's end to the last answer that was
// not a success (zero when there was none after the end).
func (r *recorder) recovery() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lastBad.After(r.faultEnd) {
		return r.lastBad.Sub(r.faultEnd)
	}
	return 0
}

// drain is the time from the fault's end to the last answer to a request
// sent before it: how long requests caught in the fault waited past it.
func (r *recorder) drain() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.drained.After(r.faultEnd) {
		return r.drained.Sub(r.faultEnd)
	}
	return 0
}

// outage is when answers other than successes arrived, relative to the
// fault's start; ok is false when there were none.
func (r *recorder) outage() (from, to time.Duration, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.firstBad.IsZero() {
		return 0, 0, false
	}
	return r.firstBad.Sub(r.faultStart), r.lastBad.Sub(r.faultStart), true
}

// summary is one line per phase: answers by status (0: no answer) and the
// latency percentiles.
func (r *recorder) summary() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for p := range phases {
		total := 0
		codes := make([]int, 0, len(r.counts[p]))
		for c, n := range r.counts[p] {
			total += n
			codes = append(codes, c)
		}
		sort.Ints(codes)
		fmt.Fprintf(&b, "  %-6s %6d answers", phaseNames[p], total)
		for _, c := range codes {
			fmt.Fprintf(&b, ", %d×%d", c, r.counts[p][c])
		}
		if l := r.latencies[p]; len(l) > 0 {
			sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
			fmt.Fprintf(&b, "; latency p50 %v p99 %v max %v", l[len(l)/2].Round(time.Millisecond),
				l[len(l)*99/100].Round(time.Millisecond), l[len(l)-1].Round(time.Millisecond))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// report lists every violated check with up to five examples; empty when
// every check held.
func (r *recorder) report() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	kinds := make([]string, 0, len(r.violations))
	for k := range r.violations {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var b strings.Builder
	for _, k := range kinds {
		fmt.Fprintf(&b, "%s: %d\n", k, r.violations[k])
		for _, ex := range r.examples[k] {
			fmt.Fprintf(&b, "    e.g. %s\n", ex)
		}
	}
	return b.String()
}

// load is a set of clients, each bound to one tenant, sending a mix of
// reads and writes until stopped or maxOpsPerClient.
type load struct {
	e      *env
	rec    *recorder
	stopCh chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
}

// mix is a load's choice of operations.
type mix int

const (
	// mixed: 30% lead creations, 15% lists, 20% dashboards, 10% reads of
	// an own lead, 5% of another tenant's, 10% /me, 10% branding.
	mixed mix = iota
	// dbBound: lead creations and lists only, the two operations that
	// hold a database connection longest; half each.
	dbBound
)

// startLoad starts n clients; client i works for tenant first+i modulo
// the number of tenants.
func (e *env) startLoad(rec *recorder, m mix, n, first int) *load {
	l := &load{e: e, rec: rec, stopCh: make(chan struct{})}
	for i := range n {
		f := e.tenants[(first+i)%len(e.tenants)]
		rng := rand.New(rand.NewPCG(uint64(first+i), 20))
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for seq := range maxOpsPerClient {
				select {
				case <-l.stopCh:
					return
				default:
				}
				name := fmt.Sprintf("%s/c%d/%d", f.slug, first+i, seq)
				if m == dbBound {
					if rng.IntN(2) == 0 {
						e.createLead(rec, f, name)
					} else {
						e.listLeads(rec, f)
					}
					continue
				}
				e.op(rec, f, rng, name)
			}
		}()
	}
	return l
}

// stop lets the requests in flight finish and returns when every client
// has stopped. It may be called more than once.
func (l *load) stop() {
	l.once.Do(func() { close(l.stopCh) })
	l.wg.Wait()
}

// op sends one request of the mixed load and checks its answer.
func (e *env) op(rec *recorder, f *tenantFixture, rng *rand.Rand, name string) {
	switch n := rng.IntN(100); {
	case n < 30:
		e.createLead(rec, f, name)
	case n < 45:
		e.listLeads(rec, f)
	case n < 65:
		e.readDashboard(rec, f)
	case n < 75:
		acked := f.ackedSnapshot()
		if len(acked) == 0 {
			e.listLeads(rec, f)
			return
		}
		e.getLead(rec, f, acked[rng.IntN(len(acked))], "get own lead", http.StatusOK)
	case n < 80:
		other := e.tenants[(f.idx+1+rng.IntN(len(e.tenants)-1))%len(e.tenants)]
		acked := other.ackedSnapshot()
		if len(acked) == 0 {
			e.listLeads(rec, f)
			return
		}
		e.getLead(rec, f, acked[rng.IntN(len(acked))], "get foreign lead", http.StatusNotFound)
	case n < 90:
		e.me(rec, f)
	default:
		e.branding(rec, f)
	}
}

// judge checks an answer against the operation's success code: anything
// else must be a truthful 503 with Retry-After. It reports whether the
// answer was the success, whose body the caller then checks.
func (e *env) judge(rec *recorder, f *tenantFixture, op string, want int, a answer) bool {
	ok := a.err == nil && a.code == want
	rec.record(a, ok)
	switch {
	case ok:
	case a.err != nil:
		rec.violate(vNoAnswer, fmt.Sprintf("%s (%s): %v after %v", op, f.slug, a.err, a.end.Sub(a.start).Round(time.Millisecond)))
	case a.code != http.StatusServiceUnavailable:
		rec.violate(vLie, fmt.Sprintf("%s (%s): %d %s", op, f.slug, a.code, snippet(a.body)))
	case !validRetryAfter(a.retryAfter):
		rec.violate(vLie, fmt.Sprintf("%s (%s): 503 with Retry-After %q: %s", op, f.slug, a.retryAfter, snippet(a.body)))
	}
	return ok
}

// validRetryAfter accepts delay-seconds or an HTTP date (RFC 9110 10.2.3).
func validRetryAfter(v string) bool {
	if v == "" {
		return false
	}
	if n, err := strconv.Atoi(v); err == nil {
		return n >= 0
	}
	_, err := http.ParseTime(v)
	return err == nil
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}

func (e *env) createLead(rec *recorder, f *tenantFixture, name string) {
	f.sent.Add(1)
	a := e.do(context.Background(), f.host, f.token, http.MethodPost, "/api/leads/", map[string]string{"name": name})
	if !e.judge(rec, f, "create lead", http.StatusCreated, a) {
		return
	}
	var got lead
	if err := json.Unmarshal(a.body, &got); err != nil || got.Name != name || got.ID <= 0 {
		rec.violate(vForeign, fmt.Sprintf("create lead (%s) %q answered %s", f.slug, name, snippet(a.body)))
		return
	}
	f.ack(got)
}

// listLeads checks that the list holds only the tenant's leads and every
// lead acknowledged before it was sent.
func (e *env) listLeads(rec *recorder, f *tenantFixture) {
	before := f.ackedSnapshot()
	a := e.do(context.Background(), f.host, f.token, http.MethodGet, "/api/leads/", nil)
	if !e.judge(rec, f, "list leads", http.StatusOK, a) {
		return
	}
	e.checkList(rec, f, a.body, before)
}

// checkList checks a lead list body of tenant f against the leads
// acknowledged before it was asked for, and returns how many it holds.
func (e *env) checkList(rec *recorder, f *tenantFixture, body []byte, before []lead) int {
	var list struct {
		Results []lead `json:"results"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		rec.violate(vForeign, fmt.Sprintf("list leads (%s): not a list: %s", f.slug, snippet(body)))
		return -1
	}
	got := make(map[int64]string, len(list.Results))
	for _, l := range list.Results {
		if !strings.HasPrefix(l.Name, f.slug+"/") {
			rec.violate(vForeign, fmt.Sprintf("list leads (%s) holds lead %d %q", f.slug, l.ID, l.Name))
		}
		got[l.ID] = l.Name
	}
	for _, l := range before {
		if name, ok := got[l.ID]; !ok || name != l.Name {
			rec.violate(vLost, fmt.Sprintf("lead %d %q of %s, acknowledged with 201, missing from a later list of %d", l.ID, l.Name, f.slug, len(got)))
		}
	}
	return len(list.Results)
}

func (e *env) getLead(rec *recorder, f *tenantFixture, l lead, op string, want int) {
	a := e.do(context.Background(), f.host, f.token, http.MethodGet, "/api/leads/"+strconv.FormatInt(l.ID, 10)+"/", nil)
	if want == http.StatusNotFound && a.err == nil && a.code == http.StatusOK {
		rec.record(a, false)
		rec.violate(vForeign, fmt.Sprintf("%s (%s): another tenant's lead %d %q answered 200 %s", op, f.slug, l.ID, l.Name, snippet(a.body)))
		return
	}
	if !e.judge(rec, f, op, want, a) {
		return
	}
	if want != http.StatusOK {
		return
	}
	var got lead
	if err := json.Unmarshal(a.body, &got); err != nil || got.ID != l.ID || got.Name != l.Name {
		rec.violate(vForeign, fmt.Sprintf("%s (%s): lead %d %q answered %s", op, f.slug, l.ID, l.Name, snippet(a.body)))
	}
}

type overview struct {
	Leads *int `json:"leads"`
}

// readDashboard checks that the lead count is a count of this tenant's
// leads: never more than the tenant ever asked to create.
func (e *env) readDashboard(rec *recorder, f *tenantFixture) {
	a := e.do(context.Background(), f.host, f.token, http.MethodGet, "/api/dashboard/overview/?filter=all", nil)
	if !e.judge(rec, f, "dashboard", http.StatusOK, a) {
		return
	}
	e.checkDashboard(rec, f, a.body)
}

func (e *env) checkDashboard(rec *recorder, f *tenantFixture, body []byte) int {
	var o overview
	if err := json.Unmarshal(body, &o); err != nil || o.Leads == nil {
		rec.violate(vForeign, fmt.Sprintf("dashboard (%s): %s", f.slug, snippet(body)))
		return -1
	}
	if sent := f.sent.Load(); int64(*o.Leads) > sent {
		rec.violate(vForeign, fmt.Sprintf("dashboard (%s) counts %d leads, more than the %d it ever sent", f.slug, *o.Leads, sent))
	}
	return *o.Leads
}

func (e *env) me(rec *recorder, f *tenantFixture) {
	a := e.do(context.Background(), f.host, f.token, http.MethodGet, "/api/auth/me/", nil)
	if !e.judge(rec, f, "me", http.StatusOK, a) {
		return
	}
	var u struct {
		Email string `json:"email"`
	}
	if err := json.Unmarshal(a.body, &u); err != nil || u.Email != f.email {
		rec.violate(vForeign, fmt.Sprintf("me (%s): %s", f.slug, snippet(a.body)))
	}
}

func (e *env) branding(rec *recorder, f *tenantFixture) {
	a := e.do(context.Background(), f.host, f.token, http.MethodGet, "/api/tenant-branding/", nil)
	if !e.judge(rec, f, "branding", http.StatusOK, a) {
		return
	}
	var b struct {
		TenantID string `json:"tenant_id"`
		Slug     string `json:"slug"`
	}
	if err := json.Unmarshal(a.body, &b); err != nil || b.TenantID != f.id || b.Slug != f.slug {
		rec.violate(vForeign, fmt.Sprintf("branding (%s): %s", f.slug, snippet(a.body)))
	}
}
