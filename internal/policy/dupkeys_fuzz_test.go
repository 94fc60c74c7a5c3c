package policy

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzDuplicateKey: the scan never panics, and a document that holds no
// key twice (any JSON value re-encoded from its decoded form) passes it.
func FuzzDuplicateKey(f *testing.F) {
	for _, seed := range []string{
		`{"routes": {"/a": {"GET": {"access": "public"}}}}`,
		`{"x": [{"a": 1}, "b", ["c", {"d": [1, {"e": "f"}]}], "g"]}`,
		`{"a": 1, "a": 2}`,
		`[{}, [], "", 0, null, true]`,
		`{"\u0041": 1, "A": 2}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		duplicateKey(bytes.NewReader(data))
		var v any
		if json.Unmarshal(data, &v) != nil {
			return
		}
		clean, err := json.Marshal(v)
		if err != nil {
			return
		}
		if err := duplicateKey(bytes.NewReader(clean)); err != nil {
			t.Errorf("duplicateKey(%s) = %v, want nil: no key is repeated", clean, err)
		}
	})
}
