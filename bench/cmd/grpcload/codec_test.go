package main

import (
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"
)

// TestPreEncoded checks that the codec sends a prepared request's bytes
// (which decode to the request), marshals anything else itself,
// and decodes answers whole.
func TestPreEncoded(t *testing.T) {
	reqs := requests("/api/private-scoped", []string{"token-a", "token-b"})
	c, err := newPreEncoded(reqs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range reqs {
		got, err := c.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var back authv3.CheckRequest
		if err := proto.Unmarshal(got.Materialize(), &back); err != nil || !proto.Equal(&back, r) {
			t.Errorf("Marshal(request %d) does not decode to the request: %v", i, err)
		}
	}
	other := check("/api/public", "")
	got, err := c.Marshal(other)
	if err != nil {
		t.Fatal(err)
	}
	var back authv3.CheckRequest
	if err := proto.Unmarshal(got.Materialize(), &back); err != nil || !proto.Equal(&back, other) {
		t.Errorf("Marshal(unprepared request) does not decode to the request: %v", err)
	}
	health, err := c.Marshal(&healthpb.HealthCheckRequest{Service: "x"})
	if err != nil {
		t.Fatal(err)
	}
	var hc healthpb.HealthCheckRequest
	if err := c.Unmarshal(health, &hc); err != nil || hc.GetService() != "x" {
		t.Errorf("Unmarshal(health request) = %v, %q; want service x", err, hc.GetService())
	}
}
