package authz

import (
	"encoding/binary"
	"slices"

	"github.com/open-policy-agent/opa/v1/ast"
)

// cacheKey encodes a decision-cache key (the projection of an input onto
// what the policy reads) as a compact string: a tag per value, lengths
// before contents, object keys and set elements in sorted order. Two
// values with the same encoding are the same JSON value, so the cache's
// string comparison never hands one input another's answer; values OPA
// would call equal but that are spelt differently (1 and 1.0) only miss.
// As a string the key costs a cached decision about a hundred bytes where
// the AST value it came from held kilobytes.
func cacheKey(v ast.Value) string {
	return string(appendKey(make([]byte, 0, 128), v))
}

func appendKey(b []byte, v ast.Value) []byte {
	switch v := v.(type) {
	case ast.Null:
		return append(b, 'z')
	case ast.Boolean:
		if v {
			return append(b, 't')
		}
		return append(b, 'f')
	case ast.Number:
		return appendString(append(b, 'n'), string(v))
	case ast.String:
		return appendString(append(b, 's'), string(v))
	case *ast.Array:
		b = binary.AppendUvarint(append(b, 'a'), uint64(v.Len()))
		for i := range v.Len() {
			b = appendKey(b, v.Elem(i).Value)
		}
		return b
	case ast.Object:
		keys := v.Keys()
		slices.SortFunc(keys, func(x, y *ast.Term) int { return x.Value.Compare(y.Value) })
		b = binary.AppendUvarint(append(b, 'o'), uint64(len(keys)))
		for _, k := range keys {
			b = appendKey(b, k.Value)
			b = appendKey(b, v.Get(k).Value)
		}
		return b
	case ast.Set:
		elems := v.Slice()
		slices.SortFunc(elems, func(x, y *ast.Term) int { return x.Value.Compare(y.Value) })
		b = binary.AppendUvarint(append(b, 'S'), uint64(len(elems)))
		for _, e := range elems {
			b = appendKey(b, e.Value)
		}
		return b
	default:
		// Not a JSON value (an input never holds one): the whole printed
		// form, tagged apart from every case above.
		return appendString(append(b, '?'), v.String())
	}
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// inputKey is cacheKey(u.key(r)) without building the key as an AST value
// first: the fields Go holds as plain strings and lists (method, host,
// path, routes, authenticated, issuer, scopes) are encoded straight from
// the request, and bound is built once for all the paths under it. The key
// is built on every decision, cache hit or not, and the AST detour was
// most of a hit's cost. TestInputKeyMatchesValue proves both encodings
// equal.
func (u *inputUse) inputKey(r *request) (string, error) {
	if u.whole {
		v, err := r.value(nil)
		if err != nil {
			return "", err
		}
		return cacheKey(v), nil
	}
	var stack [256]byte
	b := binary.AppendUvarint(append(stack[:0], 'a'), uint64(len(u.paths)))
	var bound ast.Value
	var err error
	for _, p := range u.paths {
		if b, err = r.appendPathKey(b, p, &bound); err != nil {
			return "", err
		}
	}
	return string(b), nil
}

// appendPathKey appends the encoding of the value at path p of r's input,
// or of absent when it has none; bound holds input.bound once built.
func (r *request) appendPathKey(b []byte, p []string, bound *ast.Value) ([]byte, error) {
	authenticated := r.authenticated()
	if len(p) == 1 {
		switch p[0] {
		case "method":
			return appendString(append(b, 's'), r.Method), nil
		case "host":
			return appendString(append(b, 's'), r.Host), nil
		case "path":
			return appendStrings(b, r.Path), nil
		case "routes":
			b = binary.AppendUvarint(append(b, 'a'), uint64(len(r.keys)))
			for _, k := range r.keys {
				b = appendString(append(b, 's'), k.key)
			}
			return b, nil
		case "authenticated":
			return appendKey(b, ast.Boolean(authenticated)), nil
		case "issuer":
			if authenticated {
				return appendString(append(b, 's'), r.Issuer), nil
			}
			return appendKey(b, absent.Value), nil
		case "scopes":
			if authenticated {
				return appendStrings(b, r.Scopes), nil
			}
			return appendKey(b, absent.Value), nil
		}
	}
	var v ast.Value
	if p[0] == "bound" && len(p) <= 2 {
		if *bound == nil {
			var err error
			if *bound, err = r.bound(); err != nil {
				return nil, err
			}
		}
		v = *bound
		if len(p) == 2 {
			v = objectField(v, p[1])
		}
	} else {
		var err error
		if v, err = r.lookup(p, nil); err != nil {
			return nil, err
		}
	}
	if v == nil {
		v = absent.Value
	}
	return appendKey(b, v), nil
}

// boundFields are the names under input.bound as terms made once: a term
// made per lookup was two allocations per decision each.
var boundFields = map[string]*ast.Term{"params": ast.StringTerm("params"), "claims": ast.StringTerm("claims")}

// objectField is v[name] when v is an object that has it, else nil.
func objectField(v ast.Value, name string) ast.Value {
	obj, ok := v.(ast.Object)
	if !ok {
		return nil
	}
	k, ok := boundFields[name]
	if !ok {
		k = ast.StringTerm(name)
	}
	if t := obj.Get(k); t != nil {
		return t.Value
	}
	return nil
}

func appendStrings(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(append(b, 'a'), uint64(len(ss)))
	for _, s := range ss {
		b = appendString(append(b, 's'), s)
	}
	return b
}
