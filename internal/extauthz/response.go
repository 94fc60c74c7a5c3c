package extauthz

import (
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/policygate/policygate/internal/denial"
)

// DecisionIDKey is the dynamic_metadata key carrying the decision id, as
// opa-envoy-plugin names it, so Envoy access-log formats that read
// %DYNAMIC_METADATA(envoy.filters.http.ext_authz:decision_id)% keep working.
const DecisionIDKey = "decision_id"

// identityNames are the identity headers in lower case, as HTTP/2 sends
// them, indexed like denial.IdentityNames.
var identityNames = func() (names map[string]string) {
	names = map[string]string{}
	for _, n := range denial.IdentityNames() {
		names[n] = strings.ToLower(n)
	}
	return names
}()

// allow answers OK with the identity set to overwrite upstream copies, and
// the identity names without a value to remove. Envoy applies removals
// after additions, so a name is never in both lists. strip, the client's
// identity headers spelt with "_", is removed too: Envoy does not read
// x_auth_subject as x-auth-subject, a CGI-style upstream does. Those names
// hold "_", which no name set here does.
//
// The answer's messages are carved out of one allocation (allowed): an
// allowed check is the common case, and a dozen small objects per check
// showed in its profile.
func allow(set []denial.Header, remove, strip []string, decisionID string) *authv3.CheckResponse {
	a := &allowed{}
	ok := &a.ok
	ok.Headers = a.headerPtrs[:0]
	for i, h := range set {
		var o *corev3.HeaderValueOption
		if i < len(a.headers) {
			o = &a.headers[i]
			o.Header = &a.values[i]
		} else {
			o = &corev3.HeaderValueOption{Header: &corev3.HeaderValue{}}
		}
		o.Header.Key, o.Header.Value = lower(h.Name), h.Value
		o.AppendAction = corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD
		ok.Headers = append(ok.Headers, o)
	}
	if len(remove)+len(strip) > 0 {
		ok.HeadersToRemove = a.remove[:0]
		for _, n := range remove {
			ok.HeadersToRemove = append(ok.HeadersToRemove, lower(n))
		}
		for _, n := range strip {
			ok.HeadersToRemove = append(ok.HeadersToRemove, strings.ToLower(n))
		}
	}
	a.status.Code = int32(codes.OK)
	a.wrap.OkResponse = ok
	a.resp.Status, a.resp.HttpResponse = &a.status, &a.wrap
	if decisionID != "" {
		a.idKind.StringValue = decisionID
		a.id.Kind = &a.idKind
		a.meta.Fields = map[string]*structpb.Value{DecisionIDKey: &a.id}
		a.resp.DynamicMetadata = &a.meta
	}
	return &a.resp
}

// allowed holds the messages of one allowed answer with room for the four
// identity headers; more (a policy's own headers) are allocated apart.
type allowed struct {
	resp       authv3.CheckResponse
	status     rpcstatus.Status
	wrap       authv3.CheckResponse_OkResponse
	ok         authv3.OkHttpResponse
	headers    [4]corev3.HeaderValueOption
	values     [4]corev3.HeaderValue
	headerPtrs [4]*corev3.HeaderValueOption
	remove     [4]string
	meta       structpb.Struct
	id         structpb.Value
	idKind     structpb.Value_StringValue
}

// deny answers PERMISSION_DENIED with the response Envoy sends the client:
// the status, challenge, JSON body and headers the HTTP faces send (a
// denial is never stored by a cache: Cache-Control: no-store).
func deny(r denial.Response, decisionID string) *authv3.CheckResponse {
	headers := []*corev3.HeaderValueOption{
		overwrite("content-type", "application/json"),
		overwrite("cache-control", "no-store"),
	}
	if r.Challenge != "" {
		headers = append(headers, overwrite("www-authenticate", r.Challenge))
	}
	if r.RetryAfter != "" {
		headers = append(headers, overwrite("retry-after", r.RetryAfter))
	}
	if decisionID != "" {
		headers = append(headers, overwrite(identityNames[denial.HeaderDecisionID], decisionID))
	}
	return &authv3.CheckResponse{
		Status: &rpcstatus.Status{Code: int32(codes.PermissionDenied), Message: "denied with HTTP status " + strconv.Itoa(r.Status)},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode(r.Status)},
			Headers: headers,
			Body:    string(r.Body),
		}},
		DynamicMetadata: metadata(decisionID),
	}
}

func overwrite(name, value string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: name, Value: value},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}
}

func metadata(decisionID string) *structpb.Struct {
	if decisionID == "" {
		return nil
	}
	return &structpb.Struct{Fields: map[string]*structpb.Value{DecisionIDKey: structpb.NewStringValue(decisionID)}}
}

func lower(name string) string {
	if l, ok := identityNames[name]; ok {
		return l
	}
	return strings.ToLower(name)
}
