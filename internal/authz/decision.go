package authz

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Decision is the policy's answer.
type Decision struct {
	ID      string // decision id, also in the decision log
	Allowed bool
	Reason  string // one of the Reason* constants for the shipped policy
	// RequiredScopes are the scopes the rules that apply require, all of
	// them; AnyScopes the union of their any-of lists (one of each rule's
	// list is needed). MissingScopes are the required scopes the token
	// lacks plus the whole list of every any-of rule it meets none of.
	// A challenge's scope parameter is RequiredScopes and AnyScopes
	// together: a superset of what one token needs.
	RequiredScopes []string
	AnyScopes      []string
	MissingScopes  []string
	// FailedClaims names the claims whose conditions failed (never the
	// values they want), for claim_mismatch.
	FailedClaims []string
	// Routes are the route keys that matched (input.routes), sorted.
	Routes []string
	// Headers are the headers the policy adds to an allow, by canonical
	// name, each declared in data.authz.headers (nil on a denial).
	Headers map[string]string
	// DeclaredHeaders are every name the policy version declared, sorted:
	// a face removes those an answer does not set. Shared between
	// decisions: read only.
	DeclaredHeaders []string
}

// decodeDecision reads the fields Go relies on; anything ill-typed is an
// error (the caller denies).
func decodeDecision(result ast.Value) (Decision, error) {
	m, ok := result.(ast.Object)
	if !ok {
		return Decision{}, fmt.Errorf("decision is %s, want an object", ast.ValueName(result))
	}
	allowed, ok := valueAt(m, keys.allowed).(ast.Boolean)
	if !ok {
		return Decision{}, errors.New(`decision has no boolean "allowed"`)
	}
	reason, _ := valueAt(m, keys.reason).(ast.String)
	d := Decision{Allowed: bool(allowed), Reason: string(reason)}
	var err error
	if d.RequiredScopes, err = stringList(m, keys.requiredScopes); err != nil {
		return Decision{}, err
	}
	if d.MissingScopes, err = stringList(m, keys.missingScopes); err != nil {
		return Decision{}, err
	}
	if d.AnyScopes, err = stringList(m, keys.anyScopes); err != nil {
		return Decision{}, err
	}
	if d.FailedClaims, err = stringList(m, keys.failedClaims); err != nil {
		return Decision{}, err
	}
	if d.Headers, err = decodeHeaders(m); err != nil {
		return Decision{}, err
	}
	return d, nil
}

// cloneLists gives d its own copies of its lists: a cached decision's
// are shared.
func (d *Decision) cloneLists() {
	d.RequiredScopes, d.AnyScopes = slices.Clone(d.RequiredScopes), slices.Clone(d.AnyScopes)
	d.MissingScopes, d.FailedClaims = slices.Clone(d.MissingScopes), slices.Clone(d.FailedClaims)
	d.Headers = maps.Clone(d.Headers)
}

// keys are the decision's field names as terms, built once: OPA interns
// only some strings, and a lookup by a fresh term allocates it.
var keys = struct {
	allowed, reason, requiredScopes, anyScopes, missingScopes, failedClaims, headers *ast.Term
}{
	ast.StringTerm("allowed"), ast.StringTerm("reason"), ast.StringTerm("required_scopes"),
	ast.StringTerm("any_scopes"), ast.StringTerm("missing_scopes"), ast.StringTerm("failed_claims"),
	ast.StringTerm("headers"),
}

func valueAt(m ast.Object, key *ast.Term) ast.Value {
	if t := m.Get(key); t != nil {
		return t.Value
	}
	return nil
}

// stringList reads an array (or set) of strings, sorted; absent or null
// is empty.
func stringList(m ast.Object, key *ast.Term) ([]string, error) {
	var elem func(int) *ast.Term
	var n int
	switch v := valueAt(m, key).(type) {
	case nil, ast.Null:
		return nil, nil
	case *ast.Array:
		elem, n = v.Elem, v.Len()
	case ast.Set:
		terms := v.Slice()
		elem, n = func(i int) *ast.Term { return terms[i] }, len(terms)
	default:
		return nil, fmt.Errorf("decision %v is %s, want an array", key, ast.ValueName(v))
	}
	if n == 0 {
		return nil, nil
	}
	out := make([]string, n)
	for i := range n {
		s, ok := elem(i).Value.(ast.String)
		if !ok {
			return nil, fmt.Errorf("decision %v holds a non-string", key)
		}
		out[i] = string(s)
	}
	slices.Sort(out)
	return out, nil
}
