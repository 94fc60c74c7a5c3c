package extauthz

import (
	"context"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// watchInterval is how often a Watch stream re-reads readiness.
const watchInterval = time.Second

// health is grpc.health.v1 for Kubernetes probes and Envoy's health
// checks: SERVING exactly while ready() is nil, read on every call, so it
// says what /readyz would say at that moment (shutdown included).
type health struct {
	healthpb.UnimplementedHealthServer
	ready func() error
	// stopping closes when the server shuts down: Watch streams then say
	// NOT_SERVING and end, so a graceful stop does not wait for them.
	stopping <-chan struct{}
}

// services are the names health answers for: the server as a whole ("")
// and the Check service.
var services = [...]string{"", authv3.Authorization_ServiceDesc.ServiceName}

func known(service string) bool { return service == services[0] || service == services[1] }

func (h *health) status() healthpb.HealthCheckResponse_ServingStatus {
	if h.ready != nil && h.ready() != nil {
		return healthpb.HealthCheckResponse_NOT_SERVING
	}
	return healthpb.HealthCheckResponse_SERVING
}

func (h *health) Check(_ context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if !known(req.GetService()) {
		return nil, status.Errorf(codes.NotFound, "unknown service %q", req.GetService())
	}
	return &healthpb.HealthCheckResponse{Status: h.status()}, nil
}

func (h *health) List(context.Context, *healthpb.HealthListRequest) (*healthpb.HealthListResponse, error) {
	st := h.status()
	resp := &healthpb.HealthListResponse{Statuses: map[string]*healthpb.HealthCheckResponse{}}
	for _, s := range services {
		resp.Statuses[s] = &healthpb.HealthCheckResponse{Status: st}
	}
	return resp, nil
}

// Watch sends the status now and again whenever it changes, until the
// caller leaves or the server stops.
func (h *health) Watch(req *healthpb.HealthCheckRequest, stream grpc.ServerStreamingServer[healthpb.HealthCheckResponse]) error {
	receivedWatch(stream.Context())
	if !known(req.GetService()) {
		return stream.Send(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVICE_UNKNOWN})
	}
	t := time.NewTicker(watchInterval)
	defer t.Stop()
	last := healthpb.HealthCheckResponse_UNKNOWN
	for {
		if st := h.status(); st != last {
			if err := stream.Send(&healthpb.HealthCheckResponse{Status: st}); err != nil {
				return err
			}
			last = st
		}
		select {
		case <-stream.Context().Done():
			return status.FromContextError(stream.Context().Err()).Err()
		case <-h.stopping:
			return stream.Send(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_NOT_SERVING})
		case <-t.C:
		}
	}
}
