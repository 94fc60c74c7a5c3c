// Package policies holds the Rego policies and their data that policygate
// ships, embedded so the binary needs no policy files at run time.
package policies

import "embed"

// FS holds one folder per Rego package: authz/authz.rego (package authz) and
// authz/data.json, which becomes data.authz; system/log/mask.rego (package
// system.log, OPA's decision-log mask) and its data.json. Its layout is
// that of an OPA bundle. Tests live in policies_test, so nothing here is a
// test.
//
//go:embed authz system
var FS embed.FS
