// Package devissuer is the local identity provider of dev mode: a signing
// key generated at start and never stored, its JWKS and OpenID discovery
// document, and a token mint. A production-configured instance never trusts
// it: its key exists only in this process's memory.
package devissuer
