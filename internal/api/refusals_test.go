package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/policygate/policygate/internal/gate"
)

// refusalCase is one request refused before any decision, and the
// description every face gives it (internal/extauthz's contract test
// holds the gRPC face to the same words).
type refusalCase struct {
	name string
	// authz is the call on /authz; raw is the request proxy mode reads
	// off the wire (net/http would not send these).
	authz           authzCall
	raw             string
	wantDescription string
}

var sharedRefusals = []refusalCase{
	{name: "missing_host",
		authz: authzCall{header: http.Header{"X-Forwarded-Method": {"GET"}, "X-Forwarded-Uri": {"/api/public"}}},
		raw:   "GET /api/public HTTP/1.0\r\n\r\n", wantDescription: gate.DescribeMissingHost},
	{name: "fragment",
		authz: authzCall{target: "/authz/api/public#frag"},
		raw:   "GET /api/public#frag HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n",
		// the gate's path rules: '#' must be encoded in a segment
		wantDescription: "path has a character that must be encoded"},
	{name: "override_header_before_query",
		authz:           authzCall{target: "/authz/api/public?_method=PUT", header: http.Header{"X-Http-Method-Override": {"DELETE"}}},
		raw:             "GET /api/public?_method=PUT HTTP/1.1\r\nHost: api.example.com\r\nX-HTTP-Method-Override: DELETE\r\nConnection: close\r\n\r\n",
		wantDescription: gate.DescribeOverrideHeader},
	{name: "override_header_before_path",
		authz:           authzCall{target: "/authz/api/public#frag", header: http.Header{"X-Http-Method-Override": {"DELETE"}}},
		raw:             "GET /api/public#frag HTTP/1.1\r\nHost: api.example.com\r\nX-HTTP-Method-Override: DELETE\r\nConnection: close\r\n\r\n",
		wantDescription: gate.DescribeOverrideHeader},
}

// TestRefusalsAcrossFaces: /authz and proxy mode refuse the same request
// with the same error and description.
func TestRefusalsAcrossFaces(t *testing.T) {
	s := newStack(t)
	env := newProxyEnv(t, nil, nil)
	addr := strings.TrimPrefix(env.proxy.URL, "http://")
	for _, tt := range sharedRefusals {
		t.Run(tt.name, func(t *testing.T) {
			rec := tt.authz.do(t, s.handler)
			var body struct{ Error, Error_description string }
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != 403 ||
				body.Error != "invalid_request" || body.Error_description != tt.wantDescription {
				t.Errorf("/authz = %d %s, want 403 invalid_request %q", rec.Code, rec.Body.String(), tt.wantDescription)
			}
			res, got := rawRequest(t, addr, tt.raw)
			if res.StatusCode != 403 || got["error"] != "invalid_request" || got["error_description"] != tt.wantDescription {
				t.Errorf("proxy mode = %d %v, want 403 invalid_request %q", res.StatusCode, got, tt.wantDescription)
			}
		})
	}
}

// TestProxyGoAnswersFirst: the malformed requests docs/proxy-mode.md
// lists are answered by Go's HTTP server, 400 in plain text, before the
// gate or the upstream sees them; the same bytes in the query pass, with
// the parameter Go's reverse proxy cannot parse dropped.
func TestProxyGoAnswersFirst(t *testing.T) {
	env := newProxyEnv(t, nil, nil)
	addr := strings.TrimPrefix(env.proxy.URL, "http://")
	tests := []struct {
		name, target, host string
		wantStatus         int
		wantUpstream       string // the target the upstream gets; "" for none
	}{
		{name: "bad_escape", target: "/api/public%zz", host: "api.example.com", wantStatus: 400},
		{name: "trailing_percent", target: "/api/public%", host: "api.example.com", wantStatus: 400},
		{name: "raw_del", target: "/api/public\x7f", host: "api.example.com", wantStatus: 400},
		{name: "host_not_ascii", target: "/api/public", host: "exämple.com", wantStatus: 400},
		{name: "bad_escape_in_query", target: "/api/public?a=%zz", host: "api.example.com", wantStatus: 200, wantUpstream: "/api/public"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, _ := rawRequest(t, addr, "GET "+tt.target+" HTTP/1.1\r\nHost: "+tt.host+"\r\nConnection: close\r\n\r\n")
			if res.StatusCode != tt.wantStatus {
				t.Errorf("GET %q Host %q = %d, want %d", tt.target, tt.host, res.StatusCode, tt.wantStatus)
			}
			if ct := res.Header.Get("Content-Type"); tt.wantStatus == 400 && !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type = %q, want Go's text/plain", ct)
			}
			up := env.lastSeen()
			switch {
			case tt.wantUpstream == "" && up != nil:
				t.Errorf("the upstream saw %q", up.uri)
			case tt.wantUpstream != "" && (up == nil || up.uri != tt.wantUpstream):
				t.Errorf("the upstream saw %+v, want %q", up, tt.wantUpstream)
			}
		})
	}
}
