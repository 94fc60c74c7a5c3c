package proxytest

import (
	"net"
	"os"
	"os/exec"
	"testing"
)

// FindTool returns the path of an external program: from PATH, else the
// first of paths that exists. A missing program skips the test on a
// developer machine (naming the Debian package apt) and fails it in CI
// (CI=true), since .ci/run installs it.
func FindTool(t testing.TB, name, apt string, paths ...string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed; .ci/run installs it (apt-get install %s)", name, apt)
	}
	t.Skipf("%s is not installed (apt-get install %s); CI runs this test", name, apt)
	return ""
}

// FindNginx is FindTool for nginx.
func FindNginx(t testing.TB) string {
	t.Helper()
	return FindTool(t, "nginx", "nginx-light", "/usr/sbin/nginx")
}

// FindCaddy is FindTool for Caddy.
func FindCaddy(t testing.TB) string {
	t.Helper()
	return FindTool(t, "caddy", "caddy", "/usr/bin/caddy")
}

// FreeAddr returns a loopback address nothing listens on (yet).
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
