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

// hostKeys are what a host table may say besides its routes.
var hostKeys = map[string]bool{"routes": true}

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
	routes := obj.Get(ast.InternedTerm("routes"))
	if routes == nil {
		*errs = append(*errs, where+": has no routes")
		return nil
	}
	return buildTable(where+".routes", routes.Value, errs)
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

// Rule keys and the access values a rule may have; the policy accepts
// exactly these (its _valid_rule).
var (
	ruleKeys     = map[string]bool{"access": true, "scopes": true}
	accessValues = map[string]bool{"public": true, "authenticated": true}
)

func parseRule(v ast.Value, params []keyParam) (*rule, error) {
	obj, ok := v.(ast.Object)
	if !ok {
		return nil, fmt.Errorf("a rule must be an object, not %s", ast.ValueName(v))
	}
	var errs []error
	for _, k := range obj.Keys() {
		if s, ok := k.Value.(ast.String); !ok || !ruleKeys[string(s)] {
			errs = append(errs, fmt.Errorf("unknown rule key %v", k))
		}
	}
	if a, ok := stringAt(obj, "access"); !ok || !accessValues[a] {
		errs = append(errs, errors.New(`"access" must be "public" or "authenticated"`))
	}
	if s := obj.Get(ast.InternedTerm("scopes")); s != nil && !stringArrayValue(s.Value) {
		errs = append(errs, errors.New(`"scopes" must be an array of strings`))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &rule{}, nil
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
