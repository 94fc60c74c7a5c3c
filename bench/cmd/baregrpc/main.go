// Command baregrpc is the gRPC load comparison's floor: go-control-plane's
// Check server answering every check OK, checking nothing. What the load
// client measures against it is the transport alone (gRPC, HTTP/2, the
// loopback and the client's own share of the cores): every target's
// checks/s sits under it and every p99 over it.
package main

import (
	"context"
	"flag"
	"log"
	"net"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
)

type allowAll struct {
	authv3.UnimplementedAuthorizationServer
}

func (allowAll) Check(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return &authv3.CheckResponse{Status: &status.Status{}}, nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9193", "listen address")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	// The transport settings of policygate's gRPC listener
	// (internal/extauthz/listen.go), so that the floor is the same
	// transport: fixed flow-control windows and a pool of stream workers.
	srv := grpc.NewServer(
		grpc.InitialWindowSize(256<<10),
		grpc.InitialConnWindowSize(1<<20),
		grpc.NumStreamWorkers(64),
	)
	authv3.RegisterAuthorizationServer(srv, allowAll{})
	log.Fatal(srv.Serve(ln))
}
