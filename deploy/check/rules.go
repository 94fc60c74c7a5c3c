package main

import (
	"fmt"
	"path"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// What policygate's manifests must say (docs/deploy.md).
const (
	adminPort   = 9090
	adminAddr   = ":9090"
	healthzPath = "/healthz"
	readyzPath  = "/readyz"
	// drainTimeout is how long the server lets requests in flight finish
	// after SHUTDOWN_DELAY; the grace period must cover both.
	drainTimeout = 10 * time.Second
)

// check returns every problem of the rendering, each naming its object.
func (r *rendering) check() []error {
	var errs []error
	bad := func(obj, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", obj, fmt.Sprintf(format, args...)))
	}
	if len(r.deployments) != 1 {
		bad("rendering", "%d Deployments, want 1", len(r.deployments))
		return errs
	}
	d := r.deployments[0]
	r.checkDeployment(d, bad)
	pod := labels.Set(d.Spec.Template.Labels)
	matches := func(obj string, sel *metav1.LabelSelector) {
		s, err := metav1.LabelSelectorAsSelector(sel)
		switch {
		case err != nil:
			bad(obj, "selector: %v", err)
		case s.Empty() || !s.Matches(pod):
			bad(obj, "selector %v does not select the Deployment's pods %v", s, pod)
		}
	}
	matches("Deployment "+d.Name, d.Spec.Selector)
	ports := map[string]int32{}
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, p := range c.Ports {
			ports[p.Name] = p.ContainerPort
		}
	}
	portExists := func(obj string, p intstr.IntOrString) {
		if p.Type == intstr.String {
			if _, ok := ports[p.StrVal]; !ok {
				bad(obj, "port %q is not a container port", p.StrVal)
			}
		}
	}
	for _, s := range r.services {
		matches("Service "+s.Name, &metav1.LabelSelector{MatchLabels: s.Spec.Selector})
		for _, p := range s.Spec.Ports {
			portExists("Service "+s.Name, p.TargetPort)
			if p.TargetPort.IntValue() == adminPort || p.TargetPort.StrVal == "admin" {
				bad("Service "+s.Name, "exposes the admin port; health and metrics stay on the pods")
			}
		}
	}
	for _, p := range r.pdbs {
		matches("PodDisruptionBudget "+p.Name, p.Spec.Selector)
	}
	for _, h := range r.hpas {
		if t := h.Spec.ScaleTargetRef; t.Kind != "Deployment" || t.Name != d.Name {
			bad("HorizontalPodAutoscaler "+h.Name, "targets %s %s, not Deployment %s", t.Kind, t.Name, d.Name)
		}
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 {
			bad("HorizontalPodAutoscaler "+h.Name, "minReplicas below 2: a restart would leave no replica")
		}
	}
	for _, n := range r.netpols {
		matches("NetworkPolicy "+n.Name, &n.Spec.PodSelector)
		for _, in := range n.Spec.Ingress {
			for _, p := range in.Ports {
				if p.Port != nil {
					portExists("NetworkPolicy "+n.Name, *p.Port)
				}
			}
		}
	}
	return errs
}

func (r *rendering) checkDeployment(d *appsv1.Deployment, bad func(obj, format string, args ...any)) {
	obj := "Deployment " + d.Name
	spec := d.Spec.Template.Spec
	if sa := spec.ServiceAccountName; sa != "" && r.serviceAccounts[sa] == nil {
		bad(obj, "service account %q is not in the rendering", sa)
	}
	if sc := spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		bad(obj, "pod securityContext.runAsNonRoot is not true")
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
		if cm := v.ConfigMap; cm != nil {
			r.checkConfigMapVolume(obj, cm, bad)
		}
	}
	if len(spec.Containers) != 1 {
		bad(obj, "%d containers, want 1", len(spec.Containers))
		return
	}
	c := spec.Containers[0]
	obj += " container " + c.Name
	if p := imageProblem(c.Image); p != "" {
		bad(obj, "image %q %s", c.Image, p)
	}
	if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
		bad(obj, "securityContext must set readOnlyRootFilesystem, allowPrivilegeEscalation: false and drop ALL capabilities")
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		bad(obj, "resources need cpu and memory requests and a memory limit")
	}

	env := map[string]string{}
	for _, e := range c.Env {
		if _, dup := env[e.Name]; dup {
			bad(obj, "env %s set twice", e.Name)
		}
		env[e.Name] = e.Value
	}
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm := r.configMaps[from.ConfigMapRef.Name]
			if cm == nil {
				bad(obj, "envFrom ConfigMap %q is not in the rendering", from.ConfigMapRef.Name)
				continue
			}
			for k, v := range cm.Data {
				if _, set := env[k]; !set {
					env[k] = v
				}
			}
		case from.SecretRef != nil:
			if from.SecretRef.Optional == nil || !*from.SecretRef.Optional {
				if r.secrets[from.SecretRef.Name] == nil {
					bad(obj, "envFrom Secret %q is not in the rendering (mark it optional or render it)", from.SecretRef.Name)
				}
			}
		}
	}
	if env["ADMIN_ADDR"] != adminAddr {
		bad(obj, "ADMIN_ADDR = %q, want %q (the probes' port)", env["ADMIN_ADDR"], adminAddr)
	}
	checkProbe(obj, "liveness", c.LivenessProbe, healthzPath, c.Ports, bad)
	checkProbe(obj, "readiness", c.ReadinessProbe, readyzPath, c.Ports, bad)
	r.checkGRPC(obj, c, env["GRPC_LISTEN_ADDR"], bad)
	r.checkOTLPEgress(obj, env, bad)

	delay, err := time.ParseDuration(env["SHUTDOWN_DELAY"])
	if err != nil {
		bad(obj, "SHUTDOWN_DELAY = %q: %v", env["SHUTDOWN_DELAY"], err)
	}
	grace := 30 * time.Second // the API's default
	if g := spec.TerminationGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}
	if delay+drainTimeout > grace {
		bad(obj, "terminationGracePeriodSeconds %v is shorter than SHUTDOWN_DELAY %v plus the %v drain", grace, delay, drainTimeout)
	}

	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		if _, ok := volumes[m.Name]; !ok {
			bad(obj, "volume mount %q names no volume", m.Name)
		}
		mounts[m.MountPath] = m
	}
	if m, ok := mounts["/tmp"]; !ok || volumes[m.Name].EmptyDir == nil {
		bad(obj, "/tmp must be an emptyDir: the root is read-only and temporary files go to /tmp")
	}

	dir, opa := env["POLICY_DIR"], env["OPA_CONFIG"]
	switch {
	case dir != "" && opa != "":
		bad(obj, "POLICY_DIR and OPA_CONFIG are both set; the server refuses that")
	case opa != "" && env["POLICY_TESTS_MUST_PASS"] != "":
		bad(obj, "POLICY_TESTS_MUST_PASS guards a folder; with OPA_CONFIG the server refuses it")
	case dir != "":
		if m, ok := mounts[dir]; !ok || volumes[m.Name].ConfigMap == nil {
			bad(obj, "POLICY_DIR %s is not where a ConfigMap volume is mounted", dir)
		}
	case opa != "":
		m, ok := mounts[path.Dir(opa)]
		if !ok || volumes[m.Name].ConfigMap == nil {
			bad(obj, "OPA_CONFIG %s is not in a mounted ConfigMap", opa)
		} else if cm := r.configMaps[volumes[m.Name].ConfigMap.Name]; cm != nil {
			if _, ok := cm.Data[path.Base(opa)]; !ok {
				bad(obj, "OPA_CONFIG %s: ConfigMap %s has no key %s", opa, cm.Name, path.Base(opa))
			}
		}
	}
}

// checkConfigMapVolume wants the ConfigMap in the rendering with every
// key its items name.
func (r *rendering) checkConfigMapVolume(obj string, v *corev1.ConfigMapVolumeSource, bad func(obj, format string, args ...any)) {
	cm := r.configMaps[v.Name]
	if cm == nil {
		if v.Optional == nil || !*v.Optional {
			bad(obj, "ConfigMap %q is not in the rendering", v.Name)
		}
		return
	}
	for _, it := range v.Items {
		if _, ok := cm.Data[it.Key]; !ok {
			bad(obj, "ConfigMap %s has no key %q (item %s)", v.Name, it.Key, it.Path)
		}
	}
	for k := range cm.Data {
		if len(v.Items) > 0 && !hasItem(v.Items, k) {
			bad(obj, "ConfigMap %s key %q is not mounted: add it to the volume's items", v.Name, k)
		}
	}
}

func hasItem(items []corev1.KeyToPath, key string) bool {
	for _, it := range items {
		if it.Key == key {
			return true
		}
	}
	return false
}

func checkProbe(obj, name string, p *corev1.Probe, wantPath string, ports []corev1.ContainerPort, bad func(obj, format string, args ...any)) {
	if p == nil || p.HTTPGet == nil {
		bad(obj, "no HTTP %s probe", name)
		return
	}
	port := p.HTTPGet.Port.IntValue()
	if p.HTTPGet.Port.Type == intstr.String {
		for _, cp := range ports {
			if cp.Name == p.HTTPGet.Port.StrVal {
				port = int(cp.ContainerPort)
			}
		}
	}
	if p.HTTPGet.Path != wantPath || port != adminPort {
		bad(obj, "%s probe GET %s on port %d, want %s on %d (ADMIN_ADDR)", name, p.HTTPGet.Path, port, wantPath, adminPort)
	}
	if !strings.EqualFold(string(p.HTTPGet.Scheme), "") && p.HTTPGet.Scheme != corev1.URISchemeHTTP {
		bad(obj, "%s probe scheme %s: the admin listener speaks plain HTTP", name, p.HTTPGet.Scheme)
	}
}
