package proxytest

import (
	"os"
	"strings"
	"testing"
)

// DocBlock returns the fenced block of the docs file at path that
// directly follows the line "<!-- policygate-test: NAME -->" and whose
// fence names lang: tests run and parse the configurations users copy,
// not copies of them.
func DocBlock(t testing.TB, path, name, lang string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), "<!-- policygate-test: "+name+" -->\n")
	if !ok {
		t.Fatalf("%s has no block marked %q", path, name)
	}
	body, ok := strings.CutPrefix(after, "```"+lang+"\n")
	if !ok {
		t.Fatalf("%s: the marker %q is not followed by a ```%s block", path, name, lang)
	}
	block, _, ok := strings.Cut(body, "```")
	if !ok {
		t.Fatalf("%s: block %q is not closed", path, name)
	}
	return block
}
