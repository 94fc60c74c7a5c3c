package authz

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// The route index: Go matches the request path against the route tables
// in data (data.authz.routes, and data.authz.hosts[H].routes per host) and
// hands the policy the matching keys, so the policy looks rules up by key
// and never scans a table. The index is built from the data of one store
// version, inside the commit that makes it current (store.go).
//
// A key is "/" followed by segments separated by "/": a literal segment
// matches itself, "{name}" matches any one non-empty segment, and a final
// "*" matches the rest (one or more segments, the first non-empty). A
// trailing "/" is a literal final empty segment ("/orders/{id}/"); "/" is
// the root.

// routeIndex is every route table of one data version.
type routeIndex struct {
	def   *routeTable
	hosts map[string]*routeTable // hosts with their own table
	// declared are the headers the policy may set (data.authz.headers),
	// by canonical name (headers.go).
	declared      map[string]bool
	declaredNames []string // the same, sorted; shared by every decision
}

// routeTable is one table as a tree of segments.
type routeTable struct {
	root   routeNode
	keys   int
	claims []string // claims the table's own conditions bind (a host's iss, aud)
}

type routeNode struct {
	literal map[string]*routeNode
	param   *routeNode
	exact   []*routeKey // keys ending here
	rest    []*routeKey // keys ending here with a final "*"
}

// routeKey is one key of a table and its rules by method.
type routeKey struct {
	key    string
	table  *routeTable      // the table the key belongs to
	term   *ast.Term        // the key as a string term, shared by every input
	params []keyParam       // its placeholders, in order
	rules  map[string]*rule // by method ("*" for any)
}

type keyParam struct {
	name  string
	index int // segment index
}

// match returns the keys of the table for host whose pattern matches path
// and which have a rule for method (HEAD also takes GET's rules; "*"
// applies to every method), sorted by key.
func (x *routeIndex) match(host, method string, path []string, strictHosts bool) []*routeKey {
	t := x.def
	if ht, ok := x.hosts[host]; ok {
		t = ht
	} else if strictHosts && len(x.hosts) > 0 {
		return nil
	}
	if t == nil || !wellFormed(path) {
		return nil
	}
	var out []*routeKey
	t.root.walk(path, 0, func(k *routeKey) {
		if k.applies(method) {
			out = append(out, k)
		}
	})
	if len(out) > 1 {
		slices.SortFunc(out, func(a, b *routeKey) int { return strings.Compare(a.key, b.key) })
		out = slices.CompactFunc(out, func(a, b *routeKey) bool { return a == b })
	}
	return out
}

// wellFormed refuses what could make a key match a path the service reads
// differently: a "/" inside a segment, "." and "..", an empty segment
// other than a final one. The faces refuse these paths before deciding;
// this keeps the engine safe alone.
func wellFormed(path []string) bool {
	for i, s := range path {
		if s == "" && i != len(path)-1 || s == "." || s == ".." || strings.IndexByte(s, '/') >= 0 {
			return false
		}
	}
	return true
}

func (n *routeNode) walk(path []string, i int, found func(*routeKey)) {
	if i < len(path) && path[i] != "" {
		for _, k := range n.rest {
			found(k)
		}
	}
	if i == len(path) {
		for _, k := range n.exact {
			found(k)
		}
		return
	}
	if c := n.literal[path[i]]; c != nil {
		c.walk(path, i+1, found)
	}
	if n.param != nil && path[i] != "" {
		n.param.walk(path, i+1, found)
	}
}

func (k *routeKey) applies(method string) bool {
	if k.rules[method] != nil || k.rules["*"] != nil {
		return true
	}
	return method == "HEAD" && k.rules["GET"] != nil
}

// methods returns the methods whose rules apply to method, in the order
// the policy reads them.
func methodsFor(method string) []string {
	if method == "HEAD" {
		return []string{"HEAD", "GET", "*"}
	}
	return []string{method, "*"}
}

// params returns the key's parameters bound to the segments of path.
func (k *routeKey) paramsObject(path []string) *ast.Term {
	terms := make([][2]*ast.Term, len(k.params))
	for i, p := range k.params {
		terms[i] = [2]*ast.Term{ast.StringTerm(p.name), ast.StringTerm(path[p.index])}
	}
	return ast.ObjectTerm(terms...)
}

// parseKey checks that key is canonical and returns its segments.
func parseKey(key string) ([]string, []keyParam, error) {
	if !strings.HasPrefix(key, "/") {
		return nil, nil, errors.New(`does not start with "/"`)
	}
	if key == "/" {
		return []string{}, nil, nil
	}
	segs := strings.Split(key[1:], "/")
	var params []keyParam
	for i, s := range segs {
		last := i == len(segs)-1
		switch {
		case s == "" && !last:
			return nil, nil, errors.New("has an empty segment")
		case s == "." || s == "..":
			return nil, nil, errors.New("has a dot segment")
		case s == "*" && !last:
			return nil, nil, errors.New(`has a "*" that is not the last segment`)
		case s == "*":
		case strings.Contains(s, "*"):
			return nil, nil, errors.New(`has a "*" inside a segment`)
		case hasEscape(s):
			// Paths are matched unescaped: "/my%20docs" would never match
			// the request for "/my docs" it means. A "%" on its own can
			// match (PATH_ALLOW_PERCENT25 lets "/50%25" through as "50%").
			return nil, nil, errors.New(`has a %XX escape: route keys are written unescaped ("/my docs", not "/my%20docs")`)
		case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") && paramName(s[1:len(s)-1]):
			name := s[1 : len(s)-1]
			if slices.ContainsFunc(params, func(p keyParam) bool { return p.name == name }) {
				return nil, nil, fmt.Errorf("names the parameter {%s} twice", name)
			}
			params = append(params, keyParam{name: name, index: i})
		case strings.ContainsAny(s, "{}"):
			return nil, nil, errors.New(`has a "{" or "}" that is not one whole {name} segment`)
		}
	}
	return segs, params, nil
}

// hasEscape reports whether s holds "%" and two hex digits.
func hasEscape(s string) bool {
	const hex = "0123456789abcdefABCDEF"
	for i := 0; i+2 < len(s); i++ {
		if s[i] == '%' && strings.IndexByte(hex, s[i+1]) >= 0 && strings.IndexByte(hex, s[i+2]) >= 0 {
			return true
		}
	}
	return false
}

// paramName: a letter or "_", then letters, digits or "_".
func paramName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9' {
			continue
		}
		return false
	}
	return true
}

// validMethod: "*" or an upper-case HTTP token (a lower-case method key
// would never match: the faces refuse lower-case methods).
func validMethod(m string) bool {
	if m == "*" {
		return true
	}
	if m == "" {
		return false
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		if 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// validHost: lower-case ASCII letters, digits, "-", "_" and ".", not
// starting or ending with "." nor holding "..", at most 253 bytes (DNS's
// limit), exactly the names the gate's NormalizeHost gives (a Compose
// service such as my_svc included);
// or an IPv6 literal in brackets, written as the gate writes a request's
// (netip's form: "[2001:db8::1]", not "[2001:0db8::1]"), else no request
// would ever reach its table (the gate refuses such a Host). No port.
func validHost(h string) bool {
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		a, err := netip.ParseAddr(h[1 : len(h)-1])
		return err == nil && a.Is6() && a.Zone() == "" && "["+a.String()+"]" == h
	}
	if h == "" || len(h) > 253 || h[0] == '.' || h[len(h)-1] == '.' || strings.Contains(h, "..") {
		return false
	}
	return strings.Trim(h, "abcdefghijklmnopqrstuvwxyz0123456789-_.") == ""
}

func (t *routeTable) add(k *routeKey, segs []string) {
	k.table = t
	n := &t.root
	for i, s := range segs {
		switch {
		case s == "*" && i == len(segs)-1:
			n.rest = append(n.rest, k)
			t.keys++
			return
		case slices.ContainsFunc(k.params, func(p keyParam) bool { return p.index == i }):
			if n.param == nil {
				n.param = &routeNode{}
			}
			n = n.param
		default:
			if n.literal == nil {
				n.literal = map[string]*routeNode{}
			}
			c := n.literal[s]
			if c == nil {
				c = &routeNode{}
				n.literal[s] = c
			}
			n = c
		}
	}
	n.exact = append(n.exact, k)
	t.keys++
}
