package extauthz

import (
	"context"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/tap"
)

// maxStreams bounds the calls one connection may have open at once. A
// stream holds memory while its message arrives (up to MaxRecvMsgSize),
// so without a bound one client connection could hold any amount open.
// 100 is the least HTTP/2 recommends (RFC 9113, section 6.5.2) and what
// Envoy advises for its own edge listeners; Envoy's connection pool opens
// another connection when a server's limit is reached, and gRPC clients
// queue the call.
const maxStreams = 100

// boundReceive returns the tap that gives every call, before its message
// is read, a deadline of maxDeadline from its first frame: a client that
// sends a check's headers and then never finishes its message would
// otherwise hold the stream forever (gRPC sets a deadline only from the
// caller's grpc-timeout). The Check handler reads that deadline like the
// caller's own and answers within it (Server.decide). A health watch is
// long-lived by design: its bound covers its message only. The common
// case costs no allocation: a caller that sends its own, shorter deadline.
func boundReceive(maxDeadline time.Duration) tap.ServerInHandle {
	return func(ctx context.Context, info *tap.Info) (context.Context, error) {
		if info.FullMethodName == healthpb.Health_Watch_FullMethodName {
			// A watch is long-lived once it runs; only its message has the
			// bound, lifted by the handler (receivedWatch).
			ctx, cancel := context.WithCancel(ctx)
			return context.WithValue(ctx, watchBound{}, time.AfterFunc(maxDeadline, cancel)), nil
		}
		// A caller's grpc-timeout within the bound already ends the
		// stream (gRPC resets it then): Envoy always sends one.
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= maxDeadline {
			return ctx, nil
		}
		// gRPC cancels the stream's context, this one's parent, when the
		// stream ends, which also stops this timer.
		ctx, cancel := context.WithTimeout(ctx, maxDeadline)
		_ = cancel
		return ctx, nil
	}
}

// watchBound keys the timer that ends a health watch whose message has not
// arrived within the bound.
type watchBound struct{}

// receivedWatch lifts the bound of a health watch whose message arrived
// (its handler runs).
func receivedWatch(ctx context.Context) {
	if t, ok := ctx.Value(watchBound{}).(*time.Timer); ok {
		t.Stop()
	}
}
