package api

import (
	"os"
	"strings"
	"testing"
)

// TestForwardingHeadersDocumented: every forwarding header proxy mode
// removes is named in docs/proxy-mode.md, so the list there is the list
// in force.
func TestForwardingHeadersDocumented(t *testing.T) {
	b, err := os.ReadFile("../../docs/proxy-mode.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.ToLower(string(b))
	for _, name := range forwardingHeaders {
		if !strings.Contains(doc, "`"+strings.ToLower(name)+"`") {
			t.Errorf("docs/proxy-mode.md does not name %s", name)
		}
	}
}
