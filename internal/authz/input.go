package authz

import (
	"errors"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Input is what the caller knows about one request. The engine adds what
// the route index matched and hands the policy (policies/schemas/input.json):
//
//	{"method", "host", "path", "routes", "params", "authenticated",
//	 "issuer"?, "scopes"?, "claims"?, "bound": {"params", "claims"}}
//
// authenticated is true exactly when Claims or ClaimSource is set;
// issuer, scopes and claims are present only then.
type Input struct {
	Method string
	// Host is the request's host, lower-case, without port; "" when the
	// face has none. A host with its own table (data.authz.hosts[Host])
	// is matched against it instead of the default table.
	Host   string
	Path   []string       // unescaped segments; a trailing "/" is a final ""
	Issuer string         // the issuer the token was verified against
	Claims map[string]any // verified token payload; nil when unauthenticated
	// ClaimSource, when Claims is nil, supplies the verified payload
	// the first time the decision needs it: a policy that reads no claims
	// never has it decoded. Set it, like Claims, only for a verified token.
	ClaimSource ClaimSource
	Scopes      []string // granted scopes; meaningful only when authenticated
	// StrictHosts refuses (no route matches) a host without its own
	// table once any host table exists: for proxy mode, where the client
	// picks the Host but not the service.
	StrictHosts bool
}

// ClaimSource supplies a verified token's payload on demand
// (*authn.Claims is one). The map must not be modified.
type ClaimSource interface {
	Payload() map[string]any
}

// request is one decision's input before it becomes a value: the caller's
// Input and the keys the route index matched.
type request struct {
	*Input
	keys []*routeKey
}

// inputFields are the input's top-level names, in the order they are
// built, each with its name as a term built once (OPA interns only some
// strings; a fresh term per field and decision costs two allocations).
var inputFields = func() []inputField {
	var fields []inputField
	for _, name := range []string{"method", "host", "path", "routes", "params", "authenticated", "issuer", "scopes", "claims", "bound"} {
		fields = append(fields, inputField{name, ast.StringTerm(name)})
	}
	return fields
}()

type inputField struct {
	name string
	term *ast.Term
}

// value builds the policy input as an AST value directly (no JSON or
// reflection pass but over the claims), with only the fields read says
// the policy reads; nil read means all of them.
func (r *request) value(read map[string]bool) (ast.Value, error) {
	terms := make([][2]*ast.Term, 0, len(inputFields))
	for _, f := range inputFields {
		if read != nil && !read[f.name] {
			continue
		}
		v, err := r.field(f.name, nil)
		if err != nil {
			return nil, err
		}
		if v != nil {
			terms = append(terms, [2]*ast.Term{f.term, ast.NewTerm(v)})
		}
	}
	return ast.NewObject(terms...), nil
}

// authenticated reports whether the caller verified a token.
func (r *request) authenticated() bool { return r.Claims != nil || r.ClaimSource != nil }

// claims returns the verified payload (nil when unauthenticated), taking
// it from the ClaimSource the first time a decision needs it. A source
// with no payload to give is an error: the decision fails, and the caller
// denies, rather than deciding as if the token had no claims.
func (r *request) claims() (map[string]any, error) {
	if r.Claims == nil && r.ClaimSource != nil {
		m := r.ClaimSource.Payload()
		if m == nil {
			return nil, errors.New("claims: the verified token's payload is not available")
		}
		r.Claims = m
	}
	return r.Claims, nil
}

// field is one top-level field of the input, nil when the input has none.
func (r *request) field(name string, buf *termBuf) (ast.Value, error) {
	authenticated := r.authenticated()
	switch name {
	case "method":
		return ast.String(r.Method), nil
	case "host":
		return ast.String(r.Host), nil
	case "path":
		return stringArray(r.Path, buf), nil
	case "routes":
		terms := make([]*ast.Term, len(r.keys))
		for i, k := range r.keys {
			terms[i] = k.term
		}
		return ast.NewArray(terms...), nil
	case "params":
		terms := make([][2]*ast.Term, len(r.keys))
		for i, k := range r.keys {
			terms[i] = [2]*ast.Term{k.term, k.paramsObject(r.Path)}
		}
		return ast.NewObject(terms...), nil
	case "authenticated":
		return ast.Boolean(authenticated), nil
	case "issuer":
		if authenticated {
			return ast.String(r.Issuer), nil
		}
	case "scopes":
		if authenticated {
			return stringArray(r.Scopes, buf), nil
		}
	case "claims":
		if authenticated {
			m, err := r.claims()
			if err != nil {
				return nil, err
			}
			v, err := ast.InterfaceToValue(m)
			if err != nil {
				return nil, fmt.Errorf("claims: %w", err)
			}
			return v, nil
		}
	case "bound":
		return r.bound()
	}
	return nil, nil
}

// emptyBound is the bound of a request whose rules name nothing: the
// common case, shared.
var emptyBound = ast.NewObject(
	[2]*ast.Term{ast.InternedTerm("params"), ast.ObjectTerm()},
	[2]*ast.Term{ast.InternedTerm("claims"), ast.ObjectTerm()},
)

// bound is {"params": {key: {name: segment}}, "claims": {name: value}}:
// only the parameters and claims that the conditions of the rules that
// apply name. A claim the token lacks is left out (a condition on it
// fails).
func (r *request) bound() (ast.Value, error) {
	var params, claims [][2]*ast.Term
	var seen map[string]bool
	for i, k := range r.keys {
		var names [][2]*ast.Term
		rules := make([]*rule, 0, 4)
		if i == 0 && len(k.table.claims) > 0 {
			rules = append(rules, &rule{claims: k.table.claims}) // the host table's own conditions
		}
		for _, m := range methodsFor(r.Method) {
			if rl := k.rules[m]; rl != nil {
				rules = append(rules, rl)
			}
		}
		for _, rl := range rules {
			for _, name := range rl.params {
				if i := k.paramIndex(name); i >= 0 && !containsKey(names, name) {
					names = append(names, [2]*ast.Term{ast.StringTerm(name), ast.StringTerm(r.Path[i])})
				}
			}
			for _, name := range rl.claims {
				if seen[name] || !r.authenticated() {
					continue
				}
				if seen == nil {
					seen = map[string]bool{}
				}
				seen[name] = true
				m, err := r.claims()
				if err != nil {
					return nil, err
				}
				if v, ok := m[name]; ok {
					val, err := ast.InterfaceToValue(v)
					if err != nil {
						return nil, fmt.Errorf("claim %q: %w", name, err)
					}
					claims = append(claims, [2]*ast.Term{ast.StringTerm(name), ast.NewTerm(val)})
				}
			}
		}
		if len(names) > 0 {
			params = append(params, [2]*ast.Term{k.term, ast.ObjectTerm(names...)})
		}
	}
	if len(params) == 0 && len(claims) == 0 {
		return emptyBound, nil
	}
	return ast.NewObject(
		[2]*ast.Term{ast.InternedTerm("params"), ast.ObjectTerm(params...)},
		[2]*ast.Term{ast.InternedTerm("claims"), ast.ObjectTerm(claims...)},
	), nil
}

func containsKey(terms [][2]*ast.Term, name string) bool {
	for _, t := range terms {
		if t[0].Value.Compare(ast.String(name)) == 0 {
			return true
		}
	}
	return false
}

func (k *routeKey) paramIndex(name string) int {
	for _, p := range k.params {
		if p.name == name {
			return p.index
		}
	}
	return -1
}

// lookup returns the value at path p of r's input, nil when there is
// none, converting only the claim it reaches. buf may be nil.
func (r *request) lookup(p []string, buf *termBuf) (ast.Value, error) {
	if len(p) == 0 {
		return r.value(nil)
	}
	if p[0] == "claims" && len(p) > 1 {
		if !r.authenticated() {
			return nil, nil
		}
		m, err := r.claims()
		if err != nil {
			return nil, err
		}
		return claimAt(m, p[1:])
	}
	v, err := r.field(p[0], buf)
	if err != nil || v == nil || len(p) == 1 {
		return v, err
	}
	ref := make(ast.Ref, len(p)-1)
	for i, s := range p[1:] {
		ref[i] = ast.StringTerm(s)
	}
	if v, err = v.Find(ref); err != nil {
		return nil, nil // undefined for the policy too
	}
	return v, nil
}

func claimAt(claims map[string]any, p []string) (ast.Value, error) {
	var v any = claims
	for len(p) > 0 {
		m, ok := v.(map[string]any)
		if !ok {
			break
		}
		if v, ok = m[p[0]]; !ok {
			return nil, nil
		}
		p = p[1:]
	}
	val, err := ast.InterfaceToValue(v)
	if err != nil || len(p) == 0 {
		return val, err
	}
	ref := make(ast.Ref, len(p))
	for i, s := range p {
		ref[i] = ast.StringTerm(s)
	}
	if val, err = val.Find(ref); err != nil {
		return nil, nil // undefined for the policy too
	}
	return val, nil
}

// termBuf hands out terms from one allocation: a key is built for every
// decision, and one allocation per term was most of a cache hit's cost.
type termBuf []ast.Term

func (b *termBuf) term(v ast.Value) *ast.Term {
	if b == nil || len(*b) == cap(*b) {
		return ast.NewTerm(v)
	}
	*b = append(*b, ast.Term{Value: v})
	return &(*b)[len(*b)-1]
}

func stringArray(ss []string, buf *termBuf) *ast.Array {
	terms := make([]*ast.Term, len(ss))
	for i, s := range ss {
		terms[i] = buf.term(ast.String(s))
	}
	return ast.NewArray(terms...)
}
