package authz

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Where the route tables live in data.
var (
	routesPath = []string{"authz", "routes"}
	hostsPath  = []string{"authz", "hosts"}
)

// buildIndex checks the route tables of one data version and indexes them.
// routes and hosts are data.authz.routes and data.authz.hosts, nil when
// absent. A table that is not canonical (see parseKey, validHost) or holds
// a rule the policy would not accept is refused with every problem named,
// so the version is refused as a compile error would be.
func buildIndex(routes, hosts ast.Value) (*routeIndex, error) {
	var errs []string
	x := &routeIndex{}
	if routes != nil {
		x.def = buildTable("routes", routes, &errs)
	}
	if hosts != nil {
		obj, ok := hosts.(ast.Object)
		if !ok {
			errs = append(errs, fmt.Sprintf("hosts: is %s, want an object of host tables", ast.ValueName(hosts)))
		} else {
			x.hosts = make(map[string]*routeTable, obj.Len())
			obj.Foreach(func(k, v *ast.Term) {
				host, _ := k.Value.(ast.String)
				where := fmt.Sprintf("hosts[%v]", k)
				if !validHost(string(host)) {
					errs = append(errs, where+": not a lower-case ASCII host name without port or trailing dot")
					return
				}
				if t := buildHost(where, v.Value, &errs); t != nil {
					x.hosts[string(host)] = t
				}
			})
		}
	}
	if len(errs) > 0 {
		slices.Sort(errs)
		return nil, fmt.Errorf("invalid route table:\n%s", strings.Join(errs, "\n"))
	}
	return x, nil
}

// hostKeys are what a host table may say besides its routes: the issuers
// and audiences every token on that host must match (binding iss, aud).
var hostKeys = map[string]bool{"routes": true, "issuers": true, "audiences": true}

func buildHost(where string, v ast.Value, errs *[]string) *routeTable {
	obj, ok := v.(ast.Object)
	if !ok {
		*errs = append(*errs, fmt.Sprintf("%s: is %s, want an object with routes", where, ast.ValueName(v)))
		return nil
	}
	for _, k := range obj.Keys() {
		if s, ok := k.Value.(ast.String); !ok || !hostKeys[string(s)] {
			*errs = append(*errs, fmt.Sprintf("%s: unknown key %v", where, k))
		}
	}
	var claims []string
	for _, k := range []string{"issuers", "audiences"} {
		v := obj.Get(ast.InternedTerm(k))
		if v == nil {
			continue
		}
		if !stringArrayValue(v.Value) || v.Value.(*ast.Array).Len() == 0 {
			*errs = append(*errs, fmt.Sprintf("%s: %q must be a non-empty array of strings", where, k))
		}
		claims = append(claims, map[string]string{"issuers": "iss", "audiences": "aud"}[k])
	}
	routes := obj.Get(ast.InternedTerm("routes"))
	if routes == nil {
		*errs = append(*errs, where+": has no routes")
		return nil
	}
	t := buildTable(where+".routes", routes.Value, errs)
	if t != nil {
		t.claims = claims
	}
	return t
}

func buildTable(where string, v ast.Value, errs *[]string) *routeTable {
	obj, ok := v.(ast.Object)
	if !ok {
		*errs = append(*errs, fmt.Sprintf("%s: is %s, want an object of route keys", where, ast.ValueName(v)))
		return nil
	}
	t := &routeTable{}
	obj.Foreach(func(k, v *ast.Term) {
		key, ok := k.Value.(ast.String)
		at := fmt.Sprintf("%s[%v]", where, k)
		if !ok {
			*errs = append(*errs, at+": a route key must be a string")
			return
		}
		segs, params, err := parseKey(string(key))
		if err != nil {
			*errs = append(*errs, fmt.Sprintf("%s: route key %s", at, err))
			return
		}
		rk := &routeKey{key: string(key), term: ast.StringTerm(string(key)), params: params}
		if !parseRules(at, rk, v.Value, errs) {
			return
		}
		t.add(rk, segs)
	})
	return t
}

func parseRules(where string, k *routeKey, v ast.Value, errs *[]string) bool {
	obj, ok := v.(ast.Object)
	if !ok || obj.Len() == 0 {
		*errs = append(*errs, where+": want an object of methods to rules")
		return false
	}
	ok = true
	k.rules = make(map[string]*rule, obj.Len())
	obj.Foreach(func(m, r *ast.Term) {
		method, _ := m.Value.(ast.String)
		at := fmt.Sprintf("%s[%v]", where, m)
		if !validMethod(string(method)) {
			*errs = append(*errs, at+": a method must be \"*\" or an upper-case HTTP method")
			ok = false
			return
		}
		rl, err := parseRule(r.Value, k.params)
		if err != nil {
			*errs = append(*errs, fmt.Sprintf("%s: %v", at, err))
			ok = false
			return
		}
		k.rules[string(method)] = rl
	})
	return ok
}

// rule is one validated rule; Go needs only what it binds.
type rule struct {
	params []string // path parameters its conditions name
	claims []string // claims its conditions name
}

// What a rule may say; the policy accepts exactly these (its _valid_rule),
// and docs/policy.md describes them.
var (
	accessValues = map[string]bool{"public": true, "authenticated": true}
	operators    = map[string]bool{"equals": true, "contains_any": true, "equals_param": true}
)

// parseRule checks one rule and reads what its conditions bind: the path
// parameters (equals_param, each one of the key's) and the claims they
// name (issuers binds iss, audiences aud).
func parseRule(v ast.Value, params []keyParam) (*rule, error) {
	obj, ok := v.(ast.Object)
	if !ok {
		return nil, fmt.Errorf("a rule must be an object, not %s", ast.ValueName(v))
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	rl := &rule{}
	if a, ok := stringAt(obj, "access"); !ok || !accessValues[a] {
		bad(`"access" must be "public" or "authenticated"`)
	}
	obj.Foreach(func(k, v *ast.Term) {
		key, _ := k.Value.(ast.String)
		switch key {
		case "access":
		case "scopes":
			if !stringArrayValue(v.Value) {
				bad(`"scopes" must be an array of strings`)
			}
		case "any_scopes", "issuers", "audiences":
			if !stringArrayValue(v.Value) || v.Value.(*ast.Array).Len() == 0 {
				bad("%v must be a non-empty array of strings", k)
				return
			}
			if key == "issuers" {
				rl.claims = append(rl.claims, "iss")
			} else if key == "audiences" {
				rl.claims = append(rl.claims, "aud")
			}
		case "claims":
			conds, ok := v.Value.(ast.Object)
			if !ok {
				bad(`"claims" must be an object of claim names to conditions`)
				return
			}
			conds.Foreach(func(name, c *ast.Term) {
				claim, _ := name.Value.(ast.String)
				param, err := parseCondition(c.Value, params)
				if err != nil {
					bad("claim %v: %v", name, err)
					return
				}
				rl.claims = append(rl.claims, string(claim))
				if param != "" {
					rl.params = append(rl.params, param)
				}
			})
		default:
			bad("unknown rule key %v", k)
		}
	})
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	slices.Sort(rl.claims)
	rl.claims = slices.Compact(rl.claims)
	return rl, nil
}

// parseCondition checks one claim condition and returns the parameter it
// binds, if any.
func parseCondition(v ast.Value, params []keyParam) (string, error) {
	obj, ok := v.(ast.Object)
	if !ok {
		return "", errors.New("a condition must be an object")
	}
	var ops []string
	var param string
	var err error
	obj.Foreach(func(k, v *ast.Term) {
		op, _ := k.Value.(ast.String)
		switch {
		case op == "unless_scopes":
			if !stringArrayValue(v.Value) || v.Value.(*ast.Array).Len() == 0 {
				err = errors.New(`"unless_scopes" must be a non-empty array of strings`)
			}
		case !operators[string(op)]:
			err = fmt.Errorf("unknown operator %v (want equals, contains_any or equals_param)", k)
		case op == "contains_any":
			ops = append(ops, string(op))
			if a, ok := v.Value.(*ast.Array); !ok || a.Len() == 0 {
				err = errors.New(`"contains_any" must be a non-empty array`)
			}
		case op == "equals_param":
			ops = append(ops, string(op))
			s, ok := v.Value.(ast.String)
			if !ok || !slices.ContainsFunc(params, func(p keyParam) bool { return p.name == string(s) }) {
				err = fmt.Errorf(`"equals_param" %v is not a {parameter} of the route key`, v)
			}
			param = string(s)
		default:
			ops = append(ops, string(op))
		}
	})
	if err != nil {
		return "", err
	}
	if len(ops) != 1 {
		return "", errors.New("a condition must have exactly one of equals, contains_any, equals_param")
	}
	return param, nil
}

func stringArrayValue(v ast.Value) bool {
	a, ok := v.(*ast.Array)
	if !ok {
		return false
	}
	for i := range a.Len() {
		if _, ok := a.Elem(i).Value.(ast.String); !ok {
			return false
		}
	}
	return true
}

// stringAt returns obj[key] when it is a string.
func stringAt(obj ast.Object, key string) (string, bool) {
	t := obj.Get(ast.InternedTerm(key))
	if t == nil {
		return "", false
	}
	s, ok := t.Value.(ast.String)
	return string(s), ok
}
