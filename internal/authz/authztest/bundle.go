package authztest

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/loader"
)

// KeyID is the key name bundles are signed with; an OPA configuration's
// keys section must use it.
const KeyID = "policygate"

// SigningKey is an RSA key for bundle signatures (RS256).
type SigningKey struct {
	private *rsa.PrivateKey
}

// NewSigningKey makes a 2048-bit RSA key.
func NewSigningKey(t testing.TB) *SigningKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &SigningKey{private: k}
}

// PrivatePEM is the key as `opa build --signing-key` reads it.
func (k *SigningKey) PrivatePEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k.private)}))
}

// PublicPEM is the verification key for an OPA configuration's keys.
func (k *SigningKey) PublicPEM(t testing.TB) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.private.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// Options shape a bundle.
type Options struct {
	Revision string
	// Key signs the bundle; nil leaves it unsigned.
	Key *SigningKey
	// Tamper, when set, edits the data after signing, as an attacker
	// between the build and the server would.
	Tamper func(data map[string]any)
	// BreakModule, when set, replaces the source of every module before
	// signing: a bundle that verifies but does not compile.
	BreakModule string
}

// Build returns the bundle archive (tar.gz) of a policy folder, leaving
// out *_test.rego files like `opa build --ignore '*_test.rego'`.
func Build(t testing.TB, dir string, o Options) []byte {
	t.Helper()
	b, err := loader.NewFileLoader().
		WithFS(os.DirFS(dir)).
		WithRegoVersion(ast.RegoV1).
		WithFilter(func(_ string, info fs.FileInfo, _ int) bool {
			return !info.IsDir() && strings.HasSuffix(info.Name(), "_test.rego")
		}).
		AsBundle(".")
	if err != nil {
		t.Fatalf("load %s as a bundle: %v", dir, err)
	}
	b.Manifest.Revision = o.Revision
	b.Manifest.Init()
	if o.BreakModule != "" {
		for i := range b.Modules {
			b.Modules[i].Raw = []byte(o.BreakModule)
		}
	}
	if o.Key != nil {
		if err := b.GenerateSignature(bundle.NewSigningConfig(o.Key.PrivatePEM(), "RS256", ""), KeyID, false); err != nil {
			t.Fatalf("sign bundle: %v", err)
		}
	}
	if o.Tamper != nil {
		o.Tamper(b.Data)
	}
	var buf bytes.Buffer
	if err := bundle.NewWriter(&buf).Write(*b); err != nil {
		t.Fatalf("write bundle: %v", err)
	}
	return buf.Bytes()
}
