package authn

import "context"

// Observer learns what one Verify did, for tracing. Attach it to the
// context passed to Verify with WithObserver; without one, Verify does
// nothing extra.
type Observer struct {
	// CacheHit is set when the token cache answered (no signature check).
	CacheHit bool
	// KeyFetch, when set, is called when this verification waits for a
	// fetch of the key set (a token naming a key not in the set); the
	// function it returns is called when the wait ends, with the key set's
	// last fetch error (nil after a success).
	KeyFetch func() (done func(err error))
}

type observerKey struct{}

// WithObserver returns ctx carrying o.
func WithObserver(ctx context.Context, o *Observer) context.Context {
	return context.WithValue(ctx, observerKey{}, o)
}

func observerFrom(ctx context.Context) *Observer {
	o, _ := ctx.Value(observerKey{}).(*Observer)
	return o
}

// observeFetch tells ctx's observer that a wait for a key fetch starts,
// and returns what to call when it ends.
func (k *KeySet) observeFetch(ctx context.Context) func() {
	o := observerFrom(ctx)
	if o == nil || o.KeyFetch == nil {
		return func() {}
	}
	done := o.KeyFetch()
	return func() { done(k.LastError()) }
}
