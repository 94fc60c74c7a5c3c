package authz

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// extensionPoints are the rules of package authz that the author's own
// modules may add to (docs/policy.md): every module's bodies join.
var extensionPoints = []string{"custom_denials", "custom_headers"}

// authzPackage is data.authz, the package the decision lives in.
var authzPackage = ast.MustParseRef("data.authz")

// checkRuleOwners refuses a version in which a rule of package authz is
// defined by more than one module, the extension points aside. Rego joins
// the bodies of every rule with one name and arity across a package's
// modules, so a helper of the author's own named like a helper of the
// shipped policy (an _any_of of their own) would add a body to the shipped
// one and could turn a denial into an allow. A package below authz is the
// author's own (a rule there that clashes with one of package authz is a
// compile error already). name gives a module's file name for the message.
func checkRuleOwners(modules map[string]*ast.Module, name func(id string) string) error {
	type owner struct {
		path ast.Ref
		id   string
	}
	var owners []owner
	seenOwner := map[string]bool{}
	for _, id := range slices.Sorted(maps.Keys(modules)) {
		m := modules[id]
		if m == nil || m.Package == nil || !m.Package.Path.Equal(authzPackage) {
			continue
		}
		for _, r := range m.Rules {
			path := m.Package.Path.Extend(r.Head.Ref().GroundPrefix())
			if len(path) > len(authzPackage) && slices.ContainsFunc(extensionPoints, func(x string) bool {
				return path[len(authzPackage)].Equal(ast.StringTerm(x))
			}) {
				continue
			}
			if k := id + "\x00" + path.String(); !seenOwner[k] {
				seenOwner[k] = true
				owners = append(owners, owner{path, id})
			}
		}
	}
	var errs []string
	seen := map[string]bool{}
	for i, a := range owners {
		for _, b := range owners[i+1:] {
			if a.id == b.id || !(a.path.HasPrefix(b.path) || b.path.HasPrefix(a.path)) {
				continue
			}
			short := a.path
			if len(b.path) < len(short) {
				short = b.path
			}
			files := []string{name(a.id), name(b.id)}
			slices.Sort(files)
			msg := fmt.Sprintf("rule %v is defined in %s and in %s", short, files[0], files[1])
			if !seen[msg] {
				seen[msg] = true
				errs = append(errs, msg)
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("invalid policy: a rule of package authz defined in two files would join their bodies; only %s may be extended from another file (rename the rule):\n%s",
		strings.Join(extensionPoints, " and "), strings.Join(errs, "\n"))
}
