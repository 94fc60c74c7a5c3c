package api_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/policygate/policygate/internal/api"
	"github.com/policygate/policygate/internal/authn/authntest"
)

// TestBuiltinRoutesHostTables: the built-in routes are decided by the
// table of the request's host, as every other face is; a host without a
// table of its own uses the default one.
func TestBuiltinRoutesHostTables(t *testing.T) {
	p := authntest.NewProvider(t)
	reg := prometheus.NewRegistry()
	h := api.NewServer(api.Options{Gate: facesGate(t, p, policyWith(t, facesHostRoutes), decisionCacheOn, reg), Registry: reg, Realm: "test"})
	admin := "Bearer " + p.Token(t, map[string]any{"scope": "admin"})
	tests := []struct {
		name, host, auth string
		wantStatus       int
	}{
		{name: "default_table", host: "api.example.com", wantStatus: 200},
		{name: "host_table_needs_token", host: "admin.example.com", wantStatus: 401},
		{name: "host_table_case_and_port", host: "Admin.Example.com:443", wantStatus: 401},
		{name: "host_table_scoped", host: "admin.example.com", auth: admin, wantStatus: 200},
		{name: "no_host", host: "", wantStatus: 200},
		// A host the gate refuses (here one that would slip past
		// admin.example.com's table) is a 403 without a challenge, as on
		// every face: no token would fix it.
		{name: "refused_host", host: "admin.example.com.", wantStatus: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/api/public", nil)
			req.Host = tt.host
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Errorf("GET /api/public with Host %q = %d %s, want %d", tt.host, rec.Code, rec.Body, tt.wantStatus)
			}
			if c := rec.Header().Get("WWW-Authenticate"); tt.wantStatus == 403 && c != "" {
				t.Errorf("WWW-Authenticate = %q, want none", c)
			}
		})
	}
}

// TestBuiltinRoutesUnsendableIdentity: a valid token whose identity cannot
// be sent as headers is refused 403 on the built-in routes as on every
// face, without a challenge: another token would not help.
func TestBuiltinRoutesUnsendableIdentity(t *testing.T) {
	s := newStack(t)
	tok := s.provider.Token(t, map[string]any{"sub": "alice\r\nx-auth-subject: admin"})
	req := httptest.NewRequest(http.MethodGet, "/api/private", nil)
	req.Header = bearer(tok)
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Errorf("GET /api/private = %d %s, want 403", rec.Code, rec.Body)
	}
	if c := rec.Header().Get("WWW-Authenticate"); c != "" {
		t.Errorf("WWW-Authenticate = %q, want none", c)
	}
	if !strings.Contains(rec.Body.String(), `"error":"invalid_request"`) {
		t.Errorf("body = %s, want invalid_request", rec.Body)
	}
}
