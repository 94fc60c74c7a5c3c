// Package tracing exports OpenTelemetry spans for policygate: one server
// span per request (continuing the caller's W3C traceparent), with
// children for token verification, a key fetch a request waits for, and
// the policy decision. OpenTelemetry's own OTEL_* variables configure the
// exporter (the SDK reads them); nothing here re-reads them but the ones
// that say whether tracing is on at all. When it is off, nothing of this
// package is installed.
//
// No token and no claim value goes into a span, except the subject
// ("sub") when Config.Subject says so (TRACE_SUBJECT=true).
package tracing
