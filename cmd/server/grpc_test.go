package main

import (
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/policygate/policygate/internal/api"
)

var grpcListeningRE = regexp.MustCompile(`"msg":"grpc listening","addr":"([^"]+)"`)

func TestHelpNamesGRPCSettings(t *testing.T) {
	var stderr syncBuffer
	err := run(context.Background(), []string{"--help"}, envFunc(nil), &syncBuffer{}, &stderr)
	if err == nil {
		t.Fatal("run(--help) = nil, want flag.ErrHelp")
	}
	for _, name := range []string{"GRPC_LISTEN_ADDR", "GRPC_MAX_DEADLINE", "GRPC_TLS_CERT_FILE", "GRPC_TLS_KEY_FILE", "GRPC_TLS_CLIENT_CA_FILE"} {
		if !strings.Contains(stderr.String(), name) {
			t.Errorf("--help does not name %s:\n%s", name, stderr.String())
		}
	}
}

func TestGRPCConfig(t *testing.T) {
	dir := t.TempDir()
	crt, key, ca := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "ca.crt")
	selfSigned(t, 1, crt, key)
	selfSigned(t, 2, ca, filepath.Join(dir, "ca.key"))
	tests := []struct {
		name    string
		env     map[string]string
		dev     bool
		wantErr string // the variable the error names; "" for none
		want    grpcConfig
	}{
		{name: "off_by_default", want: grpcConfig{MaxDeadline: time.Second}},
		{name: "listen", env: map[string]string{"GRPC_LISTEN_ADDR": ":9191", "GRPC_MAX_DEADLINE": "250ms"},
			want: grpcConfig{ListenAddr: ":9191", MaxDeadline: 250 * time.Millisecond}},
		{name: "tls", env: map[string]string{"GRPC_LISTEN_ADDR": ":9191", "GRPC_TLS_CERT_FILE": crt, "GRPC_TLS_KEY_FILE": key, "GRPC_TLS_CLIENT_CA_FILE": ca},
			want: grpcConfig{ListenAddr: ":9191", MaxDeadline: time.Second, TLSCertFile: crt, TLSKeyFile: key, TLSClientCAFile: ca}},
		// The files load at configuration, each problem under its own name.
		{name: "tls_bad_client_ca", env: map[string]string{"GRPC_LISTEN_ADDR": ":9191", "GRPC_TLS_CERT_FILE": crt, "GRPC_TLS_KEY_FILE": key, "GRPC_TLS_CLIENT_CA_FILE": key}, wantErr: "GRPC_TLS_CLIENT_CA_FILE"},
		{name: "tls_bad_key", env: map[string]string{"GRPC_LISTEN_ADDR": ":9191", "GRPC_TLS_CERT_FILE": crt, "GRPC_TLS_KEY_FILE": crt}, wantErr: "GRPC_TLS_KEY_FILE"},
		{name: "tls_bad_cert", env: map[string]string{"GRPC_LISTEN_ADDR": ":9191", "GRPC_TLS_CERT_FILE": key, "GRPC_TLS_KEY_FILE": key}, wantErr: "GRPC_TLS_CERT_FILE"},
		{name: "tls_missing_cert", env: map[string]string{"GRPC_LISTEN_ADDR": ":9191", "GRPC_TLS_CERT_FILE": crt + ".missing", "GRPC_TLS_KEY_FILE": key}, wantErr: "GRPC_TLS_CERT_FILE"},
		{name: "bad_addr", env: map[string]string{"GRPC_LISTEN_ADDR": "9191"}, wantErr: "GRPC_LISTEN_ADDR"},
		{name: "dev_not_loopback", env: map[string]string{"GRPC_LISTEN_ADDR": "0.0.0.0:9191"}, dev: true, wantErr: "GRPC_LISTEN_ADDR"},
		{name: "bad_deadline", env: map[string]string{"GRPC_MAX_DEADLINE": "soon"}, wantErr: "GRPC_MAX_DEADLINE"},
		{name: "zero_deadline", env: map[string]string{"GRPC_MAX_DEADLINE": "0s"}, wantErr: "GRPC_MAX_DEADLINE"},
		{name: "sub_millisecond_deadline", env: map[string]string{"GRPC_MAX_DEADLINE": "500us"}, wantErr: "GRPC_MAX_DEADLINE"},
		{name: "one_millisecond_deadline", env: map[string]string{"GRPC_LISTEN_ADDR": ":9191", "GRPC_MAX_DEADLINE": "1ms"},
			want: grpcConfig{ListenAddr: ":9191", MaxDeadline: time.Millisecond}},
		{name: "huge_deadline", env: map[string]string{"GRPC_MAX_DEADLINE": "1h"}, wantErr: "GRPC_MAX_DEADLINE"},
		{name: "cert_without_key", env: map[string]string{"GRPC_LISTEN_ADDR": ":9191", "GRPC_TLS_CERT_FILE": "c"}, wantErr: "GRPC_TLS_CERT_FILE"},
		{name: "ca_without_cert", env: map[string]string{"GRPC_LISTEN_ADDR": ":9191", "GRPC_TLS_CLIENT_CA_FILE": "ca"}, wantErr: "GRPC_TLS_CLIENT_CA_FILE"},
		{name: "tls_without_listener", env: map[string]string{"GRPC_TLS_CERT_FILE": crt, "GRPC_TLS_KEY_FILE": key}, wantErr: "GRPC_LISTEN_ADDR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var errs []string
			bad := func(variable, format string, args ...any) { errs = append(errs, variable) }
			got := loadGRPCConfig(envFunc(tt.env), tt.dev, bad)
			if tt.wantErr != "" {
				if len(errs) != 1 || errs[0] != tt.wantErr {
					t.Fatalf("loadGRPCConfig() errors name %v, want %s", errs, tt.wantErr)
				}
				return
			}
			if len(errs) > 0 || got != tt.want {
				t.Fatalf("loadGRPCConfig() = %+v, errors %v; want %+v", got, errs, tt.want)
			}
		})
	}
}

// TestRunBadGRPCTLSStopsBeforeListening: a gRPC TLS file that does not
// load stops the server at configuration, before any listener opens and
// before the dev banner, as the HTTP listener's files do.
func TestRunBadGRPCTLSStopsBeforeListening(t *testing.T) {
	dir := t.TempDir()
	crt, key := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	selfSigned(t, 1, crt, key)
	t.Chdir(t.TempDir())
	var stdout, stderr syncBuffer
	err := run(context.Background(), []string{"--dev"}, envFunc(map[string]string{
		"LISTEN_ADDR": "127.0.0.1:0", "ADMIN_ADDR": "127.0.0.1:0", "GRPC_LISTEN_ADDR": "127.0.0.1:0",
		"GRPC_TLS_CERT_FILE": crt, "GRPC_TLS_KEY_FILE": key, "GRPC_TLS_CLIENT_CA_FILE": key,
	}), &stdout, &stderr)
	if err == nil || !strings.HasPrefix(err.Error(), "configuration:") || !strings.Contains(err.Error(), "GRPC_TLS_CLIENT_CA_FILE: "+key+": no PEM certificate") {
		t.Fatalf("run() = %v, want a configuration error naming GRPC_TLS_CLIENT_CA_FILE", err)
	}
	if strings.Contains(err.Error(), "GRPC_TLS_CERT_FILE") {
		t.Errorf("run() = %v, want the client CA's error under its own name only", err)
	}
	if stdout.String() != "" || strings.Contains(stderr.String(), "listening") {
		t.Errorf("run() printed before failing:\nstdout: %s\nstderr: %s", stdout.String(), stderr.String())
	}
}

func TestGRPCReadiness(t *testing.T) {
	var shutting atomic.Bool
	var keysReady atomic.Bool
	ready := readiness([]api.ReadinessCheck{{Name: "keys", Check: func() error {
		if !keysReady.Load() {
			return errors.New("not fetched")
		}
		return nil
	}}}, &shutting)
	if err := ready(); err == nil || !strings.Contains(err.Error(), "keys") {
		t.Errorf("before the keys: %v, want an error naming keys", err)
	}
	keysReady.Store(true)
	if err := ready(); err != nil {
		t.Errorf("ready: %v, want nil", err)
	}
	shutting.Store(true)
	if err := ready(); err == nil {
		t.Error("shutting down: nil, want not ready")
	}
}

// TestGRPCServer runs the whole server with the gRPC listener on and
// checks it answers Check and health, and stops with the HTTP listener.
func TestGRPCServer(t *testing.T) {
	s := startServer(t, []string{"--dev"}, map[string]string{"GRPC_LISTEN_ADDR": "127.0.0.1:0", "GRPC_MAX_DEADLINE": "500ms"})
	m := grpcListeningRE.FindStringSubmatch(s.stderr.String())
	if m == nil {
		t.Fatalf("no grpc listening line:\n%s", s.stderr.String())
	}
	conn, err := grpc.NewClient(m[1], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v; want SERVING once /readyz is ready", h.GetStatus(), err)
	}
	check := func(path string) *authv3.CheckResponse {
		t.Helper()
		resp, err := authv3.NewAuthorizationClient(conn).Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{Method: "GET", Host: "localhost:3010", Path: path}},
		}})
		if err != nil {
			t.Fatalf("Check(%s): %v", path, err)
		}
		return resp
	}
	if resp := check("/api/public"); resp.GetOkResponse() == nil {
		t.Errorf("Check(/api/public) = %v, want OK", resp)
	}
	if resp := check("/api/private"); resp.GetDeniedResponse().GetStatus().GetCode() != 401 {
		t.Errorf("Check(/api/private) = %v, want a 401 denial", resp)
	}

	s.cancel()
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("run() = %v after cancel, want nil", err)
		}
		s.done <- nil // for the cleanup
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err == nil {
		t.Error("health answered after shutdown, want the gRPC listener closed")
	}
}
