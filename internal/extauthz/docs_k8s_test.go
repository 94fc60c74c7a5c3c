package extauthz_test

import (
	"bytes"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The Kubernetes resources of docs/envoy.md, as far as the docs use them.
// They are decoded with unknown fields refused, so a misspelt field (which
// Kubernetes would drop or refuse, leaving a copied configuration that does
// nothing) fails here. A field the docs start to use needs adding here,
// checked against the upstream schema: istio/api mesh/v1alpha1/config.proto
// and security/v1/authorization_policy.proto, envoyproxy/gateway
// api/v1alpha1 (SecurityPolicy), Gateway API (ReferenceGrant), and the
// Kubernetes core/v1 Probe.

type k8sMeta struct {
	Name      string `yaml:"name"`
	Namespace string `yaml:"namespace"`
}

type istioOperator struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Spec       struct {
		MeshConfig struct {
			ExtensionProviders []struct {
				Name              string `yaml:"name"`
				EnvoyExtAuthzGrpc struct {
					Service  string `yaml:"service"`
					Port     int    `yaml:"port"`
					Timeout  string `yaml:"timeout"`
					FailOpen *bool  `yaml:"failOpen"`
				} `yaml:"envoyExtAuthzGrpc"`
			} `yaml:"extensionProviders"`
		} `yaml:"meshConfig"`
	} `yaml:"spec"`
}

type authorizationPolicy struct {
	APIVersion string  `yaml:"apiVersion"`
	Kind       string  `yaml:"kind"`
	Metadata   k8sMeta `yaml:"metadata"`
	Spec       struct {
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Action   string `yaml:"action"`
		Provider struct {
			Name string `yaml:"name"`
		} `yaml:"provider"`
		Rules []struct {
			From []any `yaml:"from"`
			To   []any `yaml:"to"`
			When []any `yaml:"when"`
		} `yaml:"rules"`
	} `yaml:"spec"`
}

type securityPolicy struct {
	APIVersion string  `yaml:"apiVersion"`
	Kind       string  `yaml:"kind"`
	Metadata   k8sMeta `yaml:"metadata"`
	Spec       struct {
		TargetRefs []struct {
			Group string `yaml:"group"`
			Kind  string `yaml:"kind"`
			Name  string `yaml:"name"`
		} `yaml:"targetRefs"`
		ExtAuth struct {
			FailOpen *bool `yaml:"failOpen"`
			GRPC     struct {
				BackendRefs []struct {
					Name      string `yaml:"name"`
					Namespace string `yaml:"namespace"`
					Port      int    `yaml:"port"`
				} `yaml:"backendRefs"`
			} `yaml:"grpc"`
		} `yaml:"extAuth"`
	} `yaml:"spec"`
}

type referenceGrant struct {
	APIVersion string  `yaml:"apiVersion"`
	Kind       string  `yaml:"kind"`
	Metadata   k8sMeta `yaml:"metadata"`
	Spec       struct {
		From []struct {
			Group     string `yaml:"group"`
			Kind      string `yaml:"kind"`
			Namespace string `yaml:"namespace"`
		} `yaml:"from"`
		To []struct {
			Group string `yaml:"group"`
			Kind  string `yaml:"kind"`
			Name  string `yaml:"name"`
		} `yaml:"to"`
	} `yaml:"spec"`
}

type probe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
	PeriodSeconds    int `yaml:"periodSeconds"`
	TimeoutSeconds   int `yaml:"timeoutSeconds"`
	FailureThreshold int `yaml:"failureThreshold"`
}

type probes struct {
	StartupProbe   *probe `yaml:"startupProbe"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
}

// strictYAML decodes text into v, refusing any field v does not have.
func strictYAML(t *testing.T, name, text string, v any) {
	t.Helper()
	d := yaml.NewDecoder(bytes.NewReader([]byte(text)))
	d.KnownFields(true)
	if err := d.Decode(v); err != nil {
		t.Errorf("docs/envoy.md %s: %v", name, err)
	}
}

// checkKubernetesFields decodes each Kubernetes block strictly and checks
// that the blocks agree on where policygate runs: the Service policygate
// in the namespace policygate, port 9191.
func checkKubernetesFields(t *testing.T, text map[string]string) {
	var (
		op    istioOperator
		ap    authorizationPolicy
		sp    securityPolicy
		grant referenceGrant
		pr    probes
	)
	strictYAML(t, "IstioOperator", text["IstioOperator"], &op)
	strictYAML(t, "AuthorizationPolicy", text["AuthorizationPolicy"], &ap)
	strictYAML(t, "SecurityPolicy", text["SecurityPolicy"], &sp)
	strictYAML(t, "ReferenceGrant", text["ReferenceGrant"], &grant)
	strictYAML(t, "probes", text["probes"], &pr)

	const service, namespace, port = "policygate", "policygate", 9191
	for _, p := range op.Spec.MeshConfig.ExtensionProviders {
		if g := p.EnvoyExtAuthzGrpc; g.Service != service+"."+namespace+".svc.cluster.local" || g.Port != port {
			t.Errorf("Istio provider %s sends to %s:%d, want %s.%s.svc.cluster.local:%d", p.Name, g.Service, g.Port, service, namespace, port)
		}
	}
	if len(ap.Spec.Rules) == 0 {
		t.Error("AuthorizationPolicy has no rules: Istio never triggers a CUSTOM policy without one")
	}
	if len(ap.Spec.Selector.MatchLabels) == 0 {
		t.Error("AuthorizationPolicy selects no workload")
	}
	if len(sp.Spec.TargetRefs) == 0 || sp.Spec.TargetRefs[0].Name == "" {
		t.Error("SecurityPolicy targets no route")
	}
	refs := sp.Spec.ExtAuth.GRPC.BackendRefs
	if len(refs) != 1 {
		t.Fatalf("SecurityPolicy has %d backendRefs, want 1", len(refs))
	}
	ref := refs[0]
	if ref.Name != service || ref.Port != port || ref.Namespace != namespace {
		t.Errorf("SecurityPolicy backendRef = %s/%s:%d, want %s/%s:%d", ref.Namespace, ref.Name, ref.Port, namespace, service, port)
	}
	// Envoy Gateway checks a grant only for a reference that names
	// another namespace, and that grant lives in the target's namespace.
	if ref.Namespace != "" && ref.Namespace != sp.Metadata.Namespace {
		if grant.Metadata.Namespace != ref.Namespace || grant.APIVersion != "gateway.networking.k8s.io/v1beta1" {
			t.Errorf("ReferenceGrant %s in %q, want gateway.networking.k8s.io/v1beta1 in %q", grant.APIVersion, grant.Metadata.Namespace, ref.Namespace)
		}
		allowedFrom := len(grant.Spec.From) == 1 && grant.Spec.From[0].Group == "gateway.envoyproxy.io" &&
			grant.Spec.From[0].Kind == "SecurityPolicy" && grant.Spec.From[0].Namespace == sp.Metadata.Namespace
		allowedTo := len(grant.Spec.To) == 1 && grant.Spec.To[0].Group == "" && grant.Spec.To[0].Kind == "Service" && grant.Spec.To[0].Name == service
		if !allowedFrom || !allowedTo {
			t.Errorf("ReferenceGrant from %+v to %+v, want SecurityPolicy in %q to Service %s", grant.Spec.From, grant.Spec.To, sp.Metadata.Namespace, service)
		}
	}
	for name, p := range map[string]*probe{"startupProbe": pr.StartupProbe, "livenessProbe": pr.LivenessProbe, "readinessProbe": pr.ReadinessProbe} {
		if p == nil || !strings.HasPrefix(p.HTTPGet.Path, "/") || p.PeriodSeconds <= 0 || p.FailureThreshold <= 0 {
			t.Errorf("%s = %+v, want an HTTP GET with a period and a failure threshold", name, p)
		}
	}
}
