package authn

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
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

// maxJWKSBytes bounds what we read from the provider.
const maxJWKSBytes = 1 << 20

// minRSABits is the smallest RSA modulus we accept in a key set.
const minRSABits = 2048

// verificationKey is one public key from the set, ready for use.
type verificationKey struct {
	kid string
	alg string // the key's own "alg", or "" when the provider did not pin one
	pub any    // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
}

// keyIndex is an immutable snapshot of the key set.
type keyIndex struct {
	byKID   map[string]*verificationKey
	all     []*verificationKey
	fetched time.Time
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
		return nil, &Error{Kind: ErrKeysUnavailable, Description: "signing keys are not available yet"}
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
		if err == nil {
			k.current.Store(idx)
			k.nextRefresh = k.refreshInterval(maxAge)
		}
		k.inflight = nil
		k.mu.Unlock()
		if err != nil {
			k.cfg.Logger.Warn("signing keys fetch failed; keeping the previous keys", "err", err)
		} else {
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

// fetch downloads and parses the key set; maxAge is -1 without Cache-Control.
func (k *KeySet) fetch(ctx context.Context) (*keyIndex, time.Duration, error) {
	jwksURL, err := k.resolveJWKSURL(ctx)
	if err != nil {
		return nil, 0, err
	}
	body, header, err := k.get(ctx, jwksURL)
	if err != nil {
		return nil, 0, fmt.Errorf("fetch jwks %s: %w", jwksURL, err)
	}
	idx, err := parseKeySet(body)
	if err != nil {
		return nil, 0, fmt.Errorf("parse jwks %s: %w", jwksURL, err)
	}
	idx.fetched = time.Now()
	return idx, cacheMaxAge(header.Get("Cache-Control")), nil
}

func (k *KeySet) resolveJWKSURL(ctx context.Context) (string, error) {
	k.mu.Lock()
	u := k.jwksURL
	k.mu.Unlock()
	if u != "" {
		return u, nil
	}
	discoveryURL := DiscoveryURL(k.cfg.Issuer)
	body, _, err := k.get(ctx, discoveryURL)
	if err != nil {
		return "", fmt.Errorf("fetch discovery %s: %w", discoveryURL, err)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("parse discovery %s: %w", discoveryURL, err)
	}
	if doc.Issuer != k.cfg.Issuer {
		return "", fmt.Errorf("discovery %s names issuer %q, want %q", discoveryURL, doc.Issuer, k.cfg.Issuer)
	}
	if err := CheckKeyURL(doc.JWKSURI); err != nil {
		return "", fmt.Errorf("discovery %s: jwks_uri: %w", discoveryURL, err)
	}
	k.mu.Lock()
	k.jwksURL = doc.JWKSURI
	k.mu.Unlock()
	return doc.JWKSURI, nil
}

// DiscoveryURL is where an OpenID provider publishes its configuration.
func DiscoveryURL(issuer string) string {
	return strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
}

// CheckKeyURL accepts https URLs, and http only for loopback hosts (tests,
// the dev issuer): keys fetched in clear text could be swapped on the way.
func CheckKeyURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	if u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if IsLoopbackHost(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%q must use https (http is allowed for loopback only)", raw)
	default:
		return fmt.Errorf("%q must use https", raw)
	}
}

// checkKeyRedirect holds every redirect of a key or discovery fetch to the
// rule of CheckKeyURL: without it, a provider (or a CDN before it) that
// redirects to plain http would have the keys fetched in clear text.
func checkKeyRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return errors.New("stopped after 5 redirects")
	}
	if err := CheckKeyURL(req.URL.String()); err != nil {
		return fmt.Errorf("redirect: %w", err)
	}
	return nil
}

// IsLoopbackHost reports whether host names this machine only: the name
// localhost, or an IP literal in 127.0.0.0/8 or ::1 (IPv4-mapped
// ::ffff:127.x.y.z too), with or without brackets. A host name that merely
// starts with "127." (127.attacker.example) is resolved by DNS like any
// other name, so it is not loopback.
func IsLoopbackHost(host string) bool {
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	if strings.Contains(host, "%") {
		return false // a zone (fe80::1%eth0) is never loopback
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

func (k *KeySet) get(ctx context.Context, u string) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.cfg.Client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("status %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, nil, err
	}
	if len(body) > maxJWKSBytes {
		return nil, nil, fmt.Errorf("larger than %d bytes", maxJWKSBytes)
	}
	return body, resp.Header, nil
}

// parseKeySet keeps the usable public signature keys of a JWKS. Symmetric
// keys are never used: HMAC with a published key set is an attack, not a
// configuration.
func parseKeySet(body []byte) (*keyIndex, error) {
	set, err := jwk.Parse(body)
	if err != nil {
		return nil, err
	}
	idx := &keyIndex{byKID: make(map[string]*verificationKey, set.Len())}
	var skipped []string
	for i := range set.Len() {
		key, _ := set.Key(i)
		vk, err := toVerificationKey(key)
		if err != nil {
			kid, _ := key.KeyID()
			skipped = append(skipped, fmt.Sprintf("%q: %v", kid, err))
			continue
		}
		if vk.kid != "" {
			if _, dup := idx.byKID[vk.kid]; dup {
				return nil, fmt.Errorf("duplicate kid %q", vk.kid)
			}
			idx.byKID[vk.kid] = vk
		}
		idx.all = append(idx.all, vk)
	}
	if len(idx.all) == 0 {
		if len(skipped) > 0 {
			return nil, fmt.Errorf("no usable signing key (skipped %s)", strings.Join(skipped, "; "))
		}
		return nil, errors.New("no keys")
	}
	return idx, nil
}

func toVerificationKey(key jwk.Key) (*verificationKey, error) {
	if use, ok := key.KeyUsage(); ok && use != "sig" {
		return nil, fmt.Errorf("use %q is not sig", use)
	}
	kid, _ := key.KeyID()
	vk := &verificationKey{kid: kid}
	if alg, ok := key.Algorithm(); ok {
		vk.alg = alg.String()
	}
	pubKey, err := key.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("no public key: %w", err)
	}
	var raw any
	if err := jwk.Export(pubKey, &raw); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	switch pub := raw.(type) {
	case *rsa.PublicKey:
		if pub.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("RSA key of %d bits is weaker than %d", pub.N.BitLen(), minRSABits)
		}
	case *ecdsa.PublicKey, ed25519.PublicKey:
	default:
		return nil, fmt.Errorf("key type %T cannot verify signatures here", raw)
	}
	vk.pub = raw
	return vk, nil
}

// cacheMaxAge returns the max-age of a Cache-Control value, 0 for no-cache
// or no-store, and -1 when it says nothing usable.
func cacheMaxAge(v string) time.Duration {
	if v == "" {
		return -1
	}
	for _, d := range strings.Split(v, ",") {
		d = strings.ToLower(strings.TrimSpace(d))
		switch {
		case d == "no-cache" || d == "no-store":
			return 0
		case strings.HasPrefix(d, "max-age="):
			n, err := strconv.ParseInt(strings.Trim(d[len("max-age="):], `"`), 10, 64)
			if err != nil || n < 0 {
				return -1
			}
			if n > int64(365*24*time.Hour/time.Second) {
				n = int64(365 * 24 * time.Hour / time.Second)
			}
			return time.Duration(n) * time.Second
		}
	}
	return -1
}
