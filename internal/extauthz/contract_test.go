package extauthz_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/policygate/policygate/internal/authn"
	"github.com/policygate/policygate/internal/authn/authntest"
	"github.com/policygate/policygate/internal/extauthz"
	"github.com/policygate/policygate/internal/gate"
)

// answer is what Envoy reads from a CheckResponse.
type answer struct {
	code       codes.Code
	status     int               // 200 for OK, else the denied response's status
	headers    map[string]string // ok_response or denied_response headers
	remove     []string          // ok_response.headers_to_remove
	body       string
	decisionID string // dynamic_metadata.decision_id
}

func read(t *testing.T, resp *authv3.CheckResponse) answer {
	t.Helper()
	a := answer{code: codes.Code(resp.GetStatus().GetCode()), headers: map[string]string{}}
	a.decisionID = resp.GetDynamicMetadata().GetFields()["decision_id"].GetStringValue()
	var hs []*corev3.HeaderValueOption
	switch r := resp.GetHttpResponse().(type) {
	case *authv3.CheckResponse_OkResponse:
		a.status, hs, a.remove = 200, r.OkResponse.GetHeaders(), r.OkResponse.GetHeadersToRemove()
	case *authv3.CheckResponse_DeniedResponse:
		a.status, hs, a.body = int(r.DeniedResponse.GetStatus().GetCode()), r.DeniedResponse.GetHeaders(), r.DeniedResponse.GetBody()
	default:
		t.Fatalf("CheckResponse has http_response %T, want ok or denied", r)
	}
	for _, h := range hs {
		if h.GetAppendAction() != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
			t.Errorf("header %s: append action %v, want OVERWRITE_IF_EXISTS_OR_ADD", h.GetHeader().GetKey(), h.GetAppendAction())
		}
		if _, dup := a.headers[h.GetHeader().GetKey()]; dup {
			t.Errorf("header %s sent twice", h.GetHeader().GetKey())
		}
		a.headers[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
	}
	return a
}

// asGate is the gate request the face must derive from a decided check:
// the contract in a few lines, to compare bodies with the gate's own.
// httpAuth, when set, is the Authorization header values the request
// came with over HTTP (one value with a comma in it); otherwise a joined
// value is Envoy's join of one header per part.
func asGate(cr *authv3.CheckRequest, httpAuth []string) gate.Request {
	h := cr.GetAttributes().GetRequest().GetHttp()
	path, _, _ := strings.Cut(h.GetPath(), "?")
	req := gate.Request{Method: h.GetMethod(), Host: h.GetHost(), Path: path, Authorization: httpAuth}
	if v, ok := h.GetHeaders()["authorization"]; ok && httpAuth == nil {
		req.Authorization = strings.Split(v, ",")
	}
	for _, hv := range h.GetHeaderMap().GetHeaders() {
		if hv.GetKey() == "authorization" {
			req.Authorization = append(req.Authorization, string(hv.GetRawValue()))
		}
	}
	return req
}

func auth(v string) map[string]string { return map[string]string{"authorization": v} }

func TestCheckContract(t *testing.T) {
	s, client := startCheck(t, authn.KeySetConfig{}, 0)
	p := s.provider
	plain := p.Token(t, nil)
	scoped := p.Token(t, map[string]any{"scope": "openid read:messages"})
	expired := p.Token(t, map[string]any{"exp": time.Now().Add(-time.Hour).Unix()})
	wrongAud := p.Token(t, map[string]any{"aud": "https://other.example.com"})
	forged := authntest.Sign(t, authntest.NewKey(t, "key-1"), p.Claims())
	badSub := p.Token(t, map[string]any{"sub": "alice\r\nx-auth-subject: admin"})
	nonASCII := p.Token(t, map[string]any{"sub": "zoë"})
	const host = "api.example.com"
	get := func(path string, headers map[string]string) *authv3.CheckRequest {
		return checkRequest("GET", host, path, headers)
	}
	withHost := func(h string) *authv3.CheckRequest {
		return checkRequest("GET", h, "/api/private", auth("Bearer "+plain))
	}
	raw := func(values ...string) *authv3.CheckRequest {
		cr := get("/api/private", nil)
		hm := &corev3.HeaderMap{}
		for _, v := range values {
			hm.Headers = append(hm.Headers, &corev3.HeaderValue{Key: "authorization", RawValue: []byte(v)})
		}
		cr.Attributes.Request.Http.HeaderMap = hm
		return cr
	}
	noMethod := get("/api/public", nil)
	noMethod.Attributes.Request.Http.Method = ""

	tests := []struct {
		name       string
		req        *authv3.CheckRequest
		wantStatus int      // 200: allowed
		wantError  string   // JSON "error" of a denial; "" lets the gate's own answer stand (a rule the gate may tighten)
		wantChal   string   // substring of www-authenticate; "-" for none
		wantSet    string   // allow: identity names set, in order
		wantRemove string   // allow: identity names removed
		refusal    string   // the face's own refusal, before the gate
		httpAuth   []string // the Authorization values over HTTP, when not Envoy's join of the parts
	}{
		// Allows carry the identity set; names without a value are removed.
		{name: "public_anonymous", req: get("/api/public", nil), wantStatus: 200,
			wantSet: "x-decision-id", wantRemove: "x-auth-subject x-auth-scopes x-auth-issuer"},
		{name: "private_valid", req: get("/api/private", auth("Bearer "+plain)), wantStatus: 200,
			wantSet: "x-auth-subject x-auth-issuer x-decision-id", wantRemove: "x-auth-scopes"},
		{name: "scoped_valid", req: get("/api/private-scoped", auth("Bearer "+scoped)), wantStatus: 200,
			wantSet: "x-auth-subject x-auth-scopes x-auth-issuer x-decision-id"},
		{name: "scheme_lower_case", req: get("/api/private", auth("bearer "+plain)), wantStatus: 200,
			wantSet: "x-auth-subject x-auth-issuer x-decision-id", wantRemove: "x-auth-scopes"},
		{name: "query_split_off", req: get("/api/private-scoped?x=1&y=/../admin", auth("Bearer "+scoped)), wantStatus: 200,
			wantSet: "x-auth-subject x-auth-scopes x-auth-issuer x-decision-id"},
		{name: "host_port_and_case", req: withHost("API.Example.COM:8443"), wantStatus: 200,
			wantSet: "x-auth-subject x-auth-issuer x-decision-id", wantRemove: "x-auth-scopes"},
		{name: "host_ipv6_port", req: withHost("[::1]:8443"), wantStatus: 200,
			wantSet: "x-auth-subject x-auth-issuer x-decision-id", wantRemove: "x-auth-scopes"},
		{name: "raw_header_map", req: raw("Bearer " + plain), wantStatus: 200,
			wantSet: "x-auth-subject x-auth-issuer x-decision-id", wantRemove: "x-auth-scopes"},

		// Denials decided by the gate, with the HTTP faces' challenges.
		{name: "private_no_credentials", req: get("/api/private", nil), wantStatus: 401, wantError: "unauthorized", wantChal: `Bearer realm="test"`},
		{name: "private_blank_header", req: get("/api/private", auth("")), wantStatus: 401, wantError: "unauthorized", wantChal: `Bearer realm="test"`},
		{name: "query_token_not_read", req: get("/api/private?access_token="+plain, nil), wantStatus: 401, wantError: "unauthorized", wantChal: `Bearer realm="test"`},
		{name: "private_expired", req: get("/api/private", auth("Bearer "+expired)), wantStatus: 401, wantError: "invalid_token", wantChal: `error="invalid_token"`},
		{name: "private_wrong_audience", req: get("/api/private", auth("Bearer "+wrongAud)), wantStatus: 401, wantError: "invalid_token", wantChal: `error="invalid_token"`},
		{name: "private_wrong_signature", req: get("/api/private", auth("Bearer "+forged)), wantStatus: 401, wantError: "invalid_token", wantChal: `error="invalid_token"`},
		{name: "private_garbage", req: get("/api/private", auth("Bearer not-a-jwt")), wantStatus: 401, wantError: "invalid_token", wantChal: `error="invalid_token"`},
		{name: "bearer_two_parts", req: get("/api/private", auth("Bearer a b")), wantStatus: 401, wantError: "invalid_request", wantChal: `error="invalid_request"`},
		{name: "not_bearer", req: get("/api/private", auth("Basic dXNlcjpwYXNz")), wantStatus: 401, wantError: "invalid_request", wantChal: `error="invalid_request"`},
		{name: "duplicate_joined", req: get("/api/private", auth("Bearer "+plain+",Bearer "+scoped)), wantStatus: 401, wantError: "invalid_request", wantChal: `error="invalid_request"`},
		{name: "duplicate_joined_same", req: get("/api/private", auth("Bearer "+plain+", Bearer "+plain)), wantStatus: 401, wantError: "invalid_request", wantChal: `error="invalid_request"`},
		{name: "duplicate_joined_description", req: get("/api/private", auth("Bearer "+plain+", Bearer "+scoped)), wantStatus: 401, wantError: "invalid_request",
			wantChal: `error_description="more than one Authorization header"`},
		{name: "comma_inside_one_credential", req: get("/api/private", auth(`Digest username="a", response="b"`)), wantStatus: 401, wantError: "invalid_request",
			wantChal: `error_description="authorization scheme must be Bearer"`, httpAuth: []string{`Digest username="a", response="b"`}},
		{name: "comma_after_token", req: get("/api/private", auth("Bearer "+plain+",")), wantStatus: 401, wantError: "invalid_request",
			wantChal: `error_description="bearer token must be a single token68 value"`, httpAuth: []string{"Bearer " + plain + ","}},
		{name: "comma_then_bare_token", req: get("/api/private", auth("Bearer "+plain+", "+scoped)), wantStatus: 401, wantError: "invalid_request",
			wantChal: `error_description="bearer token must be a single token68 value"`, httpAuth: []string{"Bearer " + plain + ", " + scoped}},
		{name: "duplicate_public_route", req: get("/api/public", auth("Bearer "+plain+",Bearer "+plain)), wantStatus: 200,
			wantSet: "x-decision-id", wantRemove: "x-auth-subject x-auth-scopes x-auth-issuer"},
		{name: "duplicate_raw_header_map", req: raw("Bearer "+plain, "Bearer "+plain), wantStatus: 401, wantError: "invalid_request", wantChal: `error="invalid_request"`},
		{name: "scoped_without_scope", req: get("/api/private-scoped", auth("Bearer "+plain)), wantStatus: 403, wantError: "insufficient_scope",
			wantChal: `error="insufficient_scope", error_description="GET /api/private-scoped requires scope read:messages", scope="read:messages"`},
		{name: "unknown_route", req: get("/api/nope", auth("Bearer "+scoped)), wantStatus: 403, wantError: "access_denied", wantChal: "-"},
		{name: "wrong_method", req: checkRequest("POST", host, "/api/private", auth("Bearer "+plain)), wantStatus: 403, wantError: "access_denied", wantChal: "-"},

		// An identity that cannot be sent as headers is never half sent.
		{name: "identity_with_newline", req: get("/api/private", auth("Bearer "+badSub)), wantStatus: 403, wantError: "invalid_request", wantChal: "-"},
		{name: "identity_non_ascii", req: get("/api/private", auth("Bearer "+nonASCII)), wantStatus: 403, wantError: "invalid_request", wantChal: "-"},

		// Path tricks the gate refuses.
		{name: "path_double_slash", req: get("/api//private", auth("Bearer "+plain)), wantStatus: 403, wantError: "invalid_request", wantChal: "-"},
		{name: "path_dot", req: get("/api/./private", auth("Bearer "+plain)), wantStatus: 403, wantError: "invalid_request", wantChal: "-"},
		{name: "path_dot_dot", req: get("/api/public/../private", nil), wantStatus: 403, wantError: "invalid_request", wantChal: "-"},
		{name: "path_encoded_dot_dot", req: get("/api/public/%2e%2E/private", nil), wantStatus: 403, wantError: "invalid_request", wantChal: "-"},
		{name: "path_encoded_slash", req: get("/api%2Fprivate", nil), wantStatus: 403, wantError: "invalid_request", wantChal: "-"},
		{name: "path_encoded_backslash", req: get("/api/public%5C..%5Cprivate", nil), wantStatus: 403, wantError: "invalid_request", wantChal: "-"},
		{name: "path_invalid_escape", req: get("/api/%zz", nil), wantStatus: 403, wantError: "invalid_request", wantChal: "-"},
		{name: "path_nul", req: get("/api/public%00", nil), wantStatus: 403, wantError: "invalid_request", wantChal: "-"},
		{name: "path_relative", req: get("api/public", nil), wantStatus: 403, wantError: "invalid_request", wantChal: "-"},
		{name: "path_asterisk", req: checkRequest("OPTIONS", host, "*", nil), wantStatus: 403, wantError: "invalid_request", wantChal: "-"},
		{name: "path_semicolon", req: get("/api/public/..;/private", nil), wantStatus: 403, wantError: "invalid_request", wantChal: "-"},
		{name: "path_semicolon_param", req: get("/api/public;x=1", nil), wantStatus: 403, wantError: "invalid_request", wantChal: "-"},
		{name: "path_encoded_semicolon", req: get("/api/public%3Bx", nil), wantStatus: 403, wantError: "invalid_request", wantChal: "-"},
		{name: "path_percent_25", req: get("/api/%2570ublic", nil), wantStatus: 403, wantError: "invalid_request", wantChal: "-"},
		{name: "path_encoded_question", req: get("/api/public%3Fx", nil), wantStatus: 403, wantError: "invalid_request", wantChal: "-"},
		{name: "path_encoded_hash", req: get("/api/public%23x", nil), wantStatus: 403, wantError: "invalid_request", wantChal: "-"},
		{name: "path_trailing_slash_literal", req: get("/api/private/", auth("Bearer "+plain)), wantStatus: 403, wantError: "access_denied", wantChal: "-"},

		// Refused by the face: request information missing or ambiguous.
		{name: "no_attributes", req: &authv3.CheckRequest{}, wantStatus: 403, wantError: "invalid_request", wantChal: "-",
			refusal: "the check carries no HTTP request attributes"},
		{name: "missing_method", req: noMethod, wantStatus: 403, wantError: "invalid_request", wantChal: "-", refusal: "the request method is missing"},
		{name: "missing_path", req: get("", nil), wantStatus: 403, wantError: "invalid_request", wantChal: "-", refusal: "the request path is missing"},
		{name: "method_lower_case", req: checkRequest("get", host, "/api/public", nil), wantStatus: 403, wantError: "invalid_request", wantChal: "-"},
		{name: "method_with_space", req: checkRequest("GET /", host, "/api/public", nil), wantStatus: 403, wantError: "invalid_request", wantChal: "-"},
		{name: "method_override", req: get("/api/public", map[string]string{"x-http-method-override": "DELETE"}), wantStatus: 403, wantError: "invalid_request", wantChal: "-",
			refusal: gate.DescribeOverrideHeader},
		{name: "method_override_x_http_method", req: get("/api/public", map[string]string{"x-http-method": "DELETE"}), wantStatus: 403, wantError: "invalid_request", wantChal: "-",
			refusal: gate.DescribeOverrideHeader},
		{name: "method_override_x_method_override", req: get("/api/public", map[string]string{"x-method-override": "DELETE"}), wantStatus: 403, wantError: "invalid_request", wantChal: "-",
			refusal: gate.DescribeOverrideHeader},
		{name: "method_override_underscores", req: get("/api/public", map[string]string{"x_http_method_override": "DELETE"}), wantStatus: 403, wantError: "invalid_request", wantChal: "-",
			refusal: gate.DescribeOverrideHeader},
		{name: "method_override_query", req: get("/api/public?_method=DELETE", nil), wantStatus: 403, wantError: "invalid_request", wantChal: "-",
			refusal: gate.DescribeOverrideQuery},
		{name: "method_override_query_encoded", req: get("/api/public?a=1&%5Fmethod=DELETE", nil), wantStatus: 403, wantError: "invalid_request", wantChal: "-",
			refusal: gate.DescribeOverrideQuery},
		// The gate's path rules refuse a raw '#', as on the HTTP faces
		// (internal/api's TestRefusalsAcrossFaces has the same words).
		{name: "path_fragment", req: get("/api/public#x", nil), wantStatus: 403, wantError: "invalid_request", wantChal: "-",
			refusal: "path has a character that must be encoded"},
		{name: "path_fragment_then_query_override", req: get("/api/public#x?_method=PUT", nil), wantStatus: 403, wantError: "invalid_request", wantChal: "-",
			refusal: gate.DescribeOverrideQuery},
		{name: "query_holding_hash", req: get("/api/public?a=1#x", nil), wantStatus: 200,
			wantSet: "x-decision-id", wantRemove: "x-auth-subject x-auth-scopes x-auth-issuer"},
		// The override header is refused first, as the HTTP faces do.
		{name: "override_header_before_query", req: get("/api/public?_method=PUT", map[string]string{"x-http-method-override": "DELETE"}),
			wantStatus: 403, wantError: "invalid_request", wantChal: "-", refusal: gate.DescribeOverrideHeader},
		{name: "override_header_before_fragment", req: get("/api/public#x", map[string]string{"x-http-method-override": "DELETE"}),
			wantStatus: 403, wantError: "invalid_request", wantChal: "-", refusal: gate.DescribeOverrideHeader},
		{name: "override_header_before_missing_host", req: checkRequest("GET", "", "/api/public", map[string]string{"x-http-method-override": "DELETE"}),
			wantStatus: 403, wantError: "invalid_request", wantChal: "-", refusal: gate.DescribeOverrideHeader},
		{name: "host_missing", req: withHost(""), wantStatus: 403, wantError: "invalid_request", wantChal: "-", refusal: gate.DescribeMissingHost},
		{name: "host_trailing_dot", req: withHost("api.example.com."), wantStatus: 403, wantError: "invalid_request", wantChal: "-"},
		{name: "host_non_ascii", req: withHost("exämple.com"), wantStatus: 403, wantError: "invalid_request", wantChal: "-"},
		{name: "host_bad_port", req: withHost("api.example.com:x"), wantStatus: 403, wantError: "invalid_request", wantChal: "-"},
		{name: "host_userinfo", req: withHost("evil@api.example.com"), wantStatus: 403, wantError: "invalid_request", wantChal: "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			resp, err := client.Check(ctx, tt.req)
			if err != nil {
				t.Fatalf("Check() error = %v, want a CheckResponse", err)
			}
			a := read(t, resp)
			if a.status != tt.wantStatus {
				t.Fatalf("Check() = %v %d %s, want %d", a.code, a.status, a.body, tt.wantStatus)
			}
			if tt.wantStatus == 200 {
				checkAllow(t, a, tt.wantSet, tt.wantRemove)
				return
			}
			if a.code != codes.PermissionDenied {
				t.Errorf("status code = %v, want PERMISSION_DENIED", a.code)
			}
			want := s.render.Render(gate.Outcome{Kind: gate.Refused, Description: tt.refusal})
			if tt.refusal == "" {
				want = s.render.Render(s.gate.Check(ctx, asGate(tt.req, tt.httpAuth)))
			}
			if a.body != string(want.Body) {
				t.Errorf("body = %s, want the HTTP faces' bytes %s", a.body, want.Body)
			}
			if tt.wantError != "" && !strings.Contains(a.body, `"error":"`+tt.wantError+`"`) {
				t.Errorf("body = %s, want error %q", a.body, tt.wantError)
			}
			if a.headers["content-type"] != "application/json" {
				t.Errorf("content-type = %q, want application/json", a.headers["content-type"])
			}
			if a.headers["cache-control"] != "no-store" {
				t.Errorf("cache-control = %q, want no-store, as the HTTP faces send a denial", a.headers["cache-control"])
			}
			wantHeaders := []string{"cache-control", "content-type"}
			if want.Challenge != "" {
				wantHeaders = append(wantHeaders, "www-authenticate")
			}
			if a.decisionID != "" {
				wantHeaders = append(wantHeaders, "x-decision-id")
			}
			slices.Sort(wantHeaders)
			if got := slices.Sorted(maps.Keys(a.headers)); !slices.Equal(got, wantHeaders) {
				t.Errorf("denied headers = %q, want %q", got, wantHeaders)
			}
			chal := a.headers["www-authenticate"]
			switch {
			case chal != want.Challenge:
				t.Errorf("www-authenticate = %q, want %q", chal, want.Challenge)
			case tt.wantChal == "-" && chal != "":
				t.Errorf("www-authenticate = %q, want none", chal)
			case tt.wantChal != "-" && tt.wantChal != "" && !strings.Contains(chal, tt.wantChal):
				t.Errorf("www-authenticate = %q, want it to contain %q", chal, tt.wantChal)
			}
			if tt.wantError == "unauthorized" && strings.Contains(chal, "error=") {
				t.Errorf("www-authenticate = %q: no error code without credentials (RFC 6750 3.1)", chal)
			}
			if _, ok := a.headers["retry-after"]; ok {
				t.Errorf("retry-after sent on a %d", a.status)
			}
			switch tt.wantError {
			case "unauthorized", "invalid_token", "insufficient_scope", "access_denied":
				if a.decisionID == "" {
					t.Errorf("dynamic_metadata has no decision_id for a denial the policy decided")
				}
			}
			if tt.refusal != "" && a.decisionID != "" {
				t.Errorf("dynamic_metadata decision_id = %q for a check refused before any decision", a.decisionID)
			}
			if a.decisionID != "" && a.headers["x-decision-id"] != a.decisionID {
				t.Errorf("x-decision-id = %q, want %q", a.headers["x-decision-id"], a.decisionID)
			}
		})
	}
	t.Run("identity_values", func(t *testing.T) {
		resp, err := client.Check(context.Background(), get("/api/private-scoped", auth("Bearer "+scoped)))
		if err != nil {
			t.Fatal(err)
		}
		a := read(t, resp)
		want := map[string]string{"x-auth-subject": "auth0|alice", "x-auth-scopes": "openid read:messages", "x-auth-issuer": p.Issuer, "x-decision-id": a.decisionID}
		for name, v := range want {
			if a.headers[name] != v || v == "" {
				t.Errorf("%s = %q, want %q (not empty)", name, a.headers[name], v)
			}
		}
	})
}

// checkAllow checks an OK answer: the identity names set, the others
// removed, none in both lists (Envoy removes after it adds), and the
// decision id in the metadata and the headers.
func checkAllow(t *testing.T, a answer, wantSet, wantRemove string) {
	t.Helper()
	if a.code != codes.OK {
		t.Errorf("status code = %v, want OK", a.code)
	}
	var set []string
	for _, name := range []string{"x-auth-subject", "x-auth-scopes", "x-auth-issuer", "x-decision-id"} {
		if _, ok := a.headers[name]; ok {
			set = append(set, name)
		}
	}
	if len(a.headers) != len(set) {
		t.Errorf("ok headers = %v, want only identity headers", a.headers)
	}
	if got := strings.Join(set, " "); got != wantSet {
		t.Errorf("ok headers set %q, want %q", got, wantSet)
	}
	if got := strings.Join(a.remove, " "); got != wantRemove {
		t.Errorf("headers_to_remove = %q, want %q", got, wantRemove)
	}
	for _, r := range a.remove {
		if _, ok := a.headers[r]; ok {
			t.Errorf("%s is both set and removed: Envoy would drop it", r)
		}
	}
	if a.decisionID == "" || a.headers["x-decision-id"] != a.decisionID {
		t.Errorf("decision id: metadata %q, header %q; want the same, not empty", a.decisionID, a.headers["x-decision-id"])
	}
}

// TestIdentityBackstop: behind a gate without the identity check, the
// face itself refuses an allow whose identity cannot be sent.
func TestIdentityBackstop(t *testing.T) {
	s := newStack(t, authn.KeySetConfig{})
	bare := gate.New(s.verifier, s.decider)
	_, addr := serve(t, extauthz.Config{Gate: bare, Renderer: s.render})
	client := authv3.NewAuthorizationClient(dial(t, addr, nil))
	tok := s.provider.Token(t, map[string]any{"sub": "alice\nx: y"})
	resp, err := client.Check(context.Background(), checkRequest("GET", "api.example.com", "/api/private", auth("Bearer "+tok)))
	if err != nil {
		t.Fatal(err)
	}
	if a := read(t, resp); a.status != 403 || a.code != codes.PermissionDenied || !strings.Contains(a.body, `"invalid_request"`) {
		t.Fatalf("Check() = %v %d %s, want a 403 invalid_request denial", a.code, a.status, a.body)
	}
}

// TestMessageLimit: a check larger than MaxRecvMsgSize is refused by the
// transport (Envoy then answers with status_on_error), never decided.
func TestMessageLimit(t *testing.T) {
	_, client := startCheck(t, authn.KeySetConfig{}, 0)
	req := checkRequest("GET", "api.example.com", "/api/public", nil)
	req.Attributes.Request.Http.Body = strings.Repeat("a", extauthz.MaxRecvMsgSize)
	_, err := client.Check(context.Background(), req)
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("Check(%d-byte body) error = %v, want ResourceExhausted", extauthz.MaxRecvMsgSize, err)
	}
	req.Attributes.Request.Http.Body = ""
	if resp, err := client.Check(context.Background(), req); err != nil || resp.GetOkResponse() == nil {
		t.Fatalf("Check() after the refusal = %v, %v; want OK on the same connection", resp, err)
	}
}
