// Package authztest builds OPA bundles for tests the way `opa build` does,
// so fleet-mode tests need no opa binary: from a policy folder, with a
// revision, signed or not, or tampered with after signing.
package authztest
