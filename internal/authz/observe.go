package authz

import "context"

// Observer learns what one Decide did, for tracing. Attach it to the
// context passed to Decide with WithObserver; without one, Decide does
// nothing extra.
type Observer struct {
	// CacheHit is set when the decision cache answered.
	CacheHit bool
}

type observerKey struct{}

// WithObserver returns ctx carrying o.
func WithObserver(ctx context.Context, o *Observer) context.Context {
	return context.WithValue(ctx, observerKey{}, o)
}

// observeCacheHit tells ctx's observer that the cache answered.
func observeCacheHit(ctx context.Context) {
	if o, _ := ctx.Value(observerKey{}).(*Observer); o != nil {
		o.CacheHit = true
	}
}
