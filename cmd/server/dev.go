package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/policygate/policygate/internal/devissuer"
)

// printDevBanner prints ready-to-paste tokens and curl lines.
func printDevBanner(w io.Writer, issuer *devissuer.Issuer, baseURL string) error {
	plain, err := issuer.Mint(devissuer.MintOptions{TTL: devissuer.MaxTTL})
	if err != nil {
		return err
	}
	scoped, err := issuer.Mint(devissuer.MintOptions{Scopes: []string{"read:messages"}, TTL: devissuer.MaxTTL})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, `
policygate dev mode: issuer %s (key made at start, kept in memory only)
audience %s; tokens below are valid for 24h and only against this process.

Token without scopes:
  export TOKEN=%s
Token with read:messages:
  export SCOPED_TOKEN=%s

Try (expected status at the end of each line):
  curl -i %[5]s/api/public                                                         # 200
  curl -i -H "Authorization: Bearer %[4]s" %[5]s/api/private           # 200
  curl -i -H "Authorization: Bearer %[4]s" %[5]s/api/private-scoped    # 200
  curl -i %[5]s/api/private                                                        # 401
  curl -i -H "Authorization: Bearer %[3]s" %[5]s/api/private-scoped    # 403

More tokens: go run ./cmd/server token --scope read:messages

`, issuer.URL(), devissuer.Audience, plain, scoped, baseURL)
	return nil
}

// runToken asks a running dev server for a token and prints it, so that
// TOKEN=$(go run ./cmd/server token --scope read:messages) works.
func runToken(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var scopes multiFlag
	fs.Var(&scopes, "scope", "scope to grant; repeat or separate with spaces")
	sub := fs.String("sub", "", "subject (default dev-user)")
	ttl := fs.Duration("ttl", time.Hour, "lifetime, at most 24h")
	addr := defaultDevListenAddr
	if a := getenv("LISTEN_ADDR"); a != "" {
		addr = a
		if strings.HasPrefix(a, ":") {
			addr = "127.0.0.1" + a
		}
	}
	fs.StringVar(&addr, "addr", addr, "address of the running dev server")
	if err := fs.Parse(args); err != nil {
		return err
	}
	q := url.Values{}
	if len(scopes) > 0 {
		q.Set("scope", strings.Join(scopes, " "))
	}
	if *sub != "" {
		q.Set("sub", *sub)
	}
	q.Set("ttl", ttl.String())
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/dev/token?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("no dev server at %s (start one with: go run ./cmd/server --dev): %w", addr, err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil {
		return fmt.Errorf("dev server at %s: %s", addr, resp.Status)
	}
	if resp.StatusCode != http.StatusOK || body.AccessToken == "" {
		return fmt.Errorf("dev server at %s: %s: %s", addr, body.Error, body.Description)
	}
	fmt.Fprintln(stdout, body.AccessToken)
	return nil
}

type multiFlag []string

func (m *multiFlag) String() string { return strings.Join(*m, " ") }

func (m *multiFlag) Set(v string) error {
	*m = append(*m, strings.Fields(v)...)
	return nil
}
