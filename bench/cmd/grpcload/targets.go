package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/policygate/policygate/bench/internal/idp"
	"github.com/policygate/policygate/bench/internal/proc"
)

// targetNames are the servers compared: policygate, the peer built as
// OPA users authorize Envoy traffic, and the bare transport.
var targetNames = []string{"policygate", "opa-envoy", "bare-grpc"}

// runsPerRound: every scenario against every target.
var runsPerRound = 2 * len(targetNames)

// target is one running server and the client connections to it.
type target struct {
	*proc.Server
	addr    string
	clients []authv3.AuthorizationClient
	conns   []*grpc.ClientConn
}

// startTarget starts the server name (built into work) on a free loopback
// address and opens o.conns connections to it that send with codec.
func startTarget(name, work, repo string, provider *idp.Provider, o options, codec *preEncoded) (*target, error) {
	addr, err := proc.FreeAddr()
	if err != nil {
		return nil, err
	}
	t := &target{addr: addr}
	bin := filepath.Join(work, name)
	cmd := exec.Command(bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	if o.serverGOGC != "" {
		cmd.Env = append(cmd.Env, "GOGC="+o.serverGOGC)
	}
	switch name {
	case "policygate":
		httpAddr, err := proc.FreeAddr()
		if err != nil {
			return nil, err
		}
		cmd.Env = append(cmd.Env,
			"AUTH_ISSUER="+provider.Issuer, "AUTH_AUDIENCE="+idp.Audience, "AUTH_JWKS_URL="+provider.JWKSURL(),
			"LISTEN_ADDR="+httpAddr, "GRPC_LISTEN_ADDR="+addr, "LOG_LEVEL="+o.logLevel,
			"POLICY_DIR="+filepath.Join(repo, "policies"),
		)
	case "opa-envoy":
		cmd.Args = append(cmd.Args, "-addr", addr, "-issuer", provider.Issuer, "-audience", idp.Audience, "-jwks-url", provider.JWKSURL())
		if o.jwtCache {
			cmd.Args = append(cmd.Args, "-jwt-cache")
		}
	case "bare-grpc":
		cmd.Args = append(cmd.Args, "-addr", addr)
	default:
		return nil, fmt.Errorf("unknown target %q", name)
	}
	if o.serverCPUs != "" {
		if err := pinTo(cmd, o.serverCPUs); err != nil {
			return nil, err
		}
	}
	if t.Server, err = proc.Start(name, work, cmd); err != nil {
		return nil, err
	}
	for range o.conns {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.ForceCodecV2(codec)))
		if err != nil {
			t.stop()
			return nil, err
		}
		t.conns = append(t.conns, conn)
		t.clients = append(t.clients, authv3.NewAuthorizationClient(conn))
	}
	return t, nil
}

func (t *target) waitReady(ctx context.Context, limit time.Duration, route, token string) error {
	err := t.WaitReady(ctx, limit, func(ctx context.Context) error {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if t.Name == "policygate" {
			h, err := healthpb.NewHealthClient(t.conns[0]).Check(cctx, &healthpb.HealthCheckRequest{})
			if err == nil && h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				err = errors.New("not serving")
			}
			return err
		}
		_, err := t.clients[0].Check(cctx, check(route, token))
		return err
	})
	if exited, _ := t.Exited(); err != nil && exited {
		b, _ := os.ReadFile(t.Log)
		return fmt.Errorf("%w\n%s", err, b)
	}
	return err
}

// sanityCheck makes sure both deciding targets give the same answers
// before any load: allowed with the scope, 403 without it, 401 without a
// token (bare-grpc allows everything by design).
func sanityCheck(ctx context.Context, targets map[string]*target, route, scoped, unscoped string) error {
	for _, name := range targetNames {
		if name == "bare-grpc" {
			continue
		}
		for _, c := range []struct {
			token  string
			status int
		}{{scoped, 200}, {unscoped, 403}, {"", 401}} {
			resp, err := targets[name].clients[0].Check(ctx, check(route, c.token))
			if err != nil {
				return fmt.Errorf("sanity check %s: %w", name, err)
			}
			got := 200
			if d := resp.GetDeniedResponse(); d != nil {
				got = int(d.GetStatus().GetCode())
			}
			if got != c.status {
				return fmt.Errorf("sanity check %s: status %d, want %d", name, got, c.status)
			}
		}
	}
	return nil
}

func (t *target) stop() {
	for _, c := range t.conns {
		c.Close()
	}
	t.Stop()
}

// pinTo makes cmd run on the CPUs in list only (taskset's list syntax),
// from its first instruction: Go sizes GOMAXPROCS by the CPUs a process
// may use when it starts.
func pinTo(cmd *exec.Cmd, list string) error {
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		return fmt.Errorf("-server-cpus needs taskset (util-linux): %w", err)
	}
	cmd.Args = append([]string{taskset, "-c", list}, cmd.Args...)
	cmd.Path = taskset
	return nil
}
