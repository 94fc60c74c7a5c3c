package main

import (
	"net"
	"net/url"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// checkOTLPEgress wants every NetworkPolicy that limits the pods' egress
// to let out the OTLP endpoint's port when tracing is on
// (OTEL_EXPORTER_OTLP_ENDPOINT, docs/tracing.md): the exporter's
// connections to a port the policy drops fail with no more than a warning
// in the log, and no span arrives. Only the port can be checked: the
// collector's address is not known here.
func (r *rendering) checkOTLPEgress(obj string, env map[string]string, bad func(obj, format string, args ...any)) {
	name := "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	endpoint := env[name]
	if endpoint == "" {
		name = "OTEL_EXPORTER_OTLP_ENDPOINT"
		endpoint = env[name]
	}
	if endpoint == "" || strings.EqualFold(env["OTEL_SDK_DISABLED"], "true") || env["OTEL_TRACES_EXPORTER"] == "none" {
		return
	}
	port, ok := endpointPort(endpoint)
	if !ok {
		bad(obj, "%s = %q has no port or scheme to check the NetworkPolicy against", name, endpoint)
		return
	}
	for _, n := range r.netpols {
		if limitsEgress(n) && !egressAllows(n.Spec.Egress, port) {
			bad("NetworkPolicy "+n.Name, "no egress rule lets out TCP port %d, the port of %s %s: spans would be dropped silently; add one (docs/tracing.md)", port, name, endpoint)
		}
	}
}

// endpointPort is the TCP port an OTLP endpoint is reached on: the URL's,
// else its scheme's; a bare host:port (OTLP/gRPC) is read as such.
func endpointPort(endpoint string) (int, bool) {
	if u, err := url.Parse(endpoint); err == nil && u.Host != "" {
		if p := u.Port(); p != "" {
			n, err := strconv.Atoi(p)
			return n, err == nil
		}
		switch u.Scheme {
		case "http":
			return 80, true
		case "https":
			return 443, true
		}
		return 0, false
	}
	if _, p, err := net.SplitHostPort(endpoint); err == nil {
		n, err := strconv.Atoi(p)
		return n, err == nil
	}
	return 0, false
}

// limitsEgress says whether n restricts the egress of the pods it selects.
func limitsEgress(n *networkingv1.NetworkPolicy) bool {
	if len(n.Spec.PolicyTypes) == 0 {
		return len(n.Spec.Egress) > 0
	}
	for _, t := range n.Spec.PolicyTypes {
		if t == networkingv1.PolicyTypeEgress {
			return true
		}
	}
	return false
}

// egressAllows says whether some rule lets out TCP port: a rule with no
// ports lets out every port, a port without a number every port of its
// protocol. A named port names the destination pod's port, unknown here:
// it is given the benefit of the doubt.
func egressAllows(rules []networkingv1.NetworkPolicyEgressRule, port int) bool {
	for _, rule := range rules {
		if len(rule.Ports) == 0 {
			return true
		}
		for _, p := range rule.Ports {
			if p.Protocol != nil && *p.Protocol != corev1.ProtocolTCP {
				continue
			}
			switch {
			case p.Port == nil, p.Port.Type == intstr.String:
				return true
			case p.Port.IntValue() == port:
				return true
			case p.EndPort != nil && p.Port.IntValue() <= port && port <= int(*p.EndPort):
				return true
			}
		}
	}
	return false
}
