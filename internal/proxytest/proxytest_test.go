package proxytest_test

import (
	"net"
	"path/filepath"
	"testing"

	"github.com/policygate/policygate/internal/proxytest"
	"github.com/policygate/policygate/internal/testfile"
)

func TestDocBlock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "doc.md")
	testfile.Write(t, path, "# Doc\n\n<!-- policygate-test: nginx -->\n```nginx\nserver {\n}\n```\n\ntext\n\n"+
		"<!-- policygate-test: caddy -->\n```caddyfile\n:80 {\n}\n```\n")
	tests := []struct {
		name string
		lang string
		want string
	}{
		{name: "nginx", lang: "nginx", want: "server {\n}\n"},
		{name: "caddy", lang: "caddyfile", want: ":80 {\n}\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := proxytest.DocBlock(t, path, tc.name, tc.lang); got != tc.want {
				t.Errorf("DocBlock(%q, %q) = %q, want %q", tc.name, tc.lang, got, tc.want)
			}
		})
	}
}

// The runners start a proxy that listens, and stop it at cleanup.
func TestNginxServes(t *testing.T) {
	nginx := proxytest.FindNginx(t)
	addr := proxytest.FreeAddr(t)
	proxytest.RunNginx(t, nginx, "server { listen "+addr+"; return 204; }", addr)
}

func TestCaddyServes(t *testing.T) {
	caddy := proxytest.FindCaddy(t)
	addr := proxytest.FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	proxytest.RunCaddy(t, caddy, "http://:"+port+" {\n\trespond 204\n}\n", addr)
}
