// Command opaenvoy is the gRPC load comparison's peer: what OPA users run
// behind Envoy today, rebuilt from what opa-envoy-plugin is made of (the
// module proxy does not serve the plugin's module). go-control-plane's
// Check server evaluates an OPA prepared query; the input is built as the
// plugin's envoyauth package builds it (the CheckRequest as protojson
// turned into a map, plus version, parsed_path, parsed_query, parsed_body
// and truncated_body), evaluated in a store read transaction with OPA's
// default inter-query caches (the parsed key set is cached; verified
// tokens are not, as in OPA's default configuration unless -jwt-cache),
// and a decision id is put in dynamic_metadata. The policy verifies the
// JWT itself with io.jwt.decode_verify against the JWKS held in data.
//
//	opaenvoy -addr 127.0.0.1:9192 -issuer URL -audience AUD -jwks-url URL
package main

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown/cache"
	"github.com/open-policy-agent/opa/v1/util"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

//go:embed policy.rego
var policy string

func main() {
	addr := flag.String("addr", "127.0.0.1:9192", "gRPC listen address")
	issuer := flag.String("issuer", "", "token issuer")
	audience := flag.String("audience", "", "token audience")
	jwksURL := flag.String("jwks-url", "", "where to fetch the JWKS put in data.jwks")
	jwtCache := flag.Bool("jwt-cache", false, "turn on OPA's io_jwt inter-query cache of verified tokens (off in OPA's default configuration)")
	flag.Parse()
	if err := run(*addr, *issuer, *audience, *jwksURL, *jwtCache); err != nil {
		log.Fatal(err)
	}
}

func run(addr, issuer, audience, jwksURL string, jwtCache bool) error {
	ctx := context.Background()
	jwks, err := fetch(jwksURL)
	if err != nil {
		return err
	}
	store := inmem.NewFromObject(map[string]any{"jwks": jwks, "issuer": issuer, "audience": audience})
	query, err := rego.New(
		rego.Query("data.envoy.authz.result"),
		rego.Module("policy.rego", policy),
		rego.Store(store),
	).PrepareForEval(ctx)
	if err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	raw := []byte(nil)
	if jwtCache {
		raw = []byte(`{"inter_query_builtin_value_cache": {"named": {"io_jwt": {"max_num_entries": 100000}}}}`)
	}
	cfg, err := cache.ParseCachingConfig(raw)
	if err != nil {
		return err
	}
	s := &server{
		query: query, store: store,
		interQuery:      cache.NewInterQueryCacheWithContext(ctx, cfg),
		interQueryValue: cache.NewInterQueryValueCache(ctx, cfg),
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	gs := grpc.NewServer()
	authv3.RegisterAuthorizationServer(gs, s)
	log.Printf("opaenvoy listening on %s", ln.Addr())
	return gs.Serve(ln)
}

func fetch(u string) (string, error) {
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(u)
	if err != nil {
		return "", fmt.Errorf("fetch jwks %s: %w", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("fetch jwks %s: status %d: %v", u, resp.StatusCode, err)
	}
	return string(b), nil
}

type server struct {
	authv3.UnimplementedAuthorizationServer
	query           rego.PreparedEvalQuery
	store           storage.Store
	interQuery      cache.InterQueryCache
	interQueryValue cache.InterQueryValueCache
}

var v3Info = map[string]any{"ext_authz": "v3", "encoding": "protojson"}

// input builds the policy input as the plugin does.
func input(req *authv3.CheckRequest) (ast.Value, error) {
	bs, err := protojson.Marshal(req)
	if err != nil {
		return nil, err
	}
	var in map[string]any
	if err := util.UnmarshalJSON(bs, &in); err != nil {
		return nil, err
	}
	in["version"] = v3Info
	rawPath, rawQuery, _ := strings.Cut(req.GetAttributes().GetRequest().GetHttp().GetPath(), "?")
	decoded, err := url.PathUnescape(rawPath)
	if err != nil {
		return nil, err
	}
	parsed := strings.Split(strings.TrimLeft(decoded, "/"), "/")
	path := make([]any, len(parsed))
	for i, p := range parsed {
		path[i] = p
	}
	query, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, err
	}
	pq := make(map[string]any, len(query))
	for k, vs := range query {
		l := make([]any, len(vs))
		for i, v := range vs {
			l[i] = v
		}
		pq[k] = l
	}
	in["parsed_path"], in["parsed_query"] = path, pq
	in["parsed_body"], in["truncated_body"] = nil, false
	return ast.InterfaceToValue(in)
}

func (s *server) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	id := decisionID()
	in, err := input(req)
	if err != nil {
		return nil, err
	}
	txn, err := s.store.NewTransaction(ctx)
	if err != nil {
		return nil, err
	}
	defer s.store.Abort(ctx, txn)
	rs, err := s.query.Eval(ctx,
		rego.EvalParsedInput(in),
		rego.EvalTransaction(txn),
		rego.EvalMetrics(metrics.New()),
		rego.EvalInterQueryBuiltinCache(s.interQuery),
		rego.EvalInterQueryBuiltinValueCache(s.interQueryValue),
	)
	if err != nil {
		return nil, err
	}
	meta := &structpb.Struct{Fields: map[string]*structpb.Value{"decision_id": structpb.NewStringValue(id)}}
	var result map[string]any
	if len(rs) == 1 && len(rs[0].Expressions) == 1 {
		result, _ = rs[0].Expressions[0].Value.(map[string]any)
	}
	if allowed, _ := result["allowed"].(bool); allowed {
		ok := &authv3.OkHttpResponse{}
		headers, _ := result["headers"].(map[string]any)
		for k, v := range headers {
			s, _ := v.(string)
			ok.Headers = append(ok.Headers, &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: k, Value: s}})
		}
		return &authv3.CheckResponse{Status: &rpcstatus.Status{Code: int32(codes.OK)},
			HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: ok}, DynamicMetadata: meta}, nil
	}
	status := 403
	if n, ok := result["http_status"].(interface{ Int64() (int64, error) }); ok {
		if v, err := n.Int64(); err == nil {
			status = int(v)
		}
	}
	return &authv3.CheckResponse{Status: &rpcstatus.Status{Code: int32(codes.PermissionDenied)},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status: &typev3.HttpStatus{Code: typev3.StatusCode(status)},
		}}, DynamicMetadata: meta}, nil
}

func decisionID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
