package main

import (
	"database/sql"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tenantwall/tenantwall/cachekey"
	"github.com/tenantwall/tenantwall/sqlscope"
)

// Note is one note.
type Note struct {
	ID        int64     `json:"id"`
	Title     string    `json:"title"`
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
}

type server struct {
	db   *sqlscope.RLS // every query runs in a transaction scoped to the request's tenant
	rdb  *redis.Client
	keys *cachekey.Keyspace // cache keys in the request's tenant's namespace
}

func newServer(db *sqlscope.RLS, rdb *redis.Client, keys *cachekey.Keyspace) *server {
	return &server{db: db, rdb: rdb, keys: keys}
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /notes/", s.list)
	mux.HandleFunc("POST /notes/", s.create)
	mux.HandleFunc("GET /notes/{id}/", s.get)
	mux.HandleFunc("PATCH /notes/{id}/", s.update)
	mux.HandleFunc("DELETE /notes/{id}/", s.delete)
	mux.HandleFunc("GET /stats/", s.stats)
	return mux
}

func (s *server) list(w http.ResponseWriter, r *http.Request) {
	out := []Note{}
	err := s.db.Tx(r.Context(), func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(r.Context(), `SELECT id, title, body, created_at FROM notes ORDER BY id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var n Note
			if err := rows.Scan(&n.ID, &n.Title, &n.Body, &n.CreatedAt); err != nil {
				return err
			}
			out = append(out, n)
		}
		return rows.Err()
	})
	if err != nil {
		fail(w, err)
		return
	}
	reply(w, http.StatusOK, map[string]any{"results": out})
}

type input struct {
	Title *string `json:"title"`
	Body  *string `json:"body"`
}

func (s *server) create(w http.ResponseWriter, r *http.Request) {
	var in input
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in); err != nil || in.Title == nil || *in.Title == "" {
		reply(w, http.StatusBadRequest, map[string]string{"error": "title: required"})
		return
	}
	body := ""
	if in.Body != nil {
		body = *in.Body
	}
	var n Note
	err := s.db.Tx(r.Context(), func(tx *sql.Tx) error {
		// tenant_id is filled in by the column default EnableRLS set.
		return tx.QueryRowContext(r.Context(),
			`INSERT INTO notes (title, body) VALUES ($1, $2) RETURNING id, title, body, created_at`, *in.Title, body).
			Scan(&n.ID, &n.Title, &n.Body, &n.CreatedAt)
	})
	if err != nil {
		fail(w, err)
		return
	}
	s.invalidate(r)
	reply(w, http.StatusCreated, n)
}

func (s *server) get(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	// readme:query
	var n Note
	err := s.db.Tx(r.Context(), func(tx *sql.Tx) error { // the request's tenant, or tenant.ErrNoTenant
		return tx.QueryRowContext(r.Context(), `SELECT id, title, body, created_at FROM notes WHERE id = $1`, id).
			Scan(&n.ID, &n.Title, &n.Body, &n.CreatedAt)
	})
	// readme:end
	replyNote(w, n, err) // another tenant's note: 404, like a missing one
}

func (s *server) update(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var in input
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in); err != nil || (in.Title != nil && *in.Title == "") {
		reply(w, http.StatusBadRequest, map[string]string{"error": "title: must not be empty"})
		return
	}
	var n Note
	err := s.db.Tx(r.Context(), func(tx *sql.Tx) error {
		return tx.QueryRowContext(r.Context(), `UPDATE notes SET title = coalesce($2, title), body = coalesce($3, body)
			WHERE id = $1 RETURNING id, title, body, created_at`, id, in.Title, in.Body).
			Scan(&n.ID, &n.Title, &n.Body, &n.CreatedAt)
	})
	replyNote(w, n, err)
}

// replyNote answers a read or update of one note: the note, 404 when no
// row matched, or the error.
func replyNote(w http.ResponseWriter, n Note, err error) {
	if errors.Is(err, sql.ErrNoRows) {
		reply(w, http.StatusNotFound, map[string]string{"error": "not found"})
		return
	}
	if err != nil {
		fail(w, err)
		return
	}
	reply(w, http.StatusOK, n)
}

func (s *server) delete(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var deleted int64
	err := s.db.Tx(r.Context(), func(tx *sql.Tx) error {
		res, err := tx.ExecContext(r.Context(), `DELETE FROM notes WHERE id = $1`, id)
		if err == nil {
			deleted, err = res.RowsAffected()
		}
		return err
	})
	if err != nil {
		fail(w, err)
		return
	}
	if deleted == 0 {
		reply(w, http.StatusNotFound, map[string]string{"error": "not found"})
		return
	}
	s.invalidate(r)
	w.WriteHeader(http.StatusNoContent)
}

// stats counts the notes, cached in Redis for a minute and dropped on
// every write.
func (s *server) stats(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	// readme:cache
	key, err := s.keys.Key(ctx, "stats") // tw:<tenant ID>:e<epoch>:g<generation>:stats
	if err != nil {
		fail(w, err)
		return
	}
	if v, err := s.rdb.Get(ctx, key).Result(); err == nil {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(v))
		return
	}
	var count int
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `SELECT count(*) FROM notes`).Scan(&count)
	})
	if err != nil {
		fail(w, err)
		return
	}
	data, _ := json.Marshal(map[string]int{"notes": count})
	s.rdb.Set(ctx, key, data, time.Minute)
	// readme:end
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(data)
}

// invalidate drops every cached entry of the request's tenant: one INCR of
// its generation, whatever the number of keys.
func (s *server) invalidate(r *http.Request) {
	// readme:invalidate
	if err := s.keys.Invalidate(r.Context()); err != nil {
		slog.Error("notes: cache invalidation failed", "err", err)
	}
	// readme:end
}

func pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		reply(w, http.StatusNotFound, map[string]string{"error": "not found"})
		return 0, false
	}
	return id, true
}

func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, err error) {
	slog.Error("notes: request failed", "err", err)
	if sqlscope.IsUnavailable(err) { // the database is down or busy: say so, truthfully
		w.Header().Set("Retry-After", "5")
		reply(w, http.StatusServiceUnavailable, map[string]string{"error": "service unavailable"})
		return
	}
	reply(w, http.StatusInternalServerError, map[string]string{"error": "internal error"})
}
