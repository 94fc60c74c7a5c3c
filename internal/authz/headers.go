package authz

import (
	"errors"
	"fmt"
	"net/textproto"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Headers a policy adds to an allow (docs/policy.md, "Headers"). The policy
// declares every name it may set in data.authz.headers; a name must begin
// with X-Auth- and must not be one of the identity headers the gate sets
// itself. The declarations are checked at activation with the route
// tables, and every decision is held to them: a face removes every
// declared name an answer does not set, so a client's copy never reaches
// the upstream, and a name the policy did not declare turns the allow into
// an error (the gate denies).

// headerPrefix begins every name a policy may set.
const headerPrefix = "X-Auth-"

// reservedHeaders are the identity headers the gate sets on every allow.
var reservedHeaders = map[string]bool{"X-Auth-Subject": true, "X-Auth-Scopes": true, "X-Auth-Issuer": true, "X-Decision-Id": true}

// CanonicalHeader is the form in which header names are compared and sent.
func CanonicalHeader(name string) string { return textproto.CanonicalMIMEHeaderKey(name) }

// headerNameError says why a policy may not set name, nil when it may.
func headerNameError(name string) error {
	if !validToken(name) {
		return fmt.Errorf("header %q is not a valid header name", name)
	}
	if strings.Contains(name, "_") {
		return fmt.Errorf("header %q contains \"_\" (CGI-style servers read it as \"-\")", name)
	}
	c := CanonicalHeader(name)
	if !strings.HasPrefix(c, headerPrefix) || len(c) == len(headerPrefix) {
		return fmt.Errorf("header %q does not begin with %s", name, headerPrefix)
	}
	if reservedHeaders[c] {
		return fmt.Errorf("header %q is an identity header the gate sets itself", name)
	}
	return nil
}

// validToken: a non-empty RFC 9110 token.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// parseDeclared checks data.authz.headers (nil: none declared) and returns
// the declared names by canonical name.
func parseDeclared(v ast.Value, errs *[]string) map[string]bool {
	if v == nil {
		return nil
	}
	a, ok := v.(*ast.Array)
	if !ok || !stringArrayValue(v) {
		*errs = append(*errs, "headers: must be an array of header names")
		return nil
	}
	declared := make(map[string]bool, a.Len())
	for i := range a.Len() {
		name := string(a.Elem(i).Value.(ast.String))
		if err := headerNameError(name); err != nil {
			*errs = append(*errs, "headers: "+err.Error())
			continue
		}
		declared[CanonicalHeader(name)] = true
	}
	return declared
}

// parseRuleHeaders checks a rule's "headers" ({name: {"claim": claim}})
// and returns the claims it copies: they are bound, so the decision
// cache keys on them.
func parseRuleHeaders(v ast.Value, declared map[string]bool) ([]string, error) {
	obj, ok := v.(ast.Object)
	if !ok || obj.Len() == 0 {
		return nil, errors.New(`"headers" must be a non-empty object of header names to {"claim": name}`)
	}
	var claims []string
	var errs []error
	obj.Foreach(func(k, spec *ast.Term) {
		name, _ := k.Value.(ast.String)
		if !declared[CanonicalHeader(string(name))] {
			errs = append(errs, fmt.Errorf("header %v is not declared in data.authz.headers", k))
			return
		}
		s, ok := spec.Value.(ast.Object)
		claim, isString := "", false
		if ok && s.Len() == 1 {
			claim, isString = stringAt(s, "claim")
		}
		if !isString || claim == "" {
			errs = append(errs, fmt.Errorf(`header %v: want {"claim": name}`, k))
			return
		}
		claims = append(claims, claim)
	})
	return claims, errors.Join(errs...)
}

// decodeHeaders reads the decision's "headers" (absent or null: none),
// an object of header names to strings, by canonical name.
func decodeHeaders(m ast.Object) (map[string]string, error) {
	var out map[string]string
	switch v := valueAt(m, keys.headers).(type) {
	case nil, ast.Null:
		return nil, nil
	case ast.Object:
		if v.Len() == 0 {
			return nil, nil
		}
		out = make(map[string]string, v.Len())
		var err error
		v.Foreach(func(k, val *ast.Term) {
			name, ok1 := k.Value.(ast.String)
			s, ok2 := val.Value.(ast.String)
			c := CanonicalHeader(string(name))
			switch prev, dup := out[c]; {
			case !ok1 || !ok2:
				err = fmt.Errorf(`decision "headers" %v is not a string`, k)
			case dup && prev != string(s):
				err = fmt.Errorf(`decision "headers" sets %s twice`, c)
			default:
				out[c] = string(s)
			}
		})
		return out, err
	default:
		return nil, fmt.Errorf(`decision "headers" is %s, want an object`, ast.ValueName(v))
	}
}

// checkHeaders refuses an allow that sets a header the policy version did
// not declare: the gate turns it into a denial (logged).
func (d *Decision) checkHeaders(declared map[string]bool) error {
	if !d.Allowed {
		d.Headers = nil // a denial sends no identity
		return nil
	}
	var bad []string
	for name := range d.Headers {
		if !declared[name] {
			bad = append(bad, name)
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		return fmt.Errorf("decision sets undeclared headers %s (declare them in data.authz.headers)", strings.Join(bad, ", "))
	}
	return nil
}
