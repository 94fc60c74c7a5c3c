package authntest

import (
	"context"
	"testing"
	"time"
)

// KeySet is what a test does with an authn.KeySet. It is declared here
// because authn's own tests import this package, which therefore cannot
// import authn.
type KeySet interface {
	Run(ctx context.Context)
	Ready() <-chan struct{}
	LastError() error
}

// keysWait bounds the wait for a first fetch from a provider on loopback:
// generous, since only a broken key set takes this long.
const keysWait = 10 * time.Second

// RunKeys runs keys until the test ends. It does not wait for a fetch:
// tests of a failing provider start the key set before it answers.
func RunKeys(t testing.TB, keys KeySet) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go keys.Run(ctx)
}

// AwaitKeys waits for keys' first successful fetch and fails the test with
// the last fetch error when none comes within 10 seconds.
func AwaitKeys(t testing.TB, keys KeySet) {
	t.Helper()
	select {
	case <-keys.Ready():
	case <-time.After(keysWait):
		t.Fatalf("keys not fetched within %v: %v", keysWait, keys.LastError())
	}
}

// StartKeys runs keys until the test ends and waits for their first fetch.
func StartKeys(t testing.TB, keys KeySet) {
	t.Helper()
	RunKeys(t, keys)
	AwaitKeys(t, keys)
}
