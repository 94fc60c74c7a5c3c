{{/* The release's object name: the release name, with the chart's unless it already holds it. */}}
{{- define "policygate.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "policygate.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "policygate.labels" -}}
{{ include "policygate.selectorLabels" . }}
{{- with include "policygate.version" . }}
app.kubernetes.io/version: {{ . | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* policy.source, checked. */}}
{{- define "policygate.policySource" -}}
{{- $s := .Values.policy.source -}}
{{- if not (has $s (list "configMap" "embedded" "bundles")) -}}
{{- fail (printf "policy.source is %q; use configMap, embedded or bundles" $s) -}}
{{- end -}}
{{- range $k := list "POLICY_DIR" "OPA_CONFIG" "POLICY_TESTS_MUST_PASS" "ADMIN_ADDR" "LISTEN_ADDR" "SHUTDOWN_DELAY" "TLS_CERT_FILE" "TLS_KEY_FILE" "GRPC_LISTEN_ADDR" -}}
{{- if hasKey $.Values.settings $k -}}
{{- fail (printf "settings.%s is set by the chart (see policy, bundles, shutdownDelay, tls, grpc)" $k) -}}
{{- end -}}
{{- end -}}
{{- $s -}}
{{- end -}}

{{/*
The policy folder as YAML, path: content. Without policy.files: the chart's
copy of the shipped policy and its tests (files/policy). With it: the
shipped system/ files (the decision-log mask, system/log/mask.rego and its
data.json, which hold for any policy: without them decision logs carry
every claim unmasked) and policy.files over them, so a user's file of the
same path replaces the shipped one and other files add to them. The
shipped tests stay out: they test the shipped policy.
*/}}
{{- define "policygate.policyFiles" -}}
{{- $files := dict -}}
{{- $glob := "files/policy/**" -}}
{{- $ownSystemRego := false -}}
{{- if .Values.policy.files -}}
{{- $glob = "files/policy/system/**" -}}
{{- range $path, $_ := .Values.policy.files -}}
{{- if and (hasPrefix "system/" $path) (hasSuffix ".rego" $path) -}}{{- $ownSystemRego = true -}}{{- end -}}
{{- end -}}
{{- end -}}
{{- range $path, $_ := .Files.Glob $glob -}}
{{- /* Own Rego under system/ (a mask of yours, in any file) replaces the shipped Rego there: two masks would conflict. */ -}}
{{- if not (and $ownSystemRego (hasSuffix ".rego" $path)) -}}
{{- $_ := set $files (trimPrefix "files/policy/" $path) ($.Files.Get $path) -}}
{{- end -}}
{{- end -}}
{{- range $path, $content := .Values.policy.files -}}
{{- if not (kindIs "string" $content) -}}
{{- fail (printf "policy.files.%s is not a file's text; give the content as a string (a YAML block |, or --set-file)" $path) -}}
{{- end -}}
{{- $_ := set $files $path $content -}}
{{- end -}}
{{- toYaml $files -}}
{{- end -}}

{{/* The *_test.rego files of the policy folder that policy.testsMustPass runs: policy.files' own when given. */}}
{{- define "policygate.hasTests" -}}
{{- $files := .Values.policy.files | default (include "policygate.policyFiles" . | fromYaml) -}}
{{- range $path, $_ := $files -}}
{{- if hasSuffix "_test.rego" $path -}}true{{- end -}}
{{- end -}}
{{- end -}}

{{/* A ConfigMap key for a folder path: keys cannot hold "/". */}}
{{- define "policygate.policyKey" -}}
{{- . | replace "/" "." -}}
{{- end -}}

{{/* grpc.port, checked: a port of its own, when grpc.enabled. */}}
{{- define "policygate.grpcPort" -}}
{{- $p := .Values.grpc.port | int -}}
{{- if or (lt $p 1) (gt $p 65535) (eq $p 3010) (eq $p 9090) (eq $p (.Values.service.port | int)) (ne (toString $p) (toString .Values.grpc.port)) -}}
{{- fail (printf "grpc.port is %v; use a port from 1 to 65535 other than 3010 (API), 9090 (admin) and service.port" .Values.grpc.port) -}}
{{- end -}}
{{- $p -}}
{{- end -}}

{{/*
The container image, pinned: repository@digest with image.digest, else
repository:tag. No default tag: the chart cannot know which build you pushed,
and a moving tag (latest) would run whatever was pushed last, or nothing.
*/}}
{{- define "policygate.image" -}}
{{- $repo := required "image.repository is required: where you pushed deploy/build-image.sh's image" .Values.image.repository -}}
{{- $digest := toString (.Values.image.digest | default "") -}}
{{- $tag := toString (.Values.image.tag | default "") -}}
{{- if $digest -}}
{{- if not (regexMatch "^sha256:[0-9a-f]{64}$" $digest) -}}
{{- fail (printf "image.digest is %q; use the sha256:<64 hex digits> the registry gave at push (deploy/build-image.sh with PUSH=true prints it)" $digest) -}}
{{- end -}}
{{- printf "%s@%s" $repo $digest -}}
{{- else -}}
{{- $tag = required "image.tag or image.digest is required: the chart pins no default image; set the tag you built and pushed (deploy/build-image.sh prints it) or its digest (docs/deploy.md)" ($tag | trimPrefix ":") -}}
{{- if eq $tag "latest" -}}
{{- fail "image.tag is latest, a tag that moves and that deploy/build-image.sh never builds; set the version you pushed or image.digest" -}}
{{- end -}}
{{- if not (regexMatch "^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$" $tag) -}}
{{- fail (printf "image.tag is %q, not an image tag; a digest goes in image.digest" $tag) -}}
{{- end -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}
{{- end -}}

{{/* app.kubernetes.io/version: the image tag, when one is set (a digest alone says no version). */}}
{{- define "policygate.version" -}}
{{- toString (.Values.image.tag | default "") | trimPrefix ":" | trunc 63 | trimSuffix "-" | trimSuffix "." -}}
{{- end -}}
