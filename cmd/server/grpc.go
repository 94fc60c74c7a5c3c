package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/policygate/policygate/internal/api"
	"github.com/policygate/policygate/internal/authn"
	"github.com/policygate/policygate/internal/certreload"
	"github.com/policygate/policygate/internal/denial"
	"github.com/policygate/policygate/internal/extauthz"
)

// grpcConfig is the Envoy face's part of Config (GRPC_* settings).
type grpcConfig struct {
	ListenAddr                               string // "" means off
	MaxDeadline                              time.Duration
	TLSCertFile, TLSKeyFile, TLSClientCAFile string
}

// maxGRPCDeadline bounds GRPC_MAX_DEADLINE: a check that waits longer
// holds Envoy's request that long.
const maxGRPCDeadline = time.Minute

// grpcUsage names the settings for --help.
const grpcUsage = "GRPC_LISTEN_ADDR, GRPC_MAX_DEADLINE, GRPC_TLS_CERT_FILE, GRPC_TLS_KEY_FILE, GRPC_TLS_CLIENT_CA_FILE"

// loadGRPCConfig reads the GRPC_* settings, reporting problems through bad.
func loadGRPCConfig(env func(string) string, dev bool, bad badFunc) grpcConfig {
	c := grpcConfig{
		ListenAddr: env("GRPC_LISTEN_ADDR"), MaxDeadline: extauthz.DefaultMaxDeadline,
		TLSCertFile: env("GRPC_TLS_CERT_FILE"), TLSKeyFile: env("GRPC_TLS_KEY_FILE"), TLSClientCAFile: env("GRPC_TLS_CLIENT_CA_FILE"),
	}
	if c.ListenAddr != "" {
		if host, _, err := net.SplitHostPort(c.ListenAddr); err != nil {
			bad("GRPC_LISTEN_ADDR", "%q is not host:port (e.g. :9191 or 127.0.0.1:9191)", c.ListenAddr)
		} else if dev && !authn.IsLoopbackHost(host) {
			bad("GRPC_LISTEN_ADDR", "dev mode listens on loopback only (e.g. 127.0.0.1:9191), not %q", c.ListenAddr)
		}
	}
	if v := env("GRPC_MAX_DEADLINE"); v != "" {
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			bad("GRPC_MAX_DEADLINE", "%q is not a duration (e.g. 1s)", v)
		case d < time.Millisecond || d > maxGRPCDeadline:
			bad("GRPC_MAX_DEADLINE", "%s is outside 1ms..%s", d, maxGRPCDeadline)
		default:
			c.MaxDeadline = d
		}
	}
	switch {
	case (c.TLSCertFile == "") != (c.TLSKeyFile == ""):
		bad("GRPC_TLS_CERT_FILE", "set GRPC_TLS_CERT_FILE and GRPC_TLS_KEY_FILE together")
	case c.TLSClientCAFile != "" && c.TLSCertFile == "":
		bad("GRPC_TLS_CLIENT_CA_FILE", "verifies client certificates on a TLS listener: set GRPC_TLS_CERT_FILE and GRPC_TLS_KEY_FILE too")
	}
	if c.ListenAddr == "" && (c.TLSCertFile != "" || c.TLSClientCAFile != "") {
		bad("GRPC_LISTEN_ADDR", "required when GRPC_TLS_* is set: the gRPC listener is off without it")
	}
	if c.TLSCertFile != "" && c.TLSKeyFile != "" {
		// Now, not when the listener starts: a bad file stops the server
		// before anything listens. Later changes are re-read while serving.
		checkTLSFiles(bad, tlsFile{"GRPC_TLS_CERT_FILE", c.TLSCertFile}, tlsFile{"GRPC_TLS_KEY_FILE", c.TLSKeyFile},
			tlsFile{"GRPC_TLS_CLIENT_CA_FILE", c.TLSClientCAFile})
	}
	return c
}

// startGRPC serves Envoy's Check and grpc.health.v1 on GRPC_LISTEN_ADDR,
// when set; Serve's error goes to serveErr. The returned shutdown stops it
// gracefully (a no-op when the listener is off).
func startGRPC(cfg grpcConfig, g extauthz.Gate, render *denial.Renderer, ready func() error, logger *slog.Logger, serveErr chan<- error) (shutdown func(context.Context) error, err error) {
	if cfg.ListenAddr == "" {
		return func(context.Context) error { return nil }, nil
	}
	var tc *tls.Config
	if cfg.TLSCertFile != "" {
		opts := []certreload.Option{certreload.WithLogger(logger)}
		if cfg.TLSClientCAFile != "" {
			opts = append(opts, certreload.WithClientCA(cfg.TLSClientCAFile))
		}
		certs, err := certreload.New(cfg.TLSCertFile, cfg.TLSKeyFile, opts...)
		if err != nil {
			// Configuration loaded these files: they changed since.
			return nil, fmt.Errorf("GRPC_TLS_*: %w", err)
		}
		tc = certs.TLSConfig()
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("GRPC_LISTEN_ADDR: %w", err)
	}
	l := extauthz.NewListener(extauthz.Config{
		Gate: g, Renderer: render, Logger: logger,
		MaxDeadline: cfg.MaxDeadline, Ready: ready, TLS: tc,
	})
	go func() {
		if err := l.Serve(ln); err != nil {
			serveErr <- fmt.Errorf("grpc: %w", err)
		}
	}()
	logger.Info("grpc listening", "addr", ln.Addr().String(), "tls", tc != nil, "client_certs", cfg.TLSClientCAFile != "", "max_deadline", cfg.MaxDeadline.String())
	return l.Shutdown, nil
}

// readiness is nil when every check passes and the server is not shutting
// down: what /readyz answers 200 for.
func readiness(checks []api.ReadinessCheck, shuttingDown *atomic.Bool) func() error {
	return func() error {
		if shuttingDown.Load() {
			return errors.New("shutting down")
		}
		for _, c := range checks {
			if err := c.Check(); err != nil {
				return fmt.Errorf("%s: %w", c.Name, err)
			}
		}
		return nil
	}
}
