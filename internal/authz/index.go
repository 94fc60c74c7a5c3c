package authz

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// buildIndex checks the route tables of one data version and indexes them
// (routes and hosts are data.authz.routes and data.authz.hosts, nil when
// absent), with nothing else of data.authz and no configured checks.
func buildIndex(routes, hosts ast.Value) (*routeIndex, error) {
	return buildTables(tables{routes: routes, hosts: hosts}, checks{})
}

// buildTables checks the route tables of one data version and indexes
// them. A table that is not canonical (see parseKey, validHost), holds a
// rule the policy would not accept, or leaves out what c requires is
// refused with every problem named, so the version is refused as a
// compile error would be.
func buildTables(d tables, c checks) (*routeIndex, error) {
	var errs []string
	x := &routeIndex{}
	declared := parseDeclared(d.headers, &errs)
	x.declared = declared
	for name := range declared {
		x.declaredNames = append(x.declaredNames, name)
	}
	slices.Sort(x.declaredNames)
	if d.routes != nil {
		x.def = buildTable("routes", d.routes, declared, &errs)
		claims, auds := tableConditions("data.authz", d.issuers, d.audiences, &errs)
		if x.def != nil {
			x.def.claims = claims
		}
		c.checkAudiences("routes (the default table: data.authz.audiences)", d.audiences != nil, auds, &errs)
	} else if d.issuers != nil || d.audiences != nil {
		errs = append(errs, "data.authz: issuers or audiences without a default table (routes)")
	}
	if d.hosts != nil {
		obj, ok := d.hosts.(ast.Object)
		if !ok {
			errs = append(errs, fmt.Sprintf("hosts: is %s, want an object of host tables", ast.ValueName(d.hosts)))
		} else {
			x.hosts = make(map[string]*routeTable, obj.Len())
			obj.Foreach(func(k, v *ast.Term) {
				host, _ := k.Value.(ast.String)
				where := fmt.Sprintf("hosts[%v]", k)
				if !validHost(string(host)) {
					errs = append(errs, where+": not a lower-case ASCII host name without port or trailing dot")
					return
				}
				if t := buildHost(where, v.Value, declared, c, &errs); t != nil {
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

func buildHost(where string, v ast.Value, declared map[string]bool, c checks, errs *[]string) *routeTable {
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
	get := func(k string) ast.Value {
		if t := obj.Get(ast.InternedTerm(k)); t != nil {
			return t.Value
		}
		return nil
	}
	claims, auds := tableConditions(where, get("issuers"), get("audiences"), errs)
	c.checkAudiences(where, get("audiences") != nil, auds, errs)
	routes := get("routes")
	if routes == nil {
		*errs = append(*errs, where+": has no routes")
		return nil
	}
	t := buildTable(where+".routes", routes, declared, errs)
	if t != nil {
		t.claims = claims
	}
	return t
}

func buildTable(where string, v ast.Value, declared map[string]bool, errs *[]string) *routeTable {
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
		if !parseRules(at, rk, v.Value, declared, errs) {
			return
		}
		t.add(rk, segs)
	})
	return t
}

func parseRules(where string, k *routeKey, v ast.Value, declared map[string]bool, errs *[]string) bool {
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
		rl, err := parseRule(r.Value, k.params, declared)
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
func parseRule(v ast.Value, params []keyParam, declared map[string]bool) (*rule, error) {
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
		case "headers":
			claims, err := parseRuleHeaders(v.Value, declared)
			if err != nil {
				bad("%v", err)
				return
			}
			rl.claims = append(rl.claims, claims...)
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
