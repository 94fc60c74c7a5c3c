package authz

import (
	"fmt"
	"testing"
)

// The decision cache key and the policy input of a request whose claims
// come from a ClaimSource are those of the same request with the claims
// in Claims, for every kind of path; each is built on a fresh request, as
// Decide builds it, so the source is asked first by the key itself.
func TestClaimSourceKeyMatchesClaims(t *testing.T) {
	x, inputs := keyTestRequests(t)
	uses := []inputUse{
		{paths: [][]string{{"authenticated"}, {"issuer"}, {"scopes"}}},
		{paths: [][]string{{"bound"}}},
		{paths: [][]string{{"bound", "claims"}, {"bound", "params"}}},
		{paths: [][]string{{"bound", "claims", "sub"}, {"bound", "claims", "tenant"}}},
		{paths: [][]string{{"claims"}}},
		{paths: [][]string{{"claims", "sub"}, {"claims", "obj", "a"}, {"claims", "missing"}}},
		{paths: [][]string{{}}, whole: true},
	}
	// fresh is in as Decide's request holds it, with the claims in Claims
	// or behind a ClaimSource.
	fresh := func(in Input, source bool) (*request, *countingSource) {
		var src *countingSource
		if source {
			src = &countingSource{m: in.Claims}
			in.Claims, in.ClaimSource = nil, src
		}
		return &request{Input: &in, keys: x.match(in.Host, in.Method, in.Path, false)}, src
	}
	for i, in := range inputs {
		for j, u := range uses {
			t.Run(fmt.Sprintf("input%d/use%d", i, j), func(t *testing.T) {
				rm, _ := fresh(in, false)
				want, err := u.inputKey(rm)
				if err != nil {
					t.Fatal(err)
				}
				rs, src := fresh(in, true)
				got, err := u.inputKey(rs)
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("inputKey with ClaimSource = %q, with Claims %q", got, want)
				}
				if n := src.calls.Load(); n > 1 {
					t.Errorf("Payload() called %d times for one key", n)
				}
				rm, _ = fresh(in, false)
				rs, _ = fresh(in, true)
				vm, err := rm.value(nil)
				if err != nil {
					t.Fatal(err)
				}
				vs, err := rs.value(nil)
				if err != nil {
					t.Fatal(err)
				}
				if vs.Compare(vm) != 0 {
					t.Errorf("input with ClaimSource = %v, with Claims %v", vs, vm)
				}
			})
		}
	}
}
