package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Check failures. Each is a violation of tenant isolation as seen from the
// outside, or an answer the checker cannot vouch for, which it counts the
// same way: refusing what it does not understand.
var (
	// errForeign: an answer holds a lead that another tenant owned at setup.
	errForeign = errors.New("loadtest: another tenant's lead in the answer")
	// errUnknown: an answer holds a lead no tenant owned at setup, so the
	// checker cannot prove it belongs to the client's tenant.
	errUnknown = errors.New("loadtest: a lead no tenant owned at setup")
	// errMismatch: a read answered a lead other than the one asked for, or
	// with another name than its owner's.
	errMismatch = errors.New("loadtest: the answer is not the lead asked for")
	// errMalformed: a 200 answer that is not the JSON the server documents.
	errMalformed = errors.New("loadtest: malformed answer")
)

// lead is the part of a lead the checker compares.
type lead struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// ownership is what every tenant owned at setup: the ground truth each
// answer of the run is checked against. It is read-only once built, so
// clients share it without locking.
type ownership struct {
	owner map[int64]string // lead ID -> tenant slug
	name  map[int64]string // lead ID -> name
	ids   map[string][]int64
}

func newOwnership() *ownership {
	return &ownership{owner: map[int64]string{}, name: map[int64]string{}, ids: map[string][]int64{}}
}

// add records the leads slug listed at setup. A lead already recorded for
// another tenant is itself a leak, found before the run starts.
func (o *ownership) add(slug string, leads []lead) error {
	for _, l := range leads {
		if prev, ok := o.owner[l.ID]; ok && prev != slug {
			return fmt.Errorf("%w: lead %d listed by both %q and %q at setup", errForeign, l.ID, prev, slug)
		}
		if _, ok := o.owner[l.ID]; !ok {
			o.ids[slug] = append(o.ids[slug], l.ID)
		}
		o.owner[l.ID], o.name[l.ID] = slug, l.Name
	}
	return nil
}

// checkLead reports whether l is a lead slug owned at setup, unchanged.
func (o *ownership) checkLead(slug string, l lead) error {
	owner, ok := o.owner[l.ID]
	switch {
	case !ok:
		return fmt.Errorf("%w: tenant %q got lead %d %q", errUnknown, slug, l.ID, l.Name)
	case owner != slug:
		return fmt.Errorf("%w: tenant %q got lead %d %q of tenant %q", errForeign, slug, l.ID, l.Name, owner)
	case o.name[l.ID] != l.Name:
		return fmt.Errorf("%w: tenant %q got lead %d named %q, owned as %q", errMismatch, slug, l.ID, l.Name, o.name[l.ID])
	}
	return nil
}

// parseList decodes a lead list answer, refusing anything but an object
// with a "results" array.
func parseList(body []byte) ([]lead, error) {
	var list struct {
		Results *[]lead `json:"results"`
	}
	if err := json.Unmarshal(body, &list); err != nil || list.Results == nil {
		return nil, fmt.Errorf("%w: lead list %s", errMalformed, snippet(body))
	}
	return *list.Results, nil
}

// checkList checks a 200 lead list of slug: every lead must be one slug
// owned at setup.
func (o *ownership) checkList(slug string, body []byte) error {
	leads, err := parseList(body)
	if err != nil {
		return err
	}
	for _, l := range leads {
		if err := o.checkLead(slug, l); err != nil {
			return err
		}
	}
	return nil
}

// checkRead checks a 200 answer to slug's read of lead id.
func (o *ownership) checkRead(slug string, id int64, body []byte) error {
	var l lead
	if err := json.Unmarshal(body, &l); err != nil || l.ID == 0 {
		return fmt.Errorf("%w: lead %d %s", errMalformed, id, snippet(body))
	}
	if err := o.checkLead(slug, l); err != nil {
		return err
	}
	if l.ID != id {
		return fmt.Errorf("%w: tenant %q asked for lead %d and got %d", errMismatch, slug, id, l.ID)
	}
	return nil
}

// snippet quotes the start of a body for a message.
func snippet(b []byte) string {
	const n = 120
	if len(b) > n {
		return strconv.Quote(string(b[:n])) + "…"
	}
	return strconv.Quote(string(b))
}

// percentile returns the p-th percentile (0 < p ≤ 100) of sorted by the
// nearest-rank method, or 0 for no samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted)) + 0.999999999)
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// sortedCopy returns the latencies sorted, leaving the input alone.
func sortedCopy(d []time.Duration) []time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s
}
