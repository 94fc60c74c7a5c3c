#!/usr/bin/env bash
# Builds policygate's container image: first the static binary, then the
# image from the repository's Dockerfile, in a build context staged in a
# temporary folder (the binary, a CA bundle, the passwd entry of user 65532
# and an empty /tmp). Users and CI run this same script.
#
#   deploy/build-image.sh                 # image policygate:<version>
#   IMAGE=registry.example.com/policygate:1.2.0 deploy/build-image.sh
#   IMAGE=registry.example.com/policygate:1.2.0 PUSH=true deploy/build-image.sh
#
# It ends by printing how to pin what it built in the Kubernetes manifests
# (the chart's image.tag, kustomize's newTag) and, with PUSH=true, the
# digest the registry gave the pushed image (image.digest, digest:). The
# digest exists only once pushed: a registry's differs from the local one.
#
# Environment:
#   IMAGE      image name and tag             (policygate:$VERSION)
#   VERSION    stamped into the binary (-X main.version) and the image label
#              (git describe --tags --always --dirty, else "dev")
#   REVISION   the commit stamped into the binary (-X main.revision)
#              (git rev-parse HEAD, else "unknown")
#   GOARCH     target architecture            (go env GOARCH)
#   BUILDER    buildah, podman or docker      (the first one installed)
#   CA_BUNDLE  PEM bundle the image trusts    (/etc/ssl/certs/ca-certificates.crt)
#   BUILD_ARGS extra arguments for the builder, word-split
#              (e.g. "--isolation chroot" for buildah inside a container)
#   PUSH       true: push IMAGE to its registry and print its digest (false)
# Nothing is pulled from a registry: the image is FROM scratch.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
IMAGE=${IMAGE:-policygate:$VERSION}
GOARCH=${GOARCH:-$(go env GOARCH)}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
if [ -z "${BUILDER:-}" ]; then
  for b in buildah podman docker; do
    if command -v "$b" >/dev/null 2>&1; then BUILDER=$b; break; fi
  done
fi
[ -n "${BUILDER:-}" ] || { echo "build-image: no buildah, podman or docker installed" >&2; exit 1; }
[ -s "$CA_BUNDLE" ] || { echo "build-image: no CA bundle at $CA_BUNDLE (apt-get install ca-certificates, or set CA_BUNDLE)" >&2; exit 1; }

ctx=$(mktemp -d "${TMPDIR:-/tmp}/policygate-image.XXXXXX")
trap 'rm -rf "$ctx"' EXIT

REVISION=${REVISION:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
echo "build-image: binary $VERSION ($REVISION) for linux/$GOARCH"
CGO_ENABLED=0 GOOS=linux GOARCH=$GOARCH \
  go build -trimpath -ldflags "-s -w -X main.version=$VERSION -X main.revision=$REVISION" -o "$ctx/policygate" ./cmd/server

mkdir -p "$ctx/rootfs/etc/ssl/certs" "$ctx/rootfs/tmp"
chmod 1777 "$ctx/rootfs/tmp" # like any /tmp: writable by the user 65532
cp "$CA_BUNDLE" "$ctx/rootfs/etc/ssl/certs/ca-certificates.crt"
echo 'nonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin' >"$ctx/rootfs/etc/passwd"
echo 'nonroot:x:65532:' >"$ctx/rootfs/etc/group"
chmod 0644 "$ctx/rootfs/etc/passwd" "$ctx/rootfs/etc/group" "$ctx/rootfs/etc/ssl/certs/ca-certificates.crt"
cp Dockerfile .dockerignore "$ctx/"

echo "build-image: $IMAGE with $BUILDER"
# shellcheck disable=SC2086 # BUILD_ARGS is a list of words on purpose
case "$BUILDER" in
  buildah) buildah bud ${BUILD_ARGS:-} --platform "linux/$GOARCH" --build-arg "VERSION=$VERSION" -t "$IMAGE" -f "$ctx/Dockerfile" "$ctx" ;;
  *) "$BUILDER" build ${BUILD_ARGS:-} --platform "linux/$GOARCH" --build-arg "VERSION=$VERSION" -t "$IMAGE" -f "$ctx/Dockerfile" "$ctx" ;;
esac
echo "build-image: built $IMAGE"

# IMAGE as repository and tag (a registry's :port is not a tag).
repository=$IMAGE tag=
if [[ ${IMAGE##*/} == *:* ]]; then repository=${IMAGE%:*} tag=${IMAGE##*:}; fi
if [ -z "$tag" ] || [ "$tag" = latest ]; then
  echo "build-image: warning: $IMAGE has no version tag; the chart and deploy/check refuse latest: set IMAGE=name:version, or push and pin the digest" >&2
fi
if [ "${PUSH:-false}" != true ]; then
  [ -n "$tag" ] && [ "$tag" != latest ] &&
    echo "build-image: pin it: chart image.repository=$repository image.tag=$tag; kustomize images: newName: $repository, newTag: \"$tag\""
  exit 0
fi
case "$BUILDER" in
  buildah | podman)
    "$BUILDER" push --digestfile "$ctx/digest" "$IMAGE"
    digest=$(cat "$ctx/digest")
    ;;
  *)
    "$BUILDER" push "$IMAGE"
    digest=$("$BUILDER" image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$IMAGE" | sed -n "s|^$repository@||p" | head -n 1)
    ;;
esac
[[ $digest =~ ^sha256:[0-9a-f]{64}$ ]] || { echo "build-image: pushed $IMAGE but found no digest (got \"$digest\")" >&2; exit 1; }
echo "build-image: pushed $repository@$digest"
echo "build-image: pin it: chart image.repository=$repository image.digest=$digest; kustomize images: newName: $repository, digest: $digest"
