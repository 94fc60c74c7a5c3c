// Package imagetest runs policygate's container image for real, with
// podman, the way an operator and Kubernetes run it: the shipped image with
// no volume, a read-only root with /tmp as a tmpfs, a mounted policy folder.
// It holds only a test, which runs when POLICYGATE_CONTAINER_TEST=1 (see
// .ci/container, which builds the image first).
package imagetest
