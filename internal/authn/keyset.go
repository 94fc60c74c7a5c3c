package authn

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/policygate/policygate/internal/redact"
)

// KeySetConfig says where the signing keys come from and how often to look.
type KeySetConfig struct {
	// JWKSURL is the key set's address. When empty, it is discovered from
	// Issuer's /.well-known/openid-configuration (its jwks_uri).
	JWKSURL string
	// Issuer is used for discovery only; its document must name the same issuer.
	Issuer string
	// Client fetches keys; nil means a client with FetchTimeout.
	Client *http.Client
	Logger *slog.Logger

	// MinRefresh and MaxRefresh bound the refresh interval taken from the
	// provider's Cache-Control max-age; DefaultRefresh applies without one.
	MinRefresh, MaxRefresh, DefaultRefresh time.Duration
	// UnknownKIDInterval is the least time between two fetches caused by
	// tokens naming a key we do not have, so random kids cannot hammer the
	// provider.
	UnknownKIDInterval time.Duration
	// FetchTimeout bounds one fetch (discovery plus key set).
	FetchTimeout time.Duration
	// MaxRetryDelay caps the backoff between failed fetches.
	MaxRetryDelay time.Duration
	// Rand returns a number in [0, 1) for the retry jitter; nil means
	// math/rand/v2's Float64. Tests set it to get exact delays.
	Rand func() float64
}

func (c *KeySetConfig) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.FetchTimeout <= 0 {
		c.FetchTimeout = 10 * time.Second
	}
	if c.Client == nil {
		c.Client = &http.Client{Timeout: c.FetchTimeout, CheckRedirect: checkKeyRedirect}
	}
	if c.MinRefresh <= 0 {
		c.MinRefresh = time.Minute
	}
	if c.MaxRefresh <= 0 {
		c.MaxRefresh = time.Hour
	}
	if c.DefaultRefresh <= 0 {
		c.DefaultRefresh = 15 * time.Minute
	}
	if c.UnknownKIDInterval <= 0 {
		c.UnknownKIDInterval = 5 * time.Second
	}
	if c.MaxRetryDelay <= 0 {
		c.MaxRetryDelay = 30 * time.Second
	}
	if c.Rand == nil {
		c.Rand = rand.Float64
	}
}

// KeySet holds the provider's current signing keys. It is fetched before
// serving, refreshed in the background, refetched (rate-limited) when a token
// names an unknown kid, and kept when the provider fails.
type KeySet struct {
	cfg     KeySetConfig
	current atomic.Pointer[keyIndex]
	ready   chan struct{} // closed after the first successful fetch

	mu          sync.Mutex
	inflight    chan struct{} // non-nil while a fetch runs
	lastFetch   time.Time     // start of the last fetch, for the unknown-kid rate limit
	lastErr     error
	jwksURL     string // resolved (configured or discovered)
	nextRefresh time.Duration
	readyOnce   sync.Once
	fetchCount  atomic.Int64
}

// NewKeySet returns a key set that has fetched nothing yet; call Run.
func NewKeySet(cfg KeySetConfig) *KeySet {
	cfg.setDefaults()
	return &KeySet{cfg: cfg, ready: make(chan struct{}), jwksURL: cfg.JWKSURL}
}

// Ready is closed once keys were fetched successfully at least once.
func (k *KeySet) Ready() <-chan struct{} { return k.ready }

// Fetches reports how many fetches were started; for tests and metrics.
func (k *KeySet) Fetches() int64 { return k.fetchCount.Load() }

// LastError is the error of the latest fetch, nil after a success.
func (k *KeySet) LastError() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.lastErr
}

// Run fetches the keys and keeps them fresh until ctx ends: on success it
// waits for the provider's max-age (bounded), on failure it retries with
// backoff while the previous keys stay in use.
func (k *KeySet) Run(ctx context.Context) {
	failures := 0
	for {
		err := k.fetchShared(ctx)
		var wait time.Duration
		if err == nil {
			failures = 0
			k.mu.Lock()
			wait = k.nextRefresh
			k.mu.Unlock()
		} else {
			wait = retryDelay(failures, k.cfg.MaxRetryDelay, k.cfg.Rand)
			failures++
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// firstRetryDelay is the backoff after the first failed fetch; it doubles
// with every further failure up to MaxRetryDelay.
const firstRetryDelay = 250 * time.Millisecond

// retryDelay is the wait after the (failures+1)th failed fetch in a row:
// exponential backoff with equal jitter, a random point in [d/2, d) where
// d doubles from firstRetryDelay up to maxDelay. Without the jitter a fleet
// that saw an identity provider fail at once would retry it in lock-step;
// the half that is not random keeps each replica from retrying at once.
func retryDelay(failures int, maxDelay time.Duration, random func() float64) time.Duration {
	d := firstRetryDelay
	for i := 0; i < failures && d < maxDelay; i++ {
		d *= 2
	}
	d = min(d, maxDelay)
	return d/2 + time.Duration(random()*float64(d/2))
}

// lookup finds the key for a token header's kid (or the candidates when the
// token names none). On an unknown kid it refetches the set, at most once per
// UnknownKIDInterval, and waits for that fetch within ctx.
func (k *KeySet) lookup(ctx context.Context, kid string) ([]*verificationKey, error) {
	idx := k.current.Load()
	if idx == nil {
		return nil, &Error{Err: ErrKeysUnavailable, Description: "signing keys are not available yet"}
	}
	if kid == "" {
		return idx.all, nil
	}
	if key, ok := idx.byKID[kid]; ok {
		return []*verificationKey{key}, nil
	}
	if k.refreshForUnknownKID(ctx) {
		if key, ok := k.current.Load().byKID[kid]; ok {
			return []*verificationKey{key}, nil
		}
	}
	return nil, invalid("signing key not found")
}

// refreshForUnknownKID starts or joins a fetch unless one started within
// UnknownKIDInterval. It reports whether a fetch finished while waiting.
func (k *KeySet) refreshForUnknownKID(ctx context.Context) bool {
	k.mu.Lock()
	ch := k.inflight
	if ch == nil {
		if time.Since(k.lastFetch) < k.cfg.UnknownKIDInterval {
			k.mu.Unlock()
			return false
		}
		ch = k.startFetchLocked(context.WithoutCancel(ctx))
	}
	k.mu.Unlock()
	defer k.observeFetch(ctx)()
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		return false
	}
}

// fetchShared starts a fetch or joins the running one, and waits for it.
func (k *KeySet) fetchShared(ctx context.Context) error {
	k.mu.Lock()
	ch := k.inflight
	if ch == nil {
		ch = k.startFetchLocked(ctx)
	}
	k.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
		return ctx.Err()
	}
	return k.LastError()
}

// startFetchLocked runs one fetch in its own goroutine, so a caller that
// gives up does not cancel it for the others. k.mu must be held.
func (k *KeySet) startFetchLocked(ctx context.Context) chan struct{} {
	ch := make(chan struct{})
	k.inflight = ch
	k.lastFetch = time.Now()
	k.fetchCount.Add(1)
	go func() {
		ctx, cancel := context.WithTimeout(ctx, k.cfg.FetchTimeout)
		defer cancel()
		idx, maxAge, err := k.fetch(ctx)
		k.mu.Lock()
		k.lastErr = err
		revoked := false
		switch {
		case err == nil:
			k.current.Store(idx)
			k.nextRefresh = k.refreshInterval(maxAge)
		case errors.Is(err, errNoSigningKeys) && k.current.Load() != nil:
			// The provider publishes a key set without a usable key: the
			// keys in use are revoked, and every token is refused (a
			// failed fetch, retried as one) until it publishes one again.
			// Before the first keys, it is a failed fetch like any other.
			k.current.Store(&keyIndex{byKID: map[string]*verificationKey{}, fetched: time.Now()})
			revoked = true
		}
		k.inflight = nil
		k.mu.Unlock()
		switch {
		case revoked:
			k.cfg.Logger.Error("the identity provider publishes no usable signing key; every token is refused until it does", "err", redact.URLs(err.Error()))
		case err != nil:
			msg := "signing keys fetch failed; keeping the previous keys"
			switch cur := k.current.Load(); {
			case cur == nil:
				msg = "signing keys fetch failed; no keys yet, token checks are answered 503"
			case len(cur.all) == 0:
				msg = "signing keys fetch failed; the provider revoked its keys, every token is refused until a fetch brings one"
			}
			k.cfg.Logger.Warn(msg, "err", redact.URLs(err.Error()))
		default:
			k.cfg.Logger.Info("signing keys fetched", "keys", len(idx.all), "next_refresh", k.nextRefreshString())
			k.readyOnce.Do(func() { close(k.ready) })
		}
		close(ch)
	}()
	return ch
}

func (k *KeySet) nextRefreshString() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.nextRefresh.String()
}

func (k *KeySet) refreshInterval(maxAge time.Duration) time.Duration {
	if maxAge < 0 {
		return k.cfg.DefaultRefresh
	}
	return min(max(maxAge, k.cfg.MinRefresh), k.cfg.MaxRefresh)
}
