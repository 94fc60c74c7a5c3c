package authn

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// referenceObject is what the verifier used to do: encoding/json with
// UseNumber, exactly one JSON value, which must be an object.
func referenceObject(b []byte) (map[string]any, bool) {
	if !json.Valid(b) {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	m, ok := v.(map[string]any)
	return m, ok
}

var jsonObjectSeeds = []string{
	`{}`, ` {} `, `{"a":1}`, `{"a":-0.5e+10,"b":[1,2,{"c":null}],"d":true,"e":false}`,
	`{"sub":"auth0|alice","aud":["x","y"],"exp":1796016486,"scope":"a b"}`,
	`{"a":1,"a":2}`, `{"a":"\u00e9\ud83d\ude00\n\t\\\/\""}`, `{"a":"\ud800"}`, `{"a":"\ud800\u0041"}`,
	`{"a":"\udc00\ud800x"}`, `{"a":"` + "\xff\xfe" + `"}`, `{"a":"é"}`, `{"a":"\u0000"}`,
	`{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":-}`, `{"a":1e}`, `{"a":+1}`, `{"a":tru}`, `{"a":nul}`,
	`{"a":"` + "\x01" + `"}`, `{"a":"\x"}`, `{"a":"\u12"}`, `{"a" 1}`, `{"a":1,}`, `{,}`, `{"a":[1,]}`,
	`[]`, `null`, `"x"`, `1`, `{} x`, `{}{}`, `{} ]`, `{"a":1`, `{"a":[`, "\ufeff{}", `{"a":"` + "\x7f" + `"}`,
	`{"A":1,"a":2}`, `{"a":{"b":{"c":[[[]]]}}}`, `{"a" : [ 1 , 2 ] , "b" : { } }`,
	`{"` + strings.Repeat("[", 20) + `":1}`, `{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`,
}

func TestDecodeJSONObjectAgreesWithEncodingJSON(t *testing.T) {
	seeds := append([]string(nil), jsonObjectSeeds...)
	seeds = append(seeds,
		`{"x":`+strings.Repeat("[", maxJSONDepth-1)+strings.Repeat("]", maxJSONDepth-1)+`}`, // at the limit
		`{"x":`+strings.Repeat("[", maxJSONDepth)+strings.Repeat("]", maxJSONDepth)+`}`,     // one past it
	)
	for _, s := range seeds {
		checkAgainstEncodingJSON(t, []byte(s))
	}
}

func FuzzDecodeJSONObject(f *testing.F) {
	for _, s := range jsonObjectSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkAgainstEncodingJSON(t, b) })
}

func checkAgainstEncodingJSON(t *testing.T, b []byte) {
	t.Helper()
	// Decoded from a copy that is then overwritten: the result must not
	// share the input's storage (the decoded token buffer is the caller's).
	input := bytes.Clone(b)
	got, ok := decodeJSONObject(input)
	for i := range input {
		input[i] = 'X'
	}
	want, wantOK := referenceObject(b)
	if ok != wantOK || !reflect.DeepEqual(got, want) {
		name := string(b)
		if len(name) > 200 {
			name = name[:200] + "..."
		}
		t.Errorf("decodeJSONObject(%q) = %#v, %v; encoding/json gives %#v, %v", name, got, ok, want, wantOK)
	}
}
