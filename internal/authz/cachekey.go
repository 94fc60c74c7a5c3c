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
