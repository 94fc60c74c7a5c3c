// Package policy loads a policy folder the way the engine activates it (an
// OPA bundle, compiled, checked for the entrypoint, hashed into a revision)
// and runs its Rego tests, without starting OPA's SDK: what the engine and
// a command-line check share.
package policy
