package tenant

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// MemStore is an in-memory Store. It is safe for concurrent use. The zero
// value is not usable; call NewMemStore. Values go in and come out as
// copies, so a caller cannot change stored tenants behind the store's back.
type MemStore struct {
	mu      sync.RWMutex
	byID    map[string]Tenant
	bySlug  map[string]string // slug → id
	domains map[string]Domain // host → record
	now     func() time.Time
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns an empty in-memory store.
func NewMemStore() *MemStore {
	return &MemStore{
		byID:    make(map[string]Tenant),
		bySlug:  make(map[string]string),
		domains: make(map[string]Domain),
		now:     time.Now,
	}
}

// ByID implements Lookup.
func (s *MemStore) ByID(_ context.Context, id string) (Tenant, error) {
	s.mu.RLock()
	t, ok := s.byID[id]
	s.mu.RUnlock()
	if !ok {
		return Tenant{}, fmt.Errorf("tenant id %.40q: %w", id, ErrNotFound)
	}
	return t, nil
}

// BySlug implements Lookup.
func (s *MemStore) BySlug(_ context.Context, slug string) (Tenant, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if id, ok := s.bySlug[slug]; ok {
		return s.byID[id], nil
	}
	return Tenant{}, fmt.Errorf("tenant slug %.70q: %w", slug, ErrNotFound)
}

// ByDomain implements Lookup.
func (s *MemStore) ByDomain(_ context.Context, host string) (Tenant, Domain, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	d, ok := s.domains[host]
	if !ok {
		return Tenant{}, Domain{}, fmt.Errorf("domain %.260q: %w", host, ErrNotFound)
	}
	return s.byID[d.TenantID], d, nil
}

// Create implements Store.
func (s *MemStore) Create(_ context.Context, t Tenant) error {
	if err := t.Validate(); err != nil {
		return err
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = s.now().UTC()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byID[t.ID]; ok {
		return fmt.Errorf("tenant id %q: %w", t.ID, ErrExists)
	}
	if _, ok := s.bySlug[t.Slug]; ok {
		return fmt.Errorf("tenant slug %q: %w", t.Slug, ErrExists)
	}
	s.byID[t.ID] = t
	s.bySlug[t.Slug] = t.ID
	return nil
}

// Update implements Store.
func (s *MemStore) Update(_ context.Context, t Tenant) error {
	if err := t.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.byID[t.ID]
	if !ok {
		return fmt.Errorf("tenant id %q: %w", t.ID, ErrNotFound)
	}
	if old.Slug != t.Slug {
		if _, taken := s.bySlug[t.Slug]; taken {
			return fmt.Errorf("tenant slug %q: %w", t.Slug, ErrExists)
		}
		delete(s.bySlug, old.Slug)
		s.bySlug[t.Slug] = t.ID
	}
	t.CreatedAt = old.CreatedAt
	s.byID[t.ID] = t
	return nil
}

// Delete implements Store.
func (s *MemStore) Delete(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.byID[id]
	if !ok {
		return fmt.Errorf("tenant id %.40q: %w", id, ErrNotFound)
	}
	delete(s.byID, id)
	delete(s.bySlug, t.Slug)
	for h, d := range s.domains {
		if d.TenantID == id {
			delete(s.domains, h)
		}
	}
	return nil
}

// List implements Store.
func (s *MemStore) List(context.Context) ([]Tenant, error) {
	s.mu.RLock()
	out := make([]Tenant, 0, len(s.byID))
	for _, t := range s.byID {
		out = append(out, t)
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b Tenant) int { return cmp.Compare(a.Slug, b.Slug) })
	return out, nil
}

// PutDomain implements Store.
func (s *MemStore) PutDomain(_ context.Context, d Domain) error {
	if err := d.Validate(); err != nil {
		return err
	}
	now := s.now().UTC()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byID[d.TenantID]; !ok {
		return fmt.Errorf("domain %q: tenant id %q: %w", d.Host, d.TenantID, ErrNotFound)
	}
	if old, ok := s.domains[d.Host]; ok {
		if old.TenantID != d.TenantID && (old.Status != DomainRemoved || d.Status != DomainPending) {
			// A removed domain passes to another tenant only as pending, so
			// it must be verified afresh before it serves.
			return fmt.Errorf("domain %q: %w", d.Host, ErrDomainTaken)
		}
		if old.TenantID == d.TenantID {
			d.CreatedAt = old.CreatedAt
		}
	}
	if d.CreatedAt.IsZero() {
		d.CreatedAt = now
	}
	d.UpdatedAt = now
	s.domains[d.Host] = d
	return nil
}

// DeleteDomain implements Store.
func (s *MemStore) DeleteDomain(_ context.Context, host string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.domains[host]; !ok {
		return fmt.Errorf("domain %.260q: %w", host, ErrNotFound)
	}
	delete(s.domains, host)
	return nil
}

// Domains implements Store.
func (s *MemStore) Domains(_ context.Context, tenantID string) ([]Domain, error) {
	s.mu.RLock()
	var out []Domain
	for _, d := range s.domains {
		if d.TenantID == tenantID {
			out = append(out, d)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b Domain) int { return cmp.Compare(a.Host, b.Host) })
	return out, nil
}
