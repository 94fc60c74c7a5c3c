package authn

import (
	"encoding/base64"
	"fmt"
)

// UnverifiedClaims reads a token payload that a person wrote (a JSON
// object) into Claims the way Verify reads a verified one: the same "sub"
// check and the same scopes (the "scope" string united with the
// "permissions" array). Nothing is verified: it is for tools that ask the
// policy "what if" (server decide --claims), never for a request.
func UnverifiedClaims(payload []byte) (*Claims, error) {
	c, err := parseClaims(base64.RawURLEncoding.EncodeToString(payload))
	if err != nil {
		return nil, fmt.Errorf("claims: %s", Description(err))
	}
	return c, nil
}
