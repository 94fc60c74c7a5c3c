package extauthz_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
)

// docBlock is one yaml block of docs/envoy.md: its text and its parse.
type docBlock struct {
	text string
	m    map[string]any
}

// docBlocks parses every yaml block of docs/envoy.md into a map.
func docBlocks(t *testing.T) []docBlock {
	t.Helper()
	b, err := os.ReadFile("../../docs/envoy.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []docBlock
	rest := string(b)
	for {
		_, after, ok := strings.Cut(rest, "```yaml\n")
		if !ok {
			return blocks
		}
		block, tail, ok := strings.Cut(after, "```")
		if !ok {
			t.Fatal("docs/envoy.md: unterminated yaml block")
		}
		var m map[string]any
		if err := yaml.Unmarshal([]byte(block), &m); err != nil {
			t.Fatalf("docs/envoy.md: yaml block does not parse: %v\n%s", err, block)
		}
		blocks = append(blocks, docBlock{text: block, m: m})
		rest = tail
	}
}

// dig follows keys (a string for a map key, an int for a list index).
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func TestDocsConfigurations(t *testing.T) {
	found := map[string]map[string]any{}
	text := map[string]string{}
	for _, b := range docBlocks(t) {
		m := b.m
		var name string
		switch {
		case m["static_resources"] != nil:
			name = "envoy"
		case m["readinessProbe"] != nil:
			name = "probes"
		default:
			name, _ = m["kind"].(string)
		}
		found[name], text[name] = m, b.text
	}
	for _, name := range []string{"envoy", "IstioOperator", "AuthorizationPolicy", "SecurityPolicy", "ReferenceGrant", "probes"} {
		if found[name] == nil {
			t.Errorf("docs/envoy.md has no %s configuration", name)
		}
	}

	t.Run("envoy", func(t *testing.T) { checkEnvoy(t, found["envoy"]) })
	t.Run("kubernetes_fields", func(t *testing.T) { checkKubernetesFields(t, text) })
	t.Run("istio", func(t *testing.T) {
		provider := dig(found["IstioOperator"], "spec", "meshConfig", "extensionProviders", 0)
		grpc := dig(provider, "envoyExtAuthzGrpc")
		if dig(provider, "name") != "policygate" || dig(grpc, "port") != 9191 || dig(grpc, "failOpen") != false || dig(grpc, "service") == nil {
			t.Errorf("extension provider = %v, want policygate on port 9191, failOpen false", provider)
		}
		ap := found["AuthorizationPolicy"]
		if dig(ap, "apiVersion") != "security.istio.io/v1" || dig(ap, "spec", "action") != "CUSTOM" || dig(ap, "spec", "provider", "name") != "policygate" {
			t.Errorf("AuthorizationPolicy = %v, want action CUSTOM with provider policygate", ap)
		}
	})
	t.Run("envoy_gateway", func(t *testing.T) {
		sp := found["SecurityPolicy"]
		ref := dig(sp, "spec", "extAuth", "grpc", "backendRefs", 0)
		if dig(sp, "apiVersion") != "gateway.envoyproxy.io/v1alpha1" || dig(sp, "spec", "extAuth", "failOpen") != false ||
			dig(ref, "name") != "policygate" || dig(ref, "port") != 9191 || dig(sp, "spec", "targetRefs", 0, "kind") != "HTTPRoute" {
			t.Errorf("SecurityPolicy = %v, want extAuth.grpc to policygate:9191, failOpen false, on an HTTPRoute", sp)
		}
	})
	t.Run("probes", func(t *testing.T) {
		// The probes of the kustomize base and the chart: the admin
		// listener (ADMIN_ADDR=:9090), where /healthz and /readyz are.
		for _, p := range []struct{ probe, path string }{{"livenessProbe", "/healthz"}, {"readinessProbe", "/readyz"}} {
			get := dig(found["probes"], p.probe, "httpGet")
			if port := dig(get, "port"); dig(get, "path") != p.path || (port != "admin" && port != 9090) {
				t.Errorf("%s = %v, want GET %s on the admin port", p.probe, found["probes"][p.probe], p.path)
			}
		}
	})
}

// checkEnvoy parses the bootstrap into go-control-plane's types, runs
// their generated validation, and checks the ext_authz filter and the
// policygate cluster.
func checkEnvoy(t *testing.T, m map[string]any) {
	js, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var b bootstrapv3.Bootstrap
	if err := protojson.Unmarshal(js, &b); err != nil {
		t.Fatalf("Envoy bootstrap does not parse as envoy.config.bootstrap.v3.Bootstrap: %v", err)
	}
	if err := b.ValidateAll(); err != nil {
		t.Fatalf("Envoy bootstrap is invalid: %v", err)
	}
	var hcm hcmv3.HttpConnectionManager
	if err := b.GetStaticResources().GetListeners()[0].GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(&hcm); err != nil {
		t.Fatal(err)
	}
	if err := hcm.ValidateAll(); err != nil {
		t.Fatalf("http_connection_manager is invalid: %v", err)
	}
	if !hcm.GetStripAnyHostPort() || !hcm.GetStripTrailingHostDot() {
		t.Error("http_connection_manager: want strip_any_host_port and strip_trailing_host_dot")
	}
	if hcm.GetCommonHttpProtocolOptions().GetHeadersWithUnderscoresAction() != corev3.HttpProtocolOptions_REJECT_REQUEST {
		t.Error("http_connection_manager: want common_http_protocol_options.headers_with_underscores_action REJECT_REQUEST")
	}
	filters := hcm.GetHttpFilters()
	if len(filters) < 2 || filters[0].GetName() != "envoy.filters.http.ext_authz" || filters[len(filters)-1].GetName() != "envoy.filters.http.router" {
		t.Fatalf("http_filters = %v, want ext_authz first and the router last", filters)
	}
	var ea extauthzv3.ExtAuthz
	if err := filters[0].GetTypedConfig().UnmarshalTo(&ea); err != nil {
		t.Fatal(err)
	}
	if err := ea.ValidateAll(); err != nil {
		t.Fatalf("ext_authz is invalid: %v", err)
	}
	if ea.GetFailureModeAllow() || ea.GetTransportApiVersion() != corev3.ApiVersion_V3 || ea.GetGrpcService().GetEnvoyGrpc().GetClusterName() != "policygate" {
		t.Errorf("ext_authz = %v, want failure_mode_allow false, V3, grpc_service to cluster policygate", &ea)
	}
	var cluster *clusterv3.Cluster
	for _, c := range b.GetStaticResources().GetClusters() {
		if c.GetName() == "policygate" {
			cluster = c
		}
	}
	if cluster == nil {
		t.Fatal("no policygate cluster")
	}
	var opts httpv3.HttpProtocolOptions
	if err := cluster.GetTypedExtensionProtocolOptions()["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].UnmarshalTo(&opts); err != nil {
		t.Fatal(err)
	}
	if opts.GetExplicitHttpConfig().GetHttp2ProtocolOptions() == nil {
		t.Error("policygate cluster: want HTTP/2 (gRPC)")
	}
	if len(cluster.GetHealthChecks()) == 0 || cluster.GetHealthChecks()[0].GetGrpcHealthCheck() == nil {
		t.Error("policygate cluster: want a gRPC health check")
	}
	port := cluster.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress().GetPortValue()
	if port != 9191 {
		t.Errorf("policygate cluster port = %d, want 9191", port)
	}
}
