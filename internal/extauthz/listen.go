package extauthz

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"sync"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

	"github.com/policygate/policygate/internal/denial"
)

// MaxRecvMsgSize bounds one incoming message. A CheckRequest holds the
// request's headers (Envoy's own limit is 60 KiB by default) and, only
// when with_request_body is configured, part of the body: 1 MiB leaves
// room for both. A larger check fails as RESOURCE_EXHAUSTED, which Envoy
// answers with status_on_error (403 by default): closed, not open.
const MaxRecvMsgSize = 1 << 20

// The flow-control windows per stream and per connection (the latter
// holds no memory: gRPC acknowledges connection data as it arrives).
const (
	streamWindow = 256 << 10
	connWindow   = 1 << 20
)

// handshakeTimeout bounds a new connection's TLS handshake and HTTP/2
// preface; stopWait bounds how long Shutdown waits after cutting checks off.
const (
	handshakeTimeout = 5 * time.Second
	stopWait         = time.Second
)

// streamWorkers is how many goroutines serve checks from a pool: more
// than the checks Envoy usually keeps in flight to one replica.
const streamWorkers = 64

// Config is what the gRPC listener needs.
type Config struct {
	Gate     Gate
	Renderer *denial.Renderer
	Logger   *slog.Logger
	// MaxDeadline caps how long a check waits (DefaultMaxDeadline if 0).
	MaxDeadline time.Duration
	// Ready reports nil while the service may answer checks; health says
	// NOT_SERVING otherwise. Nil means always ready.
	Ready func() error
	// TLS, when set, serves TLS (and verifies client certificates when
	// it says so); nil serves plaintext h2c.
	TLS *tls.Config
}

// Listener is the gRPC server: Check and grpc.health.v1.
type Listener struct {
	srv      *grpc.Server
	stopping chan struct{}
	once     sync.Once
}

// NewListener builds the gRPC server for cfg.
func NewListener(cfg Config) *Listener {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	maxDeadline := cfg.MaxDeadline
	if maxDeadline <= 0 {
		maxDeadline = DefaultMaxDeadline
	}
	opts := []grpc.ServerOption{
		grpc.UnaryInterceptor(recoverUnary(logger)),
		grpc.MaxRecvMsgSize(MaxRecvMsgSize),
		grpc.MaxConcurrentStreams(maxStreams),
		// A connection must finish its TLS handshake and HTTP/2 preface in
		// this time (gRPC's default is 120 s): a stop waits for
		// connections still at that stage, so an idle socket would hold a
		// SIGTERM for two minutes.
		grpc.ConnectionTimeout(handshakeTimeout),
		grpc.InTapHandle(boundReceive(maxDeadline)),
		// Envoy may ping idle connections to keep them; answering pings
		// every 10 s is cheap and avoids GOAWAY too_many_pings.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		// A check runs on the goroutine gRPC gives its stream, and the
		// gate's call depth grows a new goroutine's stack every time: a
		// pool keeps grown stacks (copystack fell from about 8% to 1.5% of
		// BenchmarkCheck's CPU). Streams past the pool get their own
		// goroutine as before, so the size bounds nothing.
		grpc.NumStreamWorkers(streamWorkers),
		// Fixed flow-control windows: setting them turns off gRPC's
		// bandwidth-delay estimation, which otherwise keeps a PING in
		// flight on every busy connection (and may grow a window to 16
		// MiB). A check is a few KiB; a stream window of 256 KiB takes a
		// check with a body up to that size in one round trip (a larger
		// message, up to MaxRecvMsgSize, still arrives, a round trip
		// later), and bounds what a client can park per stream.
		grpc.InitialWindowSize(streamWindow),
		grpc.InitialConnWindowSize(connWindow),
	}
	if cfg.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg.TLS)))
	}
	l := &Listener{srv: grpc.NewServer(opts...), stopping: make(chan struct{})}
	authv3.RegisterAuthorizationServer(l.srv, NewServer(cfg.Gate, cfg.Renderer, cfg.Logger, maxDeadline))
	healthpb.RegisterHealthServer(l.srv, &health{ready: cfg.Ready, stopping: l.stopping})
	return l
}

// Serve accepts connections on ln until Shutdown; it returns nil then.
func (l *Listener) Serve(ln net.Listener) error {
	if err := l.srv.Serve(ln); err != nil && err != grpc.ErrServerStopped {
		return err
	}
	return nil
}

// Shutdown stops accepting, lets checks in flight finish, and cuts them
// off when ctx ends.
func (l *Listener) Shutdown(ctx context.Context) error {
	l.once.Do(func() { close(l.stopping) })
	done := make(chan struct{})
	go func() {
		l.srv.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		l.srv.Stop()
		// Stop still waits for connections in their handshake (at most
		// handshakeTimeout); the process need not.
		select {
		case <-done:
		case <-time.After(stopWait):
		}
		return ctx.Err()
	}
}
