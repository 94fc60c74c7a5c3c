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
	allowed, ok := valueAt(m, "allowed").(ast.Boolean)
	if !ok {
		return Decision{}, errors.New(`decision has no boolean "allowed"`)
	}
	reason, _ := valueAt(m, "reason").(ast.String)
	d := Decision{Allowed: bool(allowed), Reason: string(reason)}
	var err error
	if d.RequiredScopes, err = stringList(m, "required_scopes"); err != nil {
		return Decision{}, err
	}
	if d.MissingScopes, err = stringList(m, "missing_scopes"); err != nil {
		return Decision{}, err
	}
	if d.AnyScopes, err = stringList(m, "any_scopes"); err != nil {
		return Decision{}, err
	}
	if d.FailedClaims, err = stringList(m, "failed_claims"); err != nil {
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

func valueAt(m ast.Object, key string) ast.Value {
	if t := m.Get(ast.InternedTerm(key)); t != nil {
		return t.Value
	}
	return nil
}

// stringList reads an array (or set) of strings, sorted; absent or null
// is empty.
func stringList(m ast.Object, key string) ([]string, error) {
	var out []string
	bad := false
	add := func(t *ast.Term) {
		if s, ok := t.Value.(ast.String); ok {
			out = append(out, string(s))
		} else {
			bad = true
		}
	}
	switch v := valueAt(m, key).(type) {
	case nil, ast.Null:
		return nil, nil
	case *ast.Array:
		if v.Len() == 0 {
			return nil, nil
		}
		out = make([]string, 0, v.Len())
		v.Foreach(add)
	case ast.Set:
		v.Foreach(add)
	default:
		return nil, fmt.Errorf("decision %q is %s, want an array", key, ast.ValueName(v))
	}
	if bad {
		return nil, fmt.Errorf("decision %q holds a non-string", key)
	}
	slices.Sort(out)
	return out, nil
}
