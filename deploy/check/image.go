package main

import (
	"regexp"
	"strings"
)

// placeholderTag is the tag the Kubernetes base ships
// (deploy/kubernetes/base/kustomization.yaml): no registry holds it, and
// the user replaces it with the tag or digest they pushed.
const placeholderTag = "REPLACE-WITH-YOUR-TAG"

var (
	digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	tagRE    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
)

// imageProblem says why image is not pinned, or "" when it is: a digest
// (name@sha256:...), or a tag that is neither latest nor the base's
// placeholder. No tag means latest to the container runtime. A moving
// tag runs whatever was pushed last (with imagePullPolicy IfNotPresent,
// whatever each node pulled first); a tag the build never made does not
// run at all.
func imageProblem(image string) string {
	if image == "" {
		return "is empty"
	}
	name, digest, hasDigest := strings.Cut(image, "@")
	if hasDigest {
		if !digestRE.MatchString(digest) {
			return "digest " + digest + " is not sha256:<64 hex digits>"
		}
		return ""
	}
	tag := ""
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name, tag = name[:i], name[i+1:]
	}
	switch {
	case tag == "":
		return "has no tag, so the runtime pulls latest; pin the tag or digest you pushed (docs/deploy.md)"
	case tag == "latest":
		return "is tagged latest, which moves and which deploy/build-image.sh never builds; pin the tag or digest you pushed (docs/deploy.md)"
	case tag == placeholderTag:
		return "still has the base's placeholder tag; set the tag or digest you pushed in images: (docs/deploy.md)"
	case !tagRE.MatchString(tag):
		return "tag " + tag + " is not an image tag"
	}
	return ""
}
