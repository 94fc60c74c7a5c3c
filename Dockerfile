# The policygate image: a prebuilt static binary on an empty base, as
# GoReleaser and ko build theirs. Build it with deploy/build-image.sh, which
# compiles the binary and stages this build context:
#
#   policygate                       CGO_ENABLED=0 go build -trimpath ./cmd/server
#   rootfs/etc/ssl/certs/ca-certificates.crt   the build host's CA bundle (https to the IdP)
#   rootfs/etc/passwd, rootfs/etc/group        the unprivileged user 65532 (nonroot)
#   rootfs/tmp/                      an empty folder, mode 1777: the writable
#                                    /tmp that Go (os.TempDir) and libraries expect
#
# Nothing is pulled from a registry. The policy is embedded in the binary,
# so the image runs with no volume; POLICY_DIR or OPA_CONFIG replace it.
FROM scratch

ARG VERSION=dev
LABEL org.opencontainers.image.title="policygate" \
      org.opencontainers.image.description="OAuth 2.0 access-token verification and Open Policy Agent decisions for HTTP APIs" \
      org.opencontainers.image.version="${VERSION}"

COPY rootfs/ /
COPY policygate /usr/local/bin/policygate

# Listeners: LISTEN_ADDR (:3010 by default) and, when set, ADMIN_ADDR
# (health, readiness, metrics; the manifests use :9090).
EXPOSE 3010 9090
USER 65532:65532
WORKDIR /
ENTRYPOINT ["/usr/local/bin/policygate"]
