package main

import (
	"net"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// grpcPortName is the container port the gRPC face (GRPC_LISTEN_ADDR) is
// published under; Services and NetworkPolicies refer to it by name.
const grpcPortName = "grpc"

// checkGRPC wants the gRPC face reachable when GRPC_LISTEN_ADDR is set: a
// container port named grpc on its port, a Service port for it that a
// mesh or gateway knows speaks gRPC, and every NetworkPolicy letting it
// in. A grpc container port without GRPC_LISTEN_ADDR has nothing behind it.
func (r *rendering) checkGRPC(obj string, c corev1.Container, addr string, bad func(obj, format string, args ...any)) {
	var named *corev1.ContainerPort
	for i, p := range c.Ports {
		if p.Name == grpcPortName {
			named = &c.Ports[i]
		}
	}
	if addr == "" {
		if named != nil {
			bad(obj, "container port %s but no GRPC_LISTEN_ADDR: nothing listens on %d", grpcPortName, named.ContainerPort)
		}
		return
	}
	host, portText, err := net.SplitHostPort(addr)
	port, perr := strconv.Atoi(portText)
	switch {
	case err != nil || perr != nil || port < 1 || port > 65535:
		bad(obj, "GRPC_LISTEN_ADDR = %q is not host:port", addr)
		return
	case host != "" && host != "0.0.0.0" && host != "::":
		bad(obj, "GRPC_LISTEN_ADDR = %q listens on one address only; use :%d so Services reach it", addr, port)
	}
	if named == nil || int(named.ContainerPort) != port {
		bad(obj, "GRPC_LISTEN_ADDR = %q, but no container port %s on %d", addr, grpcPortName, port)
	}

	target := func(p intstr.IntOrString) bool {
		return p.StrVal == grpcPortName || (p.Type == intstr.Int && p.IntValue() == port)
	}
	published := false
	for _, s := range r.services {
		for _, p := range s.Spec.Ports {
			if !target(p.TargetPort) {
				continue
			}
			published = true
			if (p.AppProtocol == nil || *p.AppProtocol != "grpc") && p.Name != "grpc" && !strings.HasPrefix(p.Name, "grpc-") {
				bad("Service "+s.Name, "port %s (%d) serves gRPC: set appProtocol: grpc (or name it grpc) so meshes and gateways speak HTTP/2 to it", p.Name, p.Port)
			}
		}
	}
	if !published {
		bad(obj, "GRPC_LISTEN_ADDR = %q, but no Service port targets %s", addr, grpcPortName)
	}
	for _, n := range r.netpols {
		if !restrictsIngress(n) || admits(n.Spec.Ingress, target) {
			continue
		}
		bad("NetworkPolicy "+n.Name, "no ingress rule lets in the gRPC port %d (%s)", port, grpcPortName)
	}
}

// restrictsIngress: a policy with no policyTypes restricts ingress.
func restrictsIngress(n *networkingv1.NetworkPolicy) bool {
	return len(n.Spec.PolicyTypes) == 0 || slices.Contains(n.Spec.PolicyTypes, networkingv1.PolicyTypeIngress)
}

// admits reports whether some ingress rule lets TCP traffic to the port
// in; a rule without ports, or a port entry without a port, admits every
// port.
func admits(rules []networkingv1.NetworkPolicyIngressRule, target func(intstr.IntOrString) bool) bool {
	for _, in := range rules {
		if len(in.Ports) == 0 {
			return true
		}
		for _, p := range in.Ports {
			if p.Protocol != nil && *p.Protocol != corev1.ProtocolTCP {
				continue
			}
			if p.Port == nil || target(*p.Port) {
				return true
			}
		}
	}
	return false
}
