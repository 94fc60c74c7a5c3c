package extauthz

import (
	"context"
	"log/slog"
	"runtime/debug"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// recoverUnary keeps a panic in one call from ending the process. net/http
// confines a handler's panic to its request; grpc-go does not, so without
// this a bug reachable from one check would take every check down. The
// call fails as INTERNAL, which Envoy (failure_mode_allow: false) answers
// with status_on_error, 403 by default: closed.
func recoverUnary(logger *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if p := recover(); p != nil {
				logger.Error("gRPC call panicked; answered INTERNAL", "face", "grpc", "method", info.FullMethod, "panic", p, "stack", string(debug.Stack()))
				resp, err = nil, status.Error(codes.Internal, "internal error")
			}
		}()
		return handler(ctx, req)
	}
}
