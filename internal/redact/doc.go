// Package redact hides the secrets a URL can carry (a password in its
// userinfo, a token or signature in its query) in text meant for people
// other than the operator, such as /readyz's body, and in log lines
// (Handler), which are often shipped to a shared log store.
package redact
