package extauthz_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/policygate/policygate/internal/authn"
	"github.com/policygate/policygate/internal/extauthz"
)

// wireCodec sends a message already in its wire form ([]byte) and reads
// the answer with the proto codec: the generated client would refuse to
// marshal a string field that is not UTF-8, Envoy's C++ encoder does not.
type wireCodec struct{}

func (wireCodec) Marshal(v any) ([]byte, error)      { return v.([]byte), nil }
func (wireCodec) Unmarshal(data []byte, v any) error { return proto.Unmarshal(data, v.(proto.Message)) }
func (wireCodec) Name() string                       { return "proto" }

// TestInvalidUTF8Closed: a check whose path, query or host is not UTF-8
// fails in grpc-go's decoding of the message, INTERNAL, before the face
// runs; Envoy answers that with status_on_error, never an allow
// (docs/envoy.md says so). The bytes are swapped into the marshalled
// message in place, lengths unchanged: no protobuf is written by hand.
func TestInvalidUTF8Closed(t *testing.T) {
	s := newStack(t, authn.KeySetConfig{})
	_, addr := serve(t, extauthz.Config{Gate: s.gate, Renderer: s.render})
	conn := dial(t, addr, nil)
	tests := []struct {
		name, host, path string
		placeholder, bad string // replaced in the wire bytes
	}{
		// the same path, left valid: decided (OK), so the codec is not the cause
		{name: "control", host: "api.example.com", path: "/api/public?a=~", placeholder: "?a=~", bad: "?a=b"},
		{name: "path", host: "api.example.com", path: "/api/public~", placeholder: "/api/public~", bad: "/api/public\xff"},
		{name: "query", host: "api.example.com", path: "/api/public?a=~", placeholder: "?a=~", bad: "?a=\xff"},
		{name: "host", host: "api.example.co~", path: "/api/public", placeholder: "api.example.co~", bad: "api.example.co\xff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wire, err := proto.Marshal(checkRequest("GET", tt.host, tt.path, nil))
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Count(wire, []byte(tt.placeholder)) != 1 {
				t.Fatalf("placeholder %q not once in the message", tt.placeholder)
			}
			wire = bytes.Replace(wire, []byte(tt.placeholder), []byte(tt.bad), 1)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			resp := &authv3.CheckResponse{}
			err = conn.Invoke(ctx, "/envoy.service.auth.v3.Authorization/Check", wire, resp, grpc.ForceCodec(wireCodec{}))
			if tt.name == "control" {
				if err != nil || resp.GetOkResponse() == nil {
					t.Fatalf("Check(%q) = %v, %v; want an OK response", tt.bad, resp, err)
				}
				return
			}
			if status.Code(err) != codes.Internal {
				t.Fatalf("Check(%q) = %v, %v; want INTERNAL from the message's decoding", tt.bad, resp, err)
			}
		})
	}
}
