// Package extauthz is policygate's Envoy face: the gRPC
// envoy.service.auth.v3.Authorization/Check service that Envoy's ext_authz
// filter, Istio and Envoy Gateway call, and the grpc.health.v1 service
// their probes read. It only translates: a CheckRequest becomes a
// gate.Request, the gate's Outcome becomes a CheckResponse rendered by
// package denial, so Envoy's clients see the same statuses, challenges and
// JSON bodies as the HTTP faces' clients.
package extauthz
