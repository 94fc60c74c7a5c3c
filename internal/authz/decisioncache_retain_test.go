package authz

import (
	"strings"
	"testing"
	"unsafe"
)

// A cached decision keeps its header values in storage of its own. The
// token parser hands out claims as substrings of one copy of the whole
// payload; a header copied from a claim and cached as such would keep
// that whole payload (up to the token size limit) alive for as long as the
// decision stays cached, long after the token itself is gone.
func TestDecisionCacheKeepsNoClaimStorage(t *testing.T) {
	e := engineFor(t, map[string]string{"authz/authz.rego": shippedRego(t), "authz/data.json": headerData}, Config{})
	payload := `{"org_id":"acme","padding":"` + strings.Repeat("x", 4096) + `"}`
	orgID := payload[len(`{"org_id":"`):][:len("acme")] // a substring, as the parser gives
	in := Input{Method: "GET", Path: []string{"orgs", "x"}, Claims: map[string]any{"sub": "a", "org_id": orgID}}
	decide(t, e, in)      // stores
	d := decide(t, e, in) // answers from the cache
	got := d.Headers["X-Auth-Tenant"]
	if got != "acme" {
		t.Fatalf("Headers = %v, want X-Auth-Tenant: acme", d.Headers)
	}
	if e.decisions == nil || e.decisions.hits.Load() == 0 {
		t.Fatal("the decision cache was not used")
	}
	start := uintptr(unsafe.Pointer(unsafe.StringData(payload)))
	at := uintptr(unsafe.Pointer(unsafe.StringData(got)))
	if start <= at && at < start+uintptr(len(payload)) {
		t.Errorf("the cached header X-Auth-Tenant points into the token's payload, keeping all %d bytes of it", len(payload))
	}
}

// The same for every string of a cached decision: a policy that copies a
// claim into its reason or a scope list gets it stored in storage of its
// own, so what the entry holds is what its size bound counted.
func TestDecisionCacheKeepsNoClaimStorageInLists(t *testing.T) {
	e := engineFor(t, decisionRego(`decision := {"allowed": false, "reason": input.claims.sub, `+
		`"required_scopes": [input.claims.sub], "any_scopes": [input.claims.sub], "missing_scopes": [input.claims.sub], "failed_claims": [input.claims.sub]}`), Config{})
	payload := `{"sub":"alice","padding":"` + strings.Repeat("x", 4096) + `"}`
	sub := payload[len(`{"sub":"`):][:len("alice")] // a substring, as the parser gives
	in := Input{Method: "GET", Path: []string{"x"}, Claims: map[string]any{"sub": sub}}
	decide(t, e, in)      // stores
	d := decide(t, e, in) // answers from the cache
	if e.decisions == nil || e.decisions.hits.Load() == 0 {
		t.Fatal("the decision cache was not used")
	}
	start := uintptr(unsafe.Pointer(unsafe.StringData(payload)))
	for _, field := range []struct {
		name string
		got  []string
	}{
		{name: "Reason", got: []string{d.Reason}},
		{name: "RequiredScopes", got: d.RequiredScopes},
		{name: "AnyScopes", got: d.AnyScopes},
		{name: "MissingScopes", got: d.MissingScopes},
		{name: "FailedClaims", got: d.FailedClaims},
	} {
		if len(field.got) != 1 || field.got[0] != "alice" {
			t.Errorf("%s = %q, want [alice]", field.name, field.got)
			continue
		}
		at := uintptr(unsafe.Pointer(unsafe.StringData(field.got[0])))
		if start <= at && at < start+uintptr(len(payload)) {
			t.Errorf("the cached %s points into the token's payload, keeping all %d bytes of it", field.name, len(payload))
		}
	}
}
