package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newTestServer(t *testing.T) *httptest.Server {
	t.Helper()
	cfg, err := parseFlags(nil, io.Discard)
	require.NoError(t, err)
	a, err := newApp(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	srv := httptest.NewServer(a.routes())
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, srv *httptest.Server, host, path string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest("GET", srv.URL+path, nil)
	require.NoError(t, err)
	req.Host = host
	res, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	assert.Equal(t, "application/json", res.Header.Get("Content-Type"))
	var body map[string]any
	require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
	return res.StatusCode, body
}

func TestBrandingPerTenant(t *testing.T) {
	srv := newTestServer(t)
	code, acme := get(t, srv, "acme.localhost:8080", "/api/tenant-branding/")
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, map[string]any{
		"tenant_id": "0b4c1e9a-6f57-4a3e-8d8f-2f7c5a1d9e01", "slug": "acme", "company_name": "Acme Corporation",
		"custom_domain": "crm.acme.test", "logo_url": "https://static.acme.test/logo.png", "primary_color": "#d9480f",
	}, acme)

	code, viaDomain := get(t, srv, "crm.acme.test", "/api/tenant-branding/")
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, acme, viaDomain)

	code, globex := get(t, srv, "globex.localhost", "/api/tenant-branding/")
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, "globex", globex["slug"])
	assert.Equal(t, "", globex["custom_domain"])
}

func TestUnknownHostsGetA404(t *testing.T) {
	srv := newTestServer(t)
	for _, host := range []string{"nobody.localhost", "localhost", "127.0.0.1:8080", "a.acme.localhost", "www.localhost"} {
		code, body := get(t, srv, host, "/api/tenant-branding/")
		assert.Equal(t, http.StatusNotFound, code, host)
		assert.Equal(t, map[string]any{"error": "not found"}, body, host)
	}
}

func TestBannerAndFlags(t *testing.T) {
	var buf bytes.Buffer
	printBanner(&buf, "127.0.0.1:8080", "localhost")
	assert.Contains(t, buf.String(), "http://acme.localhost:8080/api/tenant-branding/")
	_, err := parseFlags([]string{"-nope"}, io.Discard)
	assert.Error(t, err)
	cfg, err := parseFlags([]string{"-addr", "127.0.0.1:0", "-base-domain", "crm.example.com", "-demo=false"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, config{addr: "127.0.0.1:0", baseDomain: "crm.example.com"}, cfg)
}
