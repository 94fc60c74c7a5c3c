package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCheck renders the Kubernetes base with kubectl kustomize, wants it
// accepted once its image is pinned, and wants each broken variant refused
// with a message naming the fault.
func TestCheck(t *testing.T) {
	good := renderPinned(t, "../kubernetes/base")
	if _, err := check(good); err != nil {
		t.Fatalf("check(base) = %v, want no problem", err)
	}
	tests := []mutation{
		{name: "image_latest", old: "policygate:1.4.0", new: "policygate:latest", wantError: "is tagged latest"},
		{name: "image_without_tag", old: "policygate:1.4.0", new: "policygate", wantError: "has no tag"},
		{name: "image_bad_digest", old: "policygate:1.4.0", new: "policygate@sha256:1234", wantError: "is not sha256:<64 hex digits>"},
		{name: "unknown_field_case", old: "readOnlyRootFilesystem: true", new: "readOnlyRootFileSystem: true", wantError: `unknown field "spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem"`},
		{name: "unknown_field", old: "  type: ClusterIP", new: "  type: ClusterIP\n  externalTrafficPolicy2: Local", wantError: "unknown field"},
		{name: "wrong_type", old: "periodSeconds: 10", new: `periodSeconds: "10"`, wantError: "cannot unmarshal string"},
		{name: "duplicate_key", old: "  type: ClusterIP", new: "  type: ClusterIP\n  type: NodePort", wantError: `key "type" already set`},
		{name: "unexpected_kind", old: "kind: ServiceAccount", new: "kind: Role", wantError: "unexpected object v1 Role"},
		{name: "readiness_on_api_port", old: "path: /readyz\n            port: admin", new: "path: /readyz\n            port: http", wantError: "readiness probe GET /readyz on port 3010"},
		{name: "liveness_on_readyz", old: "path: /healthz\n            port: admin\n          periodSeconds: 10", new: "path: /readyz\n            port: admin\n          periodSeconds: 10", wantError: "liveness probe GET /readyz"},
		{name: "no_tmp", old: "mountPath: /tmp", new: "mountPath: /var/tmp", wantError: "/tmp must be an emptyDir"},
		{name: "writable_root", old: "readOnlyRootFilesystem: true", new: "readOnlyRootFilesystem: false", wantError: "readOnlyRootFilesystem"},
		{name: "policy_dir_and_opa_config", old: "- name: POLICY_DIR", new: "- name: OPA_CONFIG\n          value: /etc/opa.yaml\n        - name: POLICY_DIR", wantError: "POLICY_DIR and OPA_CONFIG are both set"},
		{name: "missing_item_key", old: "key: authz.data.json", new: "key: authz-data.json", wantError: `no key "authz-data.json"`},
		{name: "short_grace_period", old: "terminationGracePeriodSeconds: 30", new: "terminationGracePeriodSeconds: 12", wantError: "shorter than SHUTDOWN_DELAY"},
		{name: "service_selects_nothing", old: "  selector:\n    app.kubernetes.io/name: policygate\n  type: ClusterIP", new: "  selector:\n    app.kubernetes.io/name: other\n  type: ClusterIP", wantError: "Service policygate: selector"},
		{name: "hpa_min_one", old: "minReplicas: 2", new: "minReplicas: 1", wantError: "minReplicas below 2"},
	}
	checkMutations(t, good, tests)
}

// TestCheckGRPC renders the gRPC overlay (the base with components/grpc),
// wants it accepted, and wants each way of leaving the gRPC face
// unreachable refused.
func TestCheckGRPC(t *testing.T) {
	good := renderPinned(t, "../kubernetes/overlays/grpc")
	if _, err := check(good); err != nil {
		t.Fatalf("check(overlays/grpc) = %v, want no problem", err)
	}
	tests := []mutation{
		{name: "listener_without_port", old: "- containerPort: 9191\n          name: grpc", new: "- containerPort: 9191\n          name: grpc2", wantError: "no container port grpc on 9191"},
		{name: "listener_on_other_port", old: "value: :9191", new: "value: :9192", wantError: "no container port grpc on 9192"},
		{name: "listener_on_loopback", old: "value: :9191", new: "value: 127.0.0.1:9191", wantError: "listens on one address only"},
		{name: "listener_not_host_port", old: "value: :9191", new: "value: grpc", wantError: `GRPC_LISTEN_ADDR = "grpc" is not host:port`},
		{name: "port_without_listener", old: "        - name: GRPC_LISTEN_ADDR\n          value: :9191\n", new: "", wantError: "nothing listens on 9191"},
		{name: "not_in_service", old: "targetPort: grpc", new: "targetPort: http", wantError: "no Service port targets grpc"},
		{name: "service_port_not_grpc", old: "- appProtocol: grpc\n    name: grpc", new: "- name: authz", wantError: "set appProtocol: grpc"},
		{name: "network_policy_blocks", old: "    - port: grpc\n      protocol: TCP\n  podSelector", new: "    - port: http\n      protocol: TCP\n  podSelector", wantError: "no ingress rule lets in the gRPC port 9191"},
		{name: "network_policy_udp_only", old: "    - port: grpc\n      protocol: TCP\n  podSelector", new: "    - port: grpc\n      protocol: UDP\n  podSelector", wantError: "no ingress rule lets in the gRPC port 9191"},
	}
	checkMutations(t, good, tests)
}

// mutation breaks a rendering: the first occurrence of old is replaced
// by new, and check must then name wantError.
type mutation struct {
	name, old, new string
	wantError      string
}

// checkMutations wants each mutation of good refused with its error.
func checkMutations(t *testing.T, good string, tests []mutation) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(good, tc.old) {
				t.Fatalf("the rendering has no %q to replace", tc.old)
			}
			_, err := check(strings.Replace(good, tc.old, tc.new, 1))
			if err == nil || !strings.Contains(err.Error(), tc.wantError) {
				t.Errorf("check(%s) = %v, want an error containing %q", tc.name, err, tc.wantError)
			}
		})
	}
}

func check(yaml string) (*rendering, error) {
	r, err := decodeAll(strings.NewReader(yaml))
	if err != nil {
		return nil, err
	}
	return r, errors.Join(r.check()...)
}

// renderPinned renders dir, wants it refused for the base's placeholder
// image tag (users must pin their image), and returns it with the tag
// 1.4.0 instead.
func renderPinned(t *testing.T, dir string) string {
	t.Helper()
	shipped := render(t, dir)
	placeholder := "registry.example.com/policygate:" + placeholderTag
	if !strings.Contains(shipped, "image: "+placeholder) {
		t.Fatalf("kubectl kustomize %s: no image %s", dir, placeholder)
	}
	if _, err := check(shipped); err == nil || !strings.Contains(err.Error(), "placeholder tag") {
		t.Fatalf("check(%s as shipped) = %v, want the placeholder tag refused", dir, err)
	}
	return strings.ReplaceAll(shipped, placeholder, "registry.example.com/policygate:1.4.0")
}

func render(t *testing.T, dir string) string {
	t.Helper()
	if _, err := exec.LookPath("kubectl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("kubectl not found; CI=true needs it")
		}
		t.Skip("kubectl not found: check test skipped")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "kubectl", "kustomize", dir).Output()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v", dir, err)
	}
	return string(out)
}

func TestImageProblem(t *testing.T) {
	digest := "sha256:" + strings.Repeat("0a", 32)
	tests := []struct {
		name, image string
		wantProblem string // "" when pinned
	}{
		{name: "tag", image: "registry.example.com/policygate:1.4.0"},
		{name: "describe_tag", image: "policygate:v1.4.0-3-gabc1234-dirty"},
		{name: "registry_port_and_tag", image: "localhost:5000/policygate:1.4.0"},
		{name: "digest", image: "registry.example.com/policygate@" + digest},
		{name: "tag_and_digest", image: "registry.example.com/policygate:1.4.0@" + digest},
		{name: "empty", image: "", wantProblem: "is empty"},
		{name: "no_tag", image: "registry.example.com/policygate", wantProblem: "has no tag"},
		{name: "registry_port_no_tag", image: "localhost:5000/policygate", wantProblem: "has no tag"},
		{name: "latest", image: "registry.example.com/policygate:latest", wantProblem: "is tagged latest"},
		{name: "placeholder", image: "registry.example.com/policygate:" + placeholderTag, wantProblem: "placeholder tag"},
		{name: "bad_tag", image: "policygate:-x", wantProblem: "is not an image tag"},
		{name: "short_digest", image: "policygate@sha256:0a0a", wantProblem: "is not sha256"},
		{name: "uppercase_digest", image: "policygate@sha256:" + strings.Repeat("0A", 32), wantProblem: "is not sha256"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := imageProblem(tc.image)
			if tc.wantProblem == "" && got != "" || !strings.Contains(got, tc.wantProblem) {
				t.Errorf("imageProblem(%q) = %q, want %q", tc.image, got, tc.wantProblem)
			}
		})
	}
}

// TestCheckOTLPEgress turns tracing on in the pinned base and wants the
// NetworkPolicy refused unless an egress rule lets out the endpoint's port.
func TestCheckOTLPEgress(t *testing.T) {
	base := renderPinned(t, "../kubernetes/base")
	const envAt, egressAt = "        - name: SHUTDOWN_DELAY\n", "  egress:\n"
	for _, at := range []string{envAt, egressAt} {
		if !strings.Contains(base, at) {
			t.Fatalf("the rendering has no %q", at)
		}
	}
	const otlp4318 = "  - ports:\n    - port: 4318\n      protocol: TCP\n"
	tests := []struct {
		name      string
		env       map[string]string // added to the container's env
		egress    string            // added to the NetworkPolicy's egress rules
		wantError string            // "" when accepted
	}{
		{name: "http_port_dropped", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector:4318"}, wantError: "no egress rule lets out TCP port 4318"},
		{name: "http_port_allowed", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector:4318"}, egress: otlp4318},
		{name: "traces_endpoint_wins", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://otel-collector:4317/v1/traces"}, egress: otlp4318, wantError: "no egress rule lets out TCP port 4317"},
		{name: "grpc_host_port", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "otel-collector:4317"}, wantError: "TCP port 4317"},
		{name: "udp_rule_only", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector:4318"}, egress: "  - ports:\n    - port: 4318\n      protocol: UDP\n", wantError: "TCP port 4318"},
		{name: "port_range", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector:4318"}, egress: "  - ports:\n    - port: 4000\n      endPort: 5000\n      protocol: TCP\n"},
		{name: "rule_without_ports", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector:4318"}, egress: "  - to:\n    - ipBlock:\n        cidr: 10.0.0.0/8\n"},
		{name: "https_default_port", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://otlp.example.com"}},
		{name: "http_default_port", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector"}, wantError: "TCP port 80"},
		{name: "exporter_none", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector:4318", "OTEL_TRACES_EXPORTER": "none"}},
		{name: "sdk_disabled", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector:4318", "OTEL_SDK_DISABLED": "true"}},
		{name: "no_port_known", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "otel-collector"}, wantError: "has no port or scheme"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := ""
			for k, v := range tc.env {
				env += "        - name: " + k + "\n          value: " + strconv.Quote(v) + "\n"
			}
			r := strings.Replace(base, envAt, env+envAt, 1)
			r = strings.Replace(r, egressAt, egressAt+tc.egress, 1)
			_, err := check(r)
			switch {
			case tc.wantError == "" && err != nil:
				t.Errorf("check(%s) = %v, want no problem", tc.name, err)
			case tc.wantError != "" && (err == nil || !strings.Contains(err.Error(), tc.wantError)):
				t.Errorf("check(%s) = %v, want an error containing %q", tc.name, err, tc.wantError)
			}
		})
	}
}
