package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/open-policy-agent/opa/v1/util"
	"go.yaml.in/yaml/v3"
)

// refuseDuplicateKeys reads every data file under fsys (data.json,
// data.yaml, data.yml) and refuses one that names a key twice in an
// object. OPA's loader keeps the last of them without a word, so a table
// holding a route twice would silently lose one rule: "GET": {"access":
// "authenticated"} followed by "GET": {"access": "public"} made a route
// public.
func refuseDuplicateKeys(fsys fs.FS) error {
	return fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		var check func(io.Reader) error
		switch path.Base(name) {
		case "data.json":
			check = duplicateKey
		case "data.yaml", "data.yml":
			check = duplicateYAMLKey
		default:
			return nil
		}
		f, err := fsys.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := check(f); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	})
}

// duplicateYAMLKey is duplicateKey for a YAML document.
func duplicateYAMLKey(r io.Reader) error {
	var doc yaml.Node
	if err := yaml.NewDecoder(r).Decode(&doc); err != nil {
		return nil // not YAML, or empty: the loader reports it
	}
	var walk func(n *yaml.Node, at []string) error
	walk = func(n *yaml.Node, at []string) error {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				if err := walk(c, at); err != nil {
					return err
				}
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				if err := walk(c, append(at, "["+strconv.Itoa(i)+"]")); err != nil {
					return err
				}
			}
		case yaml.MappingNode:
			seen := map[string]bool{}
			for i := 0; i+1 < len(n.Content); i += 2 {
				key := n.Content[i]
				if key.Tag == "!!merge" {
					return fmt.Errorf("a merge key (<<) at %s (line %d) is not allowed in a data file: it can hide a key",
						strings.Join(append(at, "<<"), " > "), key.Line)
				}
				k, ok := loaderKey(key)
				if !ok {
					continue // a key the loader refuses itself; its value is not walked
				}
				if seen[k] {
					return fmt.Errorf("key %s appears twice in one object (line %d); only the last would count",
						strings.Join(append(at, strconv.Quote(k)), " > "), key.Line)
				}
				seen[k] = true
				if err := walk(n.Content[i+1], append(at, strconv.Quote(k))); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk(&doc, nil)
}

// duplicateKey returns an error naming the first key an object of the JSON
// document in r holds twice, with the keys that lead to it. A document
// that is not valid JSON is left to the loader, which reports it.
func duplicateKey(r io.Reader) error {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	type level struct {
		object bool
		keys   map[string]bool
		key    string // the object's current key
		index  int    // the array's current index
	}
	var stack []*level
	where := func(last string) string {
		var parts []string
		for _, l := range stack[:len(stack)-1] {
			if l.object {
				parts = append(parts, strconv.Quote(l.key))
			} else {
				parts = append(parts, "["+strconv.Itoa(l.index)+"]")
			}
		}
		return strings.Join(append(parts, strconv.Quote(last)), " > ")
	}
	// value marks that a value ended in the innermost container.
	value := func() {
		if n := len(stack); n > 0 && !stack[n-1].object {
			stack[n-1].index++
		}
	}
	expectKey := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return nil
		}
		if expectKey {
			if k, ok := tok.(string); ok {
				top := stack[len(stack)-1]
				if top.keys[k] {
					return fmt.Errorf("key %s appears twice in one object; only the last would count", where(k))
				}
				top.keys[k], top.key = true, k
				expectKey = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &level{object: true, keys: map[string]bool{}})
			expectKey = true
			continue
		case json.Delim('['):
			stack = append(stack, &level{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		value()
		// After a value, a key comes next only inside an object.
		expectKey = len(stack) > 0 && stack[len(stack)-1].object
	}
}

// loaderKey is the JSON object key OPA's loader makes of a YAML mapping
// key (0x1, 1.0 and "1" are all "1"; a date stays as written), found by
// letting OPA's own YAML decoding read the key alone, so the two never
// disagree. false: a key the loader would refuse.
func loaderKey(key *yaml.Node) (string, bool) {
	if key.Kind == yaml.AliasNode && key.Alias != nil {
		// *h names its anchor's node; alone, the alias would dangle.
		target := *key.Alias
		target.Anchor = ""
		key = &target
	}
	one, err := yaml.Marshal(&yaml.Node{Kind: yaml.MappingNode, Tag: "!!map",
		Content: []*yaml.Node{key, {Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}}})
	if err != nil {
		return "", false
	}
	var m map[string]any
	if util.Unmarshal(one, &m) != nil || len(m) != 1 {
		return "", false
	}
	for k := range m {
		return k, true
	}
	return "", false
}
