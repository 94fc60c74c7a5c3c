package authn_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/policygate/policygate/internal/authn"
	"github.com/policygate/policygate/internal/authn/authntest"
)

// FuzzParseAuthorization feeds arbitrary Authorization header values (none,
// one or two of them) to the parser. It must never panic, must answer with
// exactly one of: a token, ErrNoCredentials, ErrMalformedRequest, and a
// token it returns must be the single token68 value after "Bearer ".
func FuzzParseAuthorization(f *testing.F) {
	for _, seed := range []struct {
		a, b string
		n    uint8
	}{
		{"", "", 0},
		{"", "", 1},
		{"Bearer abc.def.ghi", "", 1},
		{"bearer abc.def.ghi", "", 1},
		{"BEARER abc==", "", 1},
		{"Bearer", "", 1},
		{"Bearer ", "", 1},
		{"Bearer a b", "", 1},
		{"Bearer a", "Bearer b", 2},
		{"Basic dXNlcjpwYXNz", "", 1},
		{"Bearerabc", "", 1},
		{"Bearer\tabc", "", 1},
		{"Bearer a=b", "", 1},
		{"  Bearer   abc  ", "", 1},
		{"Bearer \x00", "", 1},
		{"Bearer é", "", 1},
	} {
		f.Add(seed.a, seed.b, seed.n)
	}
	f.Fuzz(func(t *testing.T, a, b string, n uint8) {
		values := []string{a, b}[:n%3]
		if n%3 == 0 {
			values = nil
		}
		tok, err := authn.ParseAuthorization(values)
		if err != nil {
			if tok != "" {
				t.Fatalf("ParseAuthorization(%q) = %q with error %v", values, tok, err)
			}
			noCreds, bad := errors.Is(err, authn.ErrNoCredentials), errors.Is(err, authn.ErrMalformedRequest)
			if noCreds == bad {
				t.Fatalf("ParseAuthorization(%q) error %v is not exactly one of ErrNoCredentials, ErrMalformedRequest", values, err)
			}
			if bad && authn.Description(err) == "" {
				t.Fatalf("ParseAuthorization(%q) error %v has no description", values, err)
			}
			return
		}
		if len(values) != 1 {
			t.Fatalf("ParseAuthorization(%q) = %q: accepted %d headers", values, tok, len(values))
		}
		v := strings.Trim(values[0], " \t")
		if len(v) < 8 || !strings.EqualFold(v[:7], "bearer ") {
			t.Fatalf("ParseAuthorization(%q) = %q: accepted without a Bearer scheme and a space", values, tok)
		}
		if got := strings.TrimLeft(v[7:], " "); got != string(tok) {
			t.Fatalf("ParseAuthorization(%q) = %q, want %q", values, tok, got)
		}
		for _, c := range []byte(tok) {
			if !isToken68Char(c) {
				t.Fatalf("ParseAuthorization(%q) = %q: byte %q is not token68", values, tok, c)
			}
		}
	})
}

func isToken68Char(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte("-._~+/=", c) >= 0
}

// FuzzVerify feeds arbitrary strings to a verifier holding a real key set.
// Nothing the fuzzer makes can carry a valid signature of the test's fresh
// key, so every input must be refused with ErrInvalidToken and a
// description, without panicking. The one exception is a seed that is the
// valid token itself (or differs from it only in how its signature bytes
// are encoded): the signed header and payload must then be unchanged.
func FuzzVerify(f *testing.F) {
	p := authntest.NewProvider(f)
	keys := authn.NewKeySet(authn.KeySetConfig{JWKSURL: p.JWKSURL(), UnknownKIDInterval: time.Hour})
	authntest.StartKeys(f, keys)
	v, err := authn.NewVerifier(keys, authn.VerifierConfig{
		Issuer: p.Issuer, Audience: authntest.Audience, Algorithms: []string{"RS256", "ES256"}, ClockSkew: 30 * time.Second,
	})
	if err != nil {
		f.Fatal(err)
	}
	valid := p.Token(f, map[string]any{"scope": "read:messages"})
	signed := valid[:strings.LastIndexByte(valid, '.')]
	if _, err := v.Verify(context.Background(), authn.Token(valid)); err != nil {
		f.Fatalf("Verify(valid token) = %v", err)
	}
	f.Add(valid)
	f.Add(signed + ".")
	f.Add(signed)
	f.Add(valid + ".x")
	f.Add(authntest.Segment(f, map[string]any{"alg": "none"}) + "." + authntest.Segment(f, p.Claims()) + ".")
	f.Add(authntest.Segment(f, map[string]any{"alg": "HS256", "kid": "key-1"}) + "." + authntest.Segment(f, p.Claims()) + ".c2ln")
	f.Add(authntest.Segment(f, map[string]any{"alg": "RS256", "kid": "../../etc/passwd"}) + "." + authntest.Segment(f, p.Claims()) + ".c2ln")
	f.Add(authntest.Segment(f, map[string]any{"alg": "RS256", "crit": []string{"exp"}}) + "." + authntest.Segment(f, p.Claims()) + ".c2ln")
	f.Add(authntest.Segment(f, []byte(`{"alg":"RS256","kid":[[[[[[[[[[[[]]]]]]]]]]]]}`)) + ".e30.c2ln")
	f.Add("")
	f.Add("..")
	f.Add("a.b.c")
	f.Add("eyJ.eyJ.eyJ")

	f.Fuzz(func(t *testing.T, raw string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		claims, err := v.Verify(ctx, authn.Token(raw))
		if err == nil {
			i := strings.LastIndexByte(raw, '.')
			if i < 0 || raw[:i] != signed || claims.Subject != "auth0|alice" {
				t.Fatalf("Verify(%q) accepted a token that is not the signed one: %+v", raw, claims.Payload())
			}
			return
		}
		if !errors.Is(err, authn.ErrInvalidToken) {
			t.Fatalf("Verify(%q) = %v, want ErrInvalidToken", raw, err)
		}
		if claims != nil {
			t.Fatalf("Verify(%q) returned claims with error %v", raw, err)
		}
		if authn.Description(err) == "" {
			t.Fatalf("Verify(%q) error %v has no description", raw, err)
		}
	})
}
