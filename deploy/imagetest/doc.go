// Package imagetest runs policygate's container image for real, with
// podman, the way an operator and Kubernetes run it: the shipped image with
// no volume, a read-only root with and without a /tmp, mounted policy
// folders, and the Deployment's settings with a ConfigMap volume laid out
// and updated as the kubelet does.
// It holds only a test, which runs when POLICYGATE_CONTAINER_TEST=1 (see
// .ci/container, which builds the image first).
package imagetest
