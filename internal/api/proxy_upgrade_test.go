package api_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// lenientUpgrade is an upstream that switches to whatever protocol the
// request names and then echoes the first line sent in the tunnel: the
// kind of upstream behind which an ungated tunnel would be a bypass.
func lenientUpgrade(w http.ResponseWriter, r *http.Request) {
	up := r.Header.Get("Upgrade")
	if up == "" {
		io.WriteString(w, "no upgrade")
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: %s\r\nConnection: Upgrade\r\n\r\n", up)
	brw.Flush()
	line, _ := brw.ReadString('\n')
	brw.WriteString("tunnel " + line)
	brw.Flush()
}

// TestProxyUpgrade: only "Upgrade: websocket" is tunnelled. Any other
// protocol, or several, is refused before the gate evaluates, so no
// request inside a tunnel escapes the gate.
func TestProxyUpgrade(t *testing.T) {
	env := newProxyEnv(t, lenientUpgrade, nil)
	tok := env.provider.Token(t, nil)
	tests := []struct {
		name    string
		path    string
		upgrade []string // Upgrade header lines
		token   bool
		want    int
	}{
		{name: "websocket", path: "/ws", upgrade: []string{"websocket"}, token: true, want: 101},
		{name: "websocket_mixed_case", path: "/ws", upgrade: []string{"WebSocket"}, token: true, want: 101},
		{name: "h2c_public_route", path: "/api/public", upgrade: []string{"h2c"}, want: 403},
		{name: "other_protocol", path: "/api/public", upgrade: []string{"foo/1"}, want: 403},
		{name: "h2c_with_token", path: "/ws", upgrade: []string{"h2c"}, token: true, want: 403},
		{name: "websocket_and_h2c_one_line", path: "/ws", upgrade: []string{"websocket, h2c"}, token: true, want: 403},
		{name: "websocket_and_h2c_two_lines", path: "/ws", upgrade: []string{"websocket", "h2c"}, token: true, want: 403},
		{name: "websocket_twice", path: "/ws", upgrade: []string{"websocket", "websocket"}, token: true, want: 403},
		{name: "empty", path: "/api/public", upgrade: []string{""}, want: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for env.lastSeen() != nil { // the upgrades of earlier rows
			}
			conn, err := net.Dial("tcp", strings.TrimPrefix(env.proxy.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			var req strings.Builder
			fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: x.example\r\nConnection: Upgrade\r\n", tt.path)
			for _, u := range tt.upgrade {
				fmt.Fprintf(&req, "Upgrade: %s\r\n", u)
			}
			if tt.token {
				fmt.Fprintf(&req, "Authorization: Bearer %s\r\n", tok)
			}
			req.WriteString("\r\n")
			io.WriteString(conn, req.String())
			br := bufio.NewReader(conn)
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("GET %s with Upgrade %q: %v", tt.path, tt.upgrade, err)
			}
			if res.StatusCode != tt.want {
				t.Fatalf("GET %s with Upgrade %q = %d, want %d", tt.path, tt.upgrade, res.StatusCode, tt.want)
			}
			if tt.want == 101 {
				io.WriteString(conn, "DELETE /admin/users/alice HTTP/1.1\n")
				if line, err := br.ReadString('\n'); err != nil || line != "tunnel DELETE /admin/users/alice HTTP/1.1\n" {
					t.Errorf("through the websocket tunnel: %q, %v", line, err)
				}
				return
			}
			var body struct{ Error string }
			if err := json.NewDecoder(res.Body).Decode(&body); err != nil || body.Error != "invalid_request" {
				t.Errorf("body error %q (%v), want invalid_request", body.Error, err)
			}
			if up := env.lastSeen(); up != nil {
				t.Errorf("the upstream saw a refused upgrade: %+v", up)
			}
		})
	}
}
