// Command server runs policygate: it verifies OAuth 2.0 access tokens and
// asks an embedded Open Policy Agent whether each request may proceed.
//
//	server            serve, configured by the environment and ./.env
//	server --dev      serve with a local dev issuer, no configuration needed
//	server token      mint a token from a running dev server
//	server version    print the version (also --version)
//	server decide     evaluate the policy for one request, offline
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/policygate/policygate/internal/api"
	"github.com/policygate/policygate/internal/certreload"
	"github.com/policygate/policygate/internal/denial"
	"github.com/policygate/policygate/internal/devissuer"
	"github.com/policygate/policygate/internal/gate"
)

func main() {
	ctx := onSignals(os.Stderr)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	var exit *exitError
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0) // asked for --help, and got it
	case errors.As(err, &exit):
		if exit.msg != "" {
			fmt.Fprintln(os.Stderr, exit.msg)
		}
		os.Exit(exit.code)
	case err != nil:
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// onSignals returns a context that ends at the first SIGINT or SIGTERM:
// run then drains (not ready for SHUTDOWN_DELAY, then a graceful
// shutdown). A second signal exits at once, for an operator who does not
// want to wait.
func onSignals(stderr io.Writer) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		cancel()
		s := <-sigs
		fmt.Fprintf(stderr, "policygate: second %s during shutdown: exiting now\n", s)
		os.Exit(exitSecondSignal)
	}()
	return ctx
}

// exitSecondSignal is the exit status after a second signal.
const exitSecondSignal = 2

// Timeouts of the HTTP server and of start-up.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 15 * time.Second
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 32 << 10
	shutdownTimeout   = 10 * time.Second
	policyLoadTimeout = 30 * time.Second
)

// run is the whole program; main only binds it to the OS.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "token" {
		// The dev server read LISTEN_ADDR from ./.env too: ask the same
		// address.
		env, err := withDotEnv(getenv, ".env")
		if err != nil {
			return err
		}
		return runToken(ctx, args[1:], env, stdout, stderr)
	}
	if len(args) > 0 && args[0] == "decide" {
		return runDecide(ctx, args[1:], getenv, stdout, stderr)
	}
	if len(args) > 0 && args[0] == "version" {
		return printVersion(stdout)
	}
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dev := fs.Bool("dev", false, "run with a local dev issuer on 127.0.0.1 (no configuration, no network)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: server [--dev] | server token [--scope S] [--sub S] [--ttl D] [--addr A] | server version")
		fmt.Fprintln(stderr, "       server decide [--token JWT | --claims FILE] [--host H] [--json] [--explain notes|full] METHOD PATH")
		fmt.Fprintln(stderr, "       server decide --table FILE.csv|FILE.json   (server decide --help)")
		fmt.Fprintln(stderr, "configuration: AUTH_ISSUER, AUTH_AUDIENCE, AUTH_JWKS_URL, AUTH0_DOMAIN, AUTH0_AUDIENCE, AUTH_CONFIG,")
		fmt.Fprintln(stderr, "  AUTH_ALGORITHMS, AUTH_CLOCK_SKEW, LISTEN_ADDR, POLICY_DIR, POLICY_TESTS_MUST_PASS, OPA_CONFIG,")
		fmt.Fprintln(stderr, "  DECISION_LOG, DECISION_CACHE_SIZE, CORS_ALLOWED_ORIGINS, LOG_LEVEL, LOG_FORMAT,")
		fmt.Fprintln(stderr, "  "+grpcUsage+",")
		fmt.Fprintln(stderr, "  SHUTDOWN_DELAY, TLS_CERT_FILE, TLS_KEY_FILE, PUBLIC_URL, RESOURCE_DOCUMENTATION_URL,")
		fmt.Fprintln(stderr, "  TRACE_SUBJECT, OTEL_EXPORTER_OTLP_ENDPOINT and OpenTelemetry's other OTEL_* variables")
		fmt.Fprintln(stderr, "  (environment, then ./.env; OTEL_* from the environment only;")
		fmt.Fprintln(stderr, "  see README.md \"Settings\")")
		fmt.Fprintln(stderr, facesUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}
	if *showVersion {
		return printVersion(stdout)
	}

	env, err := withDotEnv(getenv, ".env")
	if err != nil {
		return err
	}
	cfg, err := loadConfig(env, *dev)
	disc, discErr := loadDiscoveryConfig(env, cfg)
	traceCfg, traceErr := loadTracingConfig(getenv, env)
	if err := errors.Join(err, discErr, traceErr); err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	logger := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	if cfg.Dev {
		for _, name := range []string{"AUTH_ISSUER", "AUTH_AUDIENCE", "AUTH_JWKS_URL", "AUTH0_DOMAIN", "AUTH0_AUDIENCE", "AUTH_CONFIG", "PUBLIC_URL"} {
			if env(name) != "" {
				logger.Warn("dev mode ignores this setting and uses its own issuer", "variable", name)
			}
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// A policy folder must compile (and pass its tests, when required)
	// before anything listens.
	reg := prometheus.NewRegistry()
	build := readBuildInfo()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), buildInfoGauge(build))
	engine, err := startPolicy(ctx, cfg, logger, stdout, reg)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer engine.Stop(context.WithoutCancel(ctx))

	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("LISTEN_ADDR: %w", err)
	}
	defer ln.Close()
	baseURL := "http://" + ln.Addr().String()
	var tlsConfig *tls.Config
	if cfg.TLSCertFile != "" {
		certs, err := certreload.New(cfg.TLSCertFile, cfg.TLSKeyFile, certreload.WithLogger(logger))
		if err != nil {
			return fmt.Errorf("TLS_CERT_FILE: %w", err)
		}
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.GetCertificate}
		baseURL = "https://" + ln.Addr().String()
	}

	var issuer *devissuer.Issuer
	if cfg.Dev {
		if issuer, err = devissuer.New(baseURL + "/"); err != nil {
			return err
		}
		cfg.Issuer, cfg.Audience, cfg.JWKSURL = issuer.URL(), devissuer.Audience, issuer.JWKSURL()
		cfg.Issuers = []issuerConfig{{Issuer: cfg.Issuer, Audiences: []string{cfg.Audience}, Algorithms: cfg.Algorithms, JWKSURL: cfg.JWKSURL}}
		disc.PublicURL = baseURL // its tokens name it too: a resource it accepts
		issuer.WithResource(baseURL)
	}

	auth, err := startAuth(ctx, cfg, logger, reg)
	if err != nil {
		return err
	}

	tr, err := startTracing(ctx, getenv, traceCfg, logger)
	if err != nil {
		return err
	}
	defer stopTracing(ctx, tr, logger)
	var verify gate.Verifier = auth.verifier
	var decide gate.Decider = engine
	if tr != nil {
		verify, decide = tr.Verifier(auth.verifier), tr.Decider(engine)
	}

	policyReady, policyDetails := engine.ReadinessCheck()
	var shuttingDown atomic.Bool
	opts := api.Options{
		Gate:     newGate(verify, decide, cfg, reg),
		Logger:   logger,
		Registry: reg,
		Realm:    cfg.realm(),
		Readiness: []api.ReadinessCheck{
			{Name: "policy", Check: policyReady, Details: policyDetails},
			auth.readiness(),
		},
		ShuttingDown: &shuttingDown,
		CORSOrigins:  cfg.CORSOrigins,
		Resource:     protectedResource(cfg, disc, engine),
	}
	if issuer != nil {
		opts.Extra = issuer.Routes()
	}
	applyFaces(&opts, cfg)
	stopAdmin, err := startAdmin(ctx, cfg, opts, logger)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           tracedHandler(tr, api.NewServer(opts)),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		TLSConfig:         tlsConfig,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		// Requests in flight at shutdown finish: their context does not end
		// with the signal's (Shutdown waits for them, up to its deadline).
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	// The banner comes before the listening line, which tests (and
	// people) take as the sign that everything is printed.
	if issuer != nil {
		if err := printDevBanner(stdout, issuer, baseURL); err != nil {
			return err
		}
	}
	serveErr := make(chan error, 2)
	shutdownGRPC, err := startGRPC(cfg.GRPC, tracedGRPCGate(tr, opts.Gate), denial.NewRenderer(cfg.realm(), opts.Resource.MetadataURL()), readiness(opts.Readiness, &shuttingDown), logger, serveErr)
	if err != nil {
		return err
	}
	go func() {
		if tlsConfig != nil {
			serveErr <- srv.ServeTLS(ln, "", "") // the certificate comes from TLSConfig
			return
		}
		serveErr <- srv.Serve(ln)
	}()
	logger.Info("listening", "addr", ln.Addr().String(), "issuers", cfg.issuerNames(), "realm", cfg.realm(), "dev", cfg.Dev,
		"tls", tlsConfig != nil, "version", build.Version)

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shuttingDown.Store(true)
	if cfg.ShutdownDelay > 0 {
		// Load balancers see /readyz fail and stop sending; requests that
		// still arrive are served meanwhile.
		logger.Info("not ready; serving on until SHUTDOWN_DELAY has passed", "delay", cfg.ShutdownDelay.String())
		select {
		case <-time.After(cfg.ShutdownDelay):
		case err := <-serveErr:
			return fmt.Errorf("serve: %w", err)
		}
	}
	logger.Info("shutting down")
	shutdownCtx, cancelShutdown := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancelShutdown()
	grpcDone := make(chan error, 1)
	go func() { grpcDone <- shutdownGRPC(shutdownCtx) }() // with the HTTP listener
	return drained(logger, srv.Shutdown(shutdownCtx), stopAdmin(shutdownCtx), <-grpcDone)
}

// drained is the outcome of the listeners' shutdowns. Running out of the
// shutdown bound is how a drain ends while long-lived streams are open (a
// proxied event stream; a WebSocket tunnel, hijacked, is not waited for):
// logged, and cut as the
// process exits, not a failure (systemd and Kubernetes would report a
// non-zero status as one). Any other error is.
func drained(logger *slog.Logger, errs ...error) error {
	var failed []error
	cut := false
	for _, err := range errs {
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			cut = true
		case err != nil:
			failed = append(failed, err)
		}
	}
	if cut {
		logger.Warn("connections still open after the shutdown bound are cut", "bound", shutdownTimeout.String())
	}
	if err := errors.Join(failed...); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
