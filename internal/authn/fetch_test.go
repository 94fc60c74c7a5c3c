package authn_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/policygate/policygate/internal/authn"
	"github.com/policygate/policygate/internal/authn/authntest"
	"github.com/policygate/policygate/internal/testwait"
)

func TestIsLoopbackHost(t *testing.T) {
	tests := []struct {
		name string
		host string
		want bool
	}{
		{name: "localhost", host: "localhost", want: true},
		{name: "localhost_upper", host: "LOCALHOST", want: true},
		{name: "ipv4_loopback", host: "127.0.0.1", want: true},
		{name: "ipv4_loopback_range", host: "127.255.0.9", want: true},
		{name: "ipv6_loopback", host: "::1", want: true},
		{name: "ipv6_loopback_brackets", host: "[::1]", want: true},
		{name: "ipv4_mapped_loopback", host: "::ffff:127.0.0.1", want: true},
		{name: "ipv4_mapped_loopback_brackets", host: "[::ffff:127.0.0.1]", want: true},
		{name: "name_starting_127", host: "127.attacker.example", want: false},
		{name: "name_127_0_0_1_suffix", host: "127.0.0.1.attacker.example", want: false},
		{name: "localhost_subdomain", host: "localhost.attacker.example", want: false},
		{name: "short_ipv4", host: "127.1", want: false},
		{name: "ipv4_public", host: "10.0.0.1", want: false},
		{name: "ipv4_mapped_public", host: "::ffff:10.0.0.1", want: false},
		{name: "ipv6_zone", host: "::1%lo", want: false},
		{name: "empty", host: "", want: false},
		{name: "unspecified", host: "0.0.0.0", want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := authn.IsLoopbackHost(tc.host); got != tc.want {
				t.Errorf("IsLoopbackHost(%q) = %v, want %v", tc.host, got, tc.want)
			}
		})
	}
}

func TestCheckKeyURLLoopback(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		wantErr bool
	}{
		{name: "http_loopback_ip", url: "http://127.0.0.1:8080/jwks.json"},
		{name: "http_localhost", url: "http://localhost/jwks.json"},
		{name: "http_ipv6_loopback", url: "http://[::1]:8080/jwks.json"},
		{name: "http_ipv4_mapped_loopback", url: "http://[::ffff:127.0.0.1]:8080/jwks.json"},
		{name: "https_anything", url: "https://127.attacker.example/jwks.json"},
		{name: "http_name_starting_127", url: "http://127.attacker.example/jwks.json", wantErr: true},
		{name: "http_name_starting_127_port", url: "http://127.0.0.1.nip.example:80/jwks.json", wantErr: true},
		{name: "https_with_credentials", url: "https://user:s3cret@idp.example.com/jwks.json", wantErr: true},
		{name: "https_with_user", url: "https://token@idp.example.com/jwks.json", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := authn.CheckKeyURL(tc.url)
			if (err != nil) != tc.wantErr {
				t.Errorf("CheckKeyURL(%q) = %v, want error %v", tc.url, err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("CheckKeyURL(%q) = %v: the error shows the password", tc.url, err)
			}
		})
	}
}

// TestKeyFetchRefusesDowngradeRedirect: keys are fetched over https (http
// only for loopback), and a redirect must obey the same rule, or a
// provider's redirect to plain http would let the network swap the keys.
// The refused target is a host name that only looks like loopback
// (127.attacker.example): a reserved name, so a regression that followed
// it would fail to resolve rather than reach beyond this machine.
func TestKeyFetchRefusesDowngradeRedirect(t *testing.T) {
	for _, tt := range []struct {
		name      string
		target    func(p *authntest.Provider) string
		wantReady bool
	}{
		{"to_loopback_http", func(p *authntest.Provider) string { return p.JWKSURL() + "?moved=1" }, true},
		{"to_non_loopback_http", func(p *authntest.Provider) string {
			return strings.Replace(p.JWKSURL(), "127.0.0.1", "127.attacker.example", 1) + "?moved=1"
		}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := authntest.NewProvider(t)
			p.SetHandler(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Query().Get("moved") != "" {
					p.ServeKeys(w, r)
					return
				}
				http.Redirect(w, r, tt.target(p), http.StatusFound)
			})
			lab := startFaultLab(t, p, authn.KeySetConfig{MaxRetryDelay: 20 * time.Millisecond})
			if tt.wantReady {
				authntest.AwaitKeys(t, lab.keys)
				lab.mustAccept(t, "valid token", p.Token(t, nil))
				return
			}
			lab.awaitFailedFetches(t, 0, 2)
			select {
			case <-lab.keys.Ready():
				t.Fatal("keys were fetched through a redirect to plain http")
			default:
			}
			if err := lab.keys.LastError(); err == nil || !strings.Contains(err.Error(), "https") {
				t.Errorf("LastError() = %v, want a refusal naming https", err)
			}
			lab.mustRefuse(t, "valid token", p.Token(t, nil), authn.ErrKeysUnavailable)
		})
	}
}

func TestCheckKeyURL(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		wantErr string // a substring of the error, or "" for accepted
	}{
		{name: "https", url: "https://idp.example/.well-known/jwks.json"},
		{name: "http_public_host", url: "http://idp.example/jwks.json", wantErr: "must use https"},
		{name: "other_scheme", url: "ftp://idp.example/jwks.json", wantErr: "must use https"},
		{name: "relative", url: "/.well-known/jwks.json", wantErr: "not an absolute URL"},
		{name: "empty", url: "", wantErr: "not an absolute URL"},
		{name: "not_a_url", url: "https://[::1/jwks.json", wantErr: "not a URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := authn.CheckKeyURL(tc.url)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("CheckKeyURL(%q) = %v, want error containing %q", tc.url, err, tc.wantErr)
			}
		})
	}
}

// TestDiscoveryRefused: keys are never fetched from what a discovery
// document names unless it is the configured issuer's own document and
// names a key URL that obeys CheckKeyURL; the key set stays not ready and
// says why.
func TestDiscoveryRefused(t *testing.T) {
	tests := []struct {
		name    string
		doc     func(issuer, jwksURL string) string
		wantErr string
	}{
		{name: "other_issuer", doc: func(issuer, jwksURL string) string {
			return `{"issuer":"https://other.example/","jwks_uri":"` + jwksURL + `"}`
		}, wantErr: `names issuer "https://other.example/"`},
		{name: "jwks_uri_plain_http", doc: func(issuer, jwksURL string) string {
			return `{"issuer":"` + issuer + `","jwks_uri":"http://idp.example/jwks.json"}`
		}, wantErr: "jwks_uri: \"http://idp.example/jwks.json\" must use https"},
		{name: "jwks_uri_missing", doc: func(issuer, jwksURL string) string {
			return `{"issuer":"` + issuer + `"}`
		}, wantErr: "jwks_uri: \"\" is not an absolute URL"},
		{name: "not_json", doc: func(issuer, jwksURL string) string { return "<html></html>" }, wantErr: "parse discovery"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := authntest.NewProvider(t)
			mux := http.NewServeMux()
			idp := httptest.NewServer(mux)
			t.Cleanup(idp.Close)
			issuer := idp.URL + "/"
			mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, tc.doc(issuer, p.JWKSURL()))
			})
			keys := authn.NewKeySet(authn.KeySetConfig{Issuer: issuer, MaxRetryDelay: 20 * time.Millisecond})
			authntest.RunKeys(t, keys)
			if !testwait.Until(10*time.Second, func() bool { return keys.Fetches() >= 3 && keys.LastError() != nil }) {
				t.Fatalf("after %d fetches the last error is %v; want 2 failed fetches", keys.Fetches(), keys.LastError())
			}
			select {
			case <-keys.Ready():
				t.Fatal("key set is ready through a refused discovery document")
			default:
			}
			if err := keys.LastError(); !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("LastError() = %v, want it to contain %q", err, tc.wantErr)
			}
			if n := p.JWKSRequests(); n != 0 {
				t.Errorf("the key URL was fetched %d times, want never", n)
			}
		})
	}
}

func TestCheckIssuer(t *testing.T) {
	tests := []struct {
		name    string
		issuer  string
		wantErr string // a substring of the error, or "" for accepted
	}{
		{name: "auth0_style", issuer: "https://tenant.example.com/"},
		{name: "no_trailing_slash", issuer: "https://idp.example.com/realms/main"},
		{name: "http_loopback", issuer: "http://127.0.0.1:3010/"},
		{name: "query", issuer: "https://idp.example.com/?x=1", wantErr: "query or fragment"},
		{name: "empty_query", issuer: "https://idp.example.com/?", wantErr: "query or fragment"},
		{name: "fragment", issuer: "https://idp.example.com/#f", wantErr: "query or fragment"},
		{name: "empty_fragment", issuer: "https://idp.example.com/#", wantErr: "query or fragment"},
		{name: "http_public", issuer: "http://idp.example.com/", wantErr: "must use https"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := authn.CheckIssuer(tc.issuer)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("CheckIssuer(%q) = %v, want nil", tc.issuer, err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("CheckIssuer(%q) = %v, want an error with %q", tc.issuer, err, tc.wantErr)
			}
		})
	}
}
