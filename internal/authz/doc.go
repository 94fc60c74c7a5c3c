// Package authz is the embedded Open Policy Agent: it loads and compiles the
// policy through OPA's SDK (the standard bundle plugin and configuration),
// keeps it current (folder reloads, bundle polling) and answers one question
// per request, Decide. It knows nothing of HTTP.
//
// Loading, checking and testing one version of a policy folder is package
// policy's job. How policies arrive (engine.go: the SDK; source.go,
// folder.go: where from; status.go, readiness.go, metrics.go: what is
// active) is kept apart from evaluation (decide.go, prepare.go, decisionlog.go), so the evaluation path
// can change without touching how policies arrive.
package authz
