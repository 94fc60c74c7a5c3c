package authn

import "errors"

// Sentinel errors. Every error returned by this package matches exactly one
// of them with errors.Is; the HTTP layer maps each to a response.
var (
	// ErrNoCredentials: no Authorization header, or a blank one.
	ErrNoCredentials = errors.New("no credentials")
	// ErrMalformedRequest: an Authorization header that is not one well-formed
	// bearer credential (OAuth error code invalid_request).
	ErrMalformedRequest = errors.New("malformed authorization header")
	// ErrInvalidToken: the token is not acceptable: bad form, signature,
	// algorithm, key, issuer, audience or lifetime (invalid_token).
	ErrInvalidToken = errors.New("invalid token")
	// ErrKeysUnavailable: the signing keys have never been fetched, so no
	// token can be verified yet. Nothing is granted.
	ErrKeysUnavailable = errors.New("signing keys unavailable")
)

// Error carries a short, client-safe description of why a credential was
// refused, and the sentinel it belongs to.
type Error struct {
	Err         error  // one of the sentinels above
	Description string // safe to show to the client; never contains the token
}

func (e *Error) Error() string { return e.Err.Error() + ": " + e.Description }

// Unwrap lets errors.Is match the sentinel.
func (e *Error) Unwrap() error { return e.Err }

func malformed(desc string) error { return &Error{Err: ErrMalformedRequest, Description: desc} }

func invalid(desc string) error { return &Error{Err: ErrInvalidToken, Description: desc} }

// Description returns the client-safe description of err, or "" if err is
// not from this package.
func Description(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Description
	}
	return ""
}
