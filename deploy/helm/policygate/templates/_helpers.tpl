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
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
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
The policy folder as YAML, path: content: policy.files when given, else the
chart's copy of the shipped policy and its tests (files/policy).
*/}}
{{- define "policygate.policyFiles" -}}
{{- $files := dict -}}
{{- if .Values.policy.files -}}
{{- $files = .Values.policy.files -}}
{{- else -}}
{{- range $path, $_ := .Files.Glob "files/policy/**" -}}
{{- $_ := set $files (trimPrefix "files/policy/" $path) ($.Files.Get $path) -}}
{{- end -}}
{{- end -}}
{{- toYaml $files -}}
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
