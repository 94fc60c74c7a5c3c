package proxytest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/policygate/policygate/internal/testfile"
)

// RunNginx runs nginx (a path from FindNginx) with http, the contents of
// its http block (server blocks and http-level directives), until the
// test ends, and waits until addr, where http listens, accepts
// connections. nginx runs in the foreground as one process, with its
// prefix, pid file and temporary files in a fresh temporary folder and
// its errors on stderr.
func RunNginx(t testing.TB, nginx, http, addr string) *Process {
	t.Helper()
	prefix := t.TempDir()
	conf := filepath.Join(prefix, "nginx.conf")
	testfile.Write(t, conf, fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log stderr warn;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
%[2]s
}
`, prefix, http))
	p := Start(t, exec.Command(nginx, "-p", prefix, "-c", conf, "-e", "stderr"))
	p.repeatTerm = true // master_process off can miss a SIGTERM (Process.stop)
	p.Listening(t, addr)
	return p
}

// RunCaddy runs Caddy (a path from FindCaddy) with site, the Caddyfile
// without its global options, until the test ends, and waits until addr,
// where site listens, accepts connections. Caddy runs without its admin
// API and automatic HTTPS, binds to loopback only, and keeps its home,
// configuration and data in a fresh temporary folder.
func RunCaddy(t testing.TB, caddy, site, addr string) *Process {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "Caddyfile")
	testfile.Write(t, conf, "{\n\tadmin off\n\tauto_https off\n\tdefault_bind 127.0.0.1\n\tstorage file_system "+
		filepath.Join(dir, "data")+"\n}\n"+site)
	cmd := exec.Command(caddy, "run", "--config", conf, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+dir, "XDG_DATA_HOME="+dir)
	p := Start(t, cmd)
	p.Listening(t, addr)
	return p
}
