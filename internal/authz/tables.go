package authz

import (
	"fmt"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// What data.authz holds besides the route tables' keys, and what the
// configuration requires of them: a table's own issuers and audiences, and
// with several configured audiences, that every table names its own.

// tables are the parts of data.authz the engine reads, nil when absent:
// the default table (routes) and its own conditions (issuers, audiences),
// the host tables, and the headers the policy declares (headers.go).
type tables struct {
	routes, issuers, audiences, hosts, headers ast.Value
}

// tablesOf picks the parts the engine reads out of data.authz.
func tablesOf(authz ast.Value) tables {
	obj, ok := authz.(ast.Object)
	if !ok {
		return tables{}
	}
	get := func(k string) ast.Value {
		if t := obj.Get(ast.InternedTerm(k)); t != nil {
			return t.Value
		}
		return nil
	}
	return tables{routes: get("routes"), issuers: get("issuers"), audiences: get("audiences"), hosts: get("hosts"), headers: get("headers")}
}

// checks are what the configuration adds to the data's own rules.
type checks struct {
	// audiences are every configured audience. With more than one, every
	// table must name the audiences it accepts: a token for service A
	// must never pass at service B behind the same gate.
	audiences []string
	// mask is the rule OPA masks every decision-log event with
	// (decisionlog.go), nil when no decision is logged: with it set, a
	// version that does not define it is refused.
	mask ast.Ref
}

// checkAudiences refuses a table that does not name its audiences, or names
// one that is not configured, when several audiences are configured.
func (c checks) checkAudiences(where string, named bool, auds []string, errs *[]string) {
	configured := slices.Compact(slices.Sorted(slices.Values(c.audiences)))
	if len(configured) < 2 {
		return
	}
	if !named {
		*errs = append(*errs, fmt.Sprintf("%s: several audiences are configured (%s): the table must name the audiences it accepts", where, strings.Join(configured, ", ")))
		return
	}
	for _, a := range auds {
		if !slices.Contains(configured, a) {
			*errs = append(*errs, fmt.Sprintf("%s: audience %q is not configured (%s)", where, a, strings.Join(configured, ", ")))
		}
	}
}

// tableConditions checks a table's own issuers and audiences and returns
// the claims they bind and the audiences named.
func tableConditions(where string, issuers, audiences ast.Value, errs *[]string) (claims, auds []string) {
	for _, kv := range []struct {
		key, claim string
		v          ast.Value
	}{{"issuers", "iss", issuers}, {"audiences", "aud", audiences}} {
		if kv.v == nil {
			continue
		}
		if !stringArrayValue(kv.v) || kv.v.(*ast.Array).Len() == 0 {
			*errs = append(*errs, fmt.Sprintf("%s: %q must be a non-empty array of strings", where, kv.key))
			continue
		}
		claims = append(claims, kv.claim)
		if kv.key == "audiences" {
			a := kv.v.(*ast.Array)
			for i := range a.Len() {
				auds = append(auds, string(a.Elem(i).Value.(ast.String)))
			}
		}
	}
	return claims, auds
}
