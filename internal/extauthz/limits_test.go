package extauthz_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/policygate/policygate/internal/authn"
	"github.com/policygate/policygate/internal/extauthz"
)

// rawConn is an HTTP/2 connection to the gRPC listener driven frame by
// frame: what a hostile client can do and gRPC's own client never does.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	fr *http2.Framer
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	rc := &rawConn{t: t, c: c, fr: http2.NewFramer(c, c)}
	if err := rc.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return rc
}

// startCheck opens stream id for Check and sends part of a message: the
// gRPC prefix announces 1000 bytes, 10 follow, the stream stays open.
func (rc *rawConn) startCheck(id uint32) {
	rc.t.Helper()
	rc.startCall(id, "/envoy.service.auth.v3.Authorization/Check", append([]byte{0, 0, 0, 0x03, 0xe8}, make([]byte, 10)...), false)
}

// startCall opens stream id for method and sends data; end ends the
// client's side of the stream, as a client does after its one message.
func (rc *rawConn) startCall(id uint32, method string, data []byte, end bool) {
	rc.t.Helper()
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{
		{":method", "POST"}, {":scheme", "http"}, {":authority", "policygate"},
		{":path", method},
		{"content-type", "application/grpc"}, {"te", "trailers"},
	} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hb.Bytes(), EndHeaders: true}); err != nil {
		rc.t.Fatal(err)
	}
	if err := rc.fr.WriteData(id, end, data); err != nil {
		rc.t.Fatal(err)
	}
}

// until reads frames until match returns true; false when the connection
// ends or within passes first.
func (rc *rawConn) until(within time.Duration, match func(http2.Frame) bool) bool {
	rc.t.Helper()
	rc.c.SetReadDeadline(time.Now().Add(within))
	for {
		f, err := rc.fr.ReadFrame()
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				rc.t.Logf("read frame: %v", err)
			}
			return false
		}
		if s, ok := f.(*http2.SettingsFrame); ok && !s.IsAck() {
			rc.fr.WriteSettingsAck()
		}
		if match(f) {
			return true
		}
	}
}

// ended matches the end of stream id: a reset, or trailers (a status).
func ended(id uint32) func(http2.Frame) bool {
	return func(f http2.Frame) bool {
		switch f := f.(type) {
		case *http2.RSTStreamFrame:
			return f.StreamID == id
		case *http2.HeadersFrame:
			return f.StreamID == id && f.StreamEnded()
		}
		return false
	}
}

// TestStalledMessageEnds: a check whose message never finishes arriving
// ends at the check's deadline (GRPC_MAX_DEADLINE, from its first frame),
// also when the caller sends no deadline; it does not hold the stream.
func TestStalledMessageEnds(t *testing.T) {
	s := newStack(t, authn.KeySetConfig{})
	_, addr := serve(t, extauthz.Config{Gate: s.gate, Renderer: s.render, MaxDeadline: 300 * time.Millisecond})
	rc := dialRaw(t, addr)
	rc.startCheck(1)
	if !rc.until(10*time.Second, ended(1)) {
		t.Fatal("a stalled check was still open after 10s, want it ended at its 300ms deadline")
	}
}

// TestStalledWatchEnds: a health watch is long-lived once its message has
// arrived, not before: a stalled one ends at the bound like a check, so it
// holds neither a stream slot nor a graceful stop.
func TestStalledWatchEnds(t *testing.T) {
	s := newStack(t, authn.KeySetConfig{})
	_, addr := serve(t, extauthz.Config{Gate: s.gate, Renderer: s.render, MaxDeadline: 300 * time.Millisecond})
	rc := dialRaw(t, addr)
	const watch = "/grpc.health.v1.Health/Watch"
	rc.startCall(1, watch, []byte{0, 0, 0, 0x03, 0xe8, 0}, false)
	if !rc.until(10*time.Second, ended(1)) {
		t.Fatal("a watch whose message never finished was still open after 10s, want it ended at its 300ms bound")
	}
	// A whole (empty) HealthCheckRequest: the watch runs past the bound,
	// sending SERVING and then nothing while the status holds.
	rc.startCall(3, watch, []byte{0, 0, 0, 0, 0}, true)
	if rc.until(time.Second, ended(3)) {
		t.Error("a running watch ended within 1s, want it kept past the 300ms bound")
	}
}

// TestStreamsPerConnection: one connection may hold at most 100 calls at
// once; the server says so in its settings and refuses a 101st stream.
func TestStreamsPerConnection(t *testing.T) {
	s := newStack(t, authn.KeySetConfig{})
	_, addr := serve(t, extauthz.Config{Gate: s.gate, Renderer: s.render, MaxDeadline: 15 * time.Second})
	rc := dialRaw(t, addr)
	var advertised uint32
	rc.until(5*time.Second, func(f http2.Frame) bool {
		sf, ok := f.(*http2.SettingsFrame)
		if !ok || sf.IsAck() {
			return false
		}
		advertised, _ = sf.Value(http2.SettingMaxConcurrentStreams)
		return true
	})
	if advertised != 100 {
		t.Errorf("SETTINGS_MAX_CONCURRENT_STREAMS = %d, want 100", advertised)
	}
	const extra = 2*100 + 1 // the 101st stream's id
	for id := uint32(1); id <= extra; id += 2 {
		rc.startCheck(id)
	}
	refused := rc.until(5*time.Second, func(f http2.Frame) bool {
		r, ok := f.(*http2.RSTStreamFrame)
		return ok && r.StreamID == extra && r.ErrCode == http2.ErrCodeRefusedStream
	})
	if !refused {
		t.Error("the 101st concurrent stream was not refused (REFUSED_STREAM)")
	}
}

// TestShutdownWithIdleConnection: a connection that never sends its
// HTTP/2 preface holds a graceful stop only until the handshake timeout
// (5 s), not gRPC's default two minutes: SIGTERM drains within its bound.
func TestShutdownWithIdleConnection(t *testing.T) {
	s := newStack(t, authn.KeySetConfig{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := extauthz.NewListener(extauthz.Config{Gate: s.gate, Renderer: s.render})
	go l.Serve(ln)
	idle, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idle.Close() })
	time.Sleep(100 * time.Millisecond) // accepted, in its handshake
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- l.Shutdown(ctx) }()
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("Shutdown() = %v, want a graceful stop", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Shutdown() still waiting after 20s on a connection that never sent its preface")
	}
}
