package authz

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/plugins"
	"github.com/open-policy-agent/opa/v1/plugins/rest"
)

// A policy folder's checked version reaches OPA's bundle plugin from
// memory: the folder's bundle is configured with a service whose HTTP
// client is stage itself (an OPA auth plugin may supply a service's
// client), so nothing is written to disk. A scratch image has no /tmp,
// and a read-only root file system has nowhere else to write.
const (
	stageName     = "policygate_folder" // the plugin and its service
	stageResource = "bundle.tar.gz"
	// stageURL is never dialled: stage answers every request itself.
	stageURL = "http://policygate-folder.invalid"
)

// stage holds the folder version to activate next, as a bundle archive.
type stage struct {
	mu  sync.Mutex
	raw []byte
}

func (s *stage) set(raw []byte) {
	s.mu.Lock()
	s.raw = raw
	s.mu.Unlock()
}

// config is the OPA configuration that serves the staged bundle as
// bundle name, downloaded only when triggered.
func (s *stage) config(name string) map[string]any {
	return map[string]any{
		"services": map[string]any{
			stageName: map[string]any{"url": stageURL, "credentials": map[string]any{"plugin": stageName}},
		},
		"bundles": map[string]any{
			name: map[string]any{"service": stageName, "resource": stageResource, "trigger": "manual"},
		},
		"plugins": map[string]any{stageName: map[string]any{}},
	}
}

// RoundTrip answers the bundle plugin's download with the staged archive.
func (s *stage) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		req.Body.Close()
	}
	resp := &http.Response{
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{},
		Request: req,
	}
	s.mu.Lock()
	raw := s.raw
	s.mu.Unlock()
	if req.Method != http.MethodGet || !strings.HasSuffix(req.URL.Path, "/"+stageResource) || raw == nil {
		resp.StatusCode, resp.Status = http.StatusNotFound, "404 Not Found"
		resp.Body = http.NoBody
		return resp, nil
	}
	resp.StatusCode, resp.Status = http.StatusOK, "200 OK"
	resp.Header.Set("Content-Type", "application/gzip")
	resp.Header.Set("Content-Length", strconv.Itoa(len(raw)))
	resp.ContentLength = int64(len(raw))
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	return resp, nil
}

// stageFactory makes the plugin that lends stage to the service.
type stageFactory struct{ s *stage }

func (stageFactory) Validate(*plugins.Manager, []byte) (any, error) { return nil, nil }

func (f stageFactory) New(m *plugins.Manager, _ any) plugins.Plugin {
	return &stagePlugin{s: f.s, m: m}
}

// stagePlugin is an OPA plugin and a rest.HTTPAuthPlugin.
type stagePlugin struct {
	s *stage
	m *plugins.Manager
}

func (p *stagePlugin) Start(context.Context) error {
	p.m.UpdatePluginStatus(stageName, &plugins.Status{State: plugins.StateOK})
	return nil
}

func (*stagePlugin) Stop(context.Context)             {}
func (*stagePlugin) Reconfigure(context.Context, any) {}

func (p *stagePlugin) NewClient(rest.Config) (*http.Client, error) {
	return &http.Client{Transport: p.s}, nil
}

func (*stagePlugin) Prepare(*http.Request) error { return nil }
