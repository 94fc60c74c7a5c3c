package authz

import (
	"context"
	"fmt"
	"slices"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"
)

// Scopes lists every scope the active policy's route data names
// (data.authz.routes and data.authz.hosts[host].routes, every method's
// "scopes"), sorted and without duplicates: the RFC 9728
// scopes_supported. It reads the data the active policy reads, so every
// activation or data write shows at once; ErrNotReady before a policy is
// active. It walks the route table: for tools and the discovery
// document, not for every request.
func (e *Engine) Scopes(ctx context.Context) ([]string, error) {
	select {
	case <-e.ready:
	default:
		return nil, ErrNotReady
	}
	var scopes []string
	err := storage.Txn(ctx, e.manager.Store, storage.TransactionParams{}, func(txn storage.Transaction) error {
		data, err := e.manager.Store.Read(ctx, txn, storage.MustParsePath("/authz"))
		if storage.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		authz, err := astValue(data)
		if err != nil {
			return err
		}
		scopes = routeScopes(authz)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read route scopes: %w", err)
	}
	return scopes, nil
}

func astValue(v any) (ast.Value, error) {
	if x, ok := v.(ast.Value); ok {
		return x, nil
	}
	return ast.InterfaceToValue(v)
}

// routeScopes collects the scopes of data.authz: routes[key][method].scopes
// and hosts[host].routes[key][method].scopes. Anything of another shape
// names no scope (activation refuses such tables; this stays defensive).
func routeScopes(authz ast.Value) []string {
	set := map[string]struct{}{}
	obj, ok := authz.(ast.Object)
	if !ok {
		return nil
	}
	tables := []ast.Value{}
	if t := obj.Get(ast.StringTerm("routes")); t != nil {
		tables = append(tables, t.Value)
	}
	if hosts, ok := valueAt(obj, ast.StringTerm("hosts")).(ast.Object); ok {
		hosts.Foreach(func(_, host *ast.Term) {
			if h, ok := host.Value.(ast.Object); ok {
				if t := h.Get(ast.StringTerm("routes")); t != nil {
					tables = append(tables, t.Value)
				}
			}
		})
	}
	for _, table := range tables {
		routes, ok := table.(ast.Object)
		if !ok {
			continue
		}
		routes.Foreach(func(_, methods *ast.Term) {
			m, ok := methods.Value.(ast.Object)
			if !ok {
				return
			}
			m.Foreach(func(_, rule *ast.Term) {
				r, ok := rule.Value.(ast.Object)
				if !ok {
					return
				}
				list, ok := valueAt(r, ast.StringTerm("scopes")).(*ast.Array)
				if !ok {
					return
				}
				list.Foreach(func(s *ast.Term) {
					if str, ok := s.Value.(ast.String); ok && str != "" {
						set[string(str)] = struct{}{}
					}
				})
			})
		})
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}
