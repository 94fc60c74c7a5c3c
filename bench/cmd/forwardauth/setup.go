package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/policygate/policygate/bench/internal/build"
	"github.com/policygate/policygate/bench/internal/idp"
	"github.com/policygate/policygate/bench/internal/proc"
	"github.com/policygate/policygate/bench/internal/wrk"
)

// world is what every run shares: binaries, tokens, URI lists, the policy
// copy, the identity provider.
type world struct {
	work, bench, policyDir string
	bins                   map[string]string
	provider               *idp.Provider
	tokenFiles             map[string]string // "distinct", "replayed"
	uriFiles               map[string]string // "literal", "ids"
	script                 string
	replayed, unscoped     string // one scoped and one unscoped token
}

func prepare(ctx context.Context, o options, repo, work string, out io.Writer) (*world, error) {
	bench, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	w := &world{work: work, bench: bench, bins: map[string]string{}}
	fmt.Fprintln(out, "building policygate, Oathkeeper and the helpers ...")
	for _, name := range []string{"policygate", "bare-chi", "hop"} {
		w.bins[name] = filepath.Join(work, name)
	}
	if err := build.Run(ctx,
		build.Binary{Dir: repo, Pkg: "./cmd/server", Out: w.bins["policygate"]},
		build.Binary{Dir: bench, Pkg: "./cmd/bare", Out: w.bins["bare-chi"]},
		build.Binary{Dir: bench, Pkg: "./cmd/hop", Out: w.bins["hop"]},
	); err != nil {
		return nil, err
	}
	if strings.Contains(o.only, "oathkeeper") {
		if w.bins["oathkeeper"], err = buildOathkeeper(ctx, o, bench); err != nil {
			return nil, err
		}
	}
	if w.policyDir, err = policyCopy(repo, work); err != nil {
		return nil, err
	}

	if w.provider, err = idp.Start(); err != nil {
		return nil, err
	}
	ttl := max(time.Hour, 3*time.Duration(o.rounds)*12*(o.duration+o.warmup))
	nDistinct := 0 // only the oathkeeper experiment sends distinct tokens
	if strings.Contains(o.only, "oathkeeper") {
		nDistinct = o.tokens
	}
	fmt.Fprintf(out, "minting %d distinct and %d replayed tokens (RS256, 2048-bit) ...\n", nDistinct, o.clients)
	mintStart := time.Now()
	distinct, err := w.provider.MintMany(nDistinct, "bench|distinct", "openid read:messages", ttl)
	if err != nil {
		return nil, err
	}
	replayed, err := w.provider.MintMany(o.clients, "bench|client", "openid read:messages", ttl)
	if err != nil {
		return nil, err
	}
	if w.unscoped, err = w.provider.Mint("bench|unscoped", "openid", ttl); err != nil {
		return nil, err
	}
	w.replayed = replayed[0]
	fmt.Fprintf(out, "minted in %s\n", time.Since(mintStart).Round(time.Millisecond))

	ids := make([]string, o.ids)
	for i := range ids {
		ids[i] = "/api/items/" + strconv.Itoa(i)
	}
	w.tokenFiles = map[string]string{"distinct": filepath.Join(work, "distinct.txt"), "replayed": filepath.Join(work, "replayed.txt")}
	w.uriFiles = map[string]string{"literal": filepath.Join(work, "literal.txt"), "ids": filepath.Join(work, "ids.txt")}
	files := map[string][]byte{
		w.tokenFiles["distinct"]: lines(distinct),
		w.tokenFiles["replayed"]: lines(replayed),
		w.uriFiles["literal"]:    lines([]string{"/api/private-scoped"}),
		w.uriFiles["ids"]:        lines(ids),
	}
	for name, b := range files {
		if err := os.WriteFile(name, b, 0o600); err != nil {
			return nil, err
		}
	}
	if w.script, err = wrk.WriteScript(work); err != nil {
		return nil, err
	}
	return w, nil
}

func lines(v []string) []byte { return []byte(strings.Join(v, "\n") + "\n") }

// startServers starts the servers the experiments need and waits until
// each is ready.
func startServers(ctx context.Context, o options, w *world, needed map[string]bool) (map[string]*server, error) {
	servers := map[string]*server{}
	addrs := map[string]string{}
	for _, name := range []string{"bare-chi", "hop", "hop-tuned", "policygate", "policygate-proxy", "oathkeeper", "oathkeeper-quiet"} {
		if name == "bare-chi" && (needed["hop"] || needed["hop-tuned"] || needed["policygate-proxy"]) {
			needed[name] = true
		}
		if !needed[name] {
			continue
		}
		addr, err := proc.FreeAddr()
		if err != nil {
			return servers, err
		}
		addrs[name] = addr
		base := "http://" + addr
		var cmd *exec.Cmd
		ready := base + "/api/public"
		policygate := func(bin string, extra ...string) *exec.Cmd {
			c := exec.Command(w.bins[bin])
			c.Env = append([]string{
				"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
				"AUTH_ISSUER=" + w.provider.Issuer, "AUTH_AUDIENCE=" + idp.Audience, "AUTH_JWKS_URL=" + w.provider.JWKSURL(),
				"LISTEN_ADDR=" + addr, "LOG_LEVEL=" + o.logLevel, "POLICY_DIR=" + w.policyDir,
			}, extra...)
			return c
		}
		switch name {
		case "bare-chi":
			cmd = exec.Command(w.bins["bare-chi"], "-addr", addr)
		case "hop":
			cmd = exec.Command(w.bins["hop"], "-addr", addr, "-upstream", "http://"+addrs["bare-chi"])
		case "hop-tuned":
			cmd = exec.Command(w.bins["hop"], "-addr", addr, "-upstream", "http://"+addrs["bare-chi"], "-max-idle-per-host", strconv.Itoa(2*o.connections))
		case "policygate":
			cmd, ready = policygate("policygate"), base+"/readyz"
		case "policygate-proxy":
			admin, err := proc.FreeAddr()
			if err != nil {
				return servers, err
			}
			cmd, ready = policygate("policygate", "UPSTREAM_URL=http://"+addrs["bare-chi"], "ADMIN_ADDR="+admin), "http://"+admin+"/readyz"
		case "oathkeeper", "oathkeeper-quiet":
			level := "info"
			if name == "oathkeeper-quiet" {
				level = "warn"
			}
			var err error
			if cmd, ready, err = oathkeeperCommand(w, addr, level); err != nil {
				return servers, err
			}
		}
		s, err := start(name, base, ready, w.work, cmd)
		if err != nil {
			return servers, err
		}
		servers[name] = s
	}
	for name, s := range servers {
		if err := s.waitReady(ctx, 90*time.Second); err != nil {
			return servers, fmt.Errorf("%w (log: %s)", err, filepath.Join(w.work, name+".log"))
		}
	}
	return servers, nil
}

// sanityCheck proves every row's request is allowed with a scoped token
// and, where something decides, refused (4xx) without a token and with an
// unscoped one: a comparison of servers that allow everything is void.
func sanityCheck(ctx context.Context, servers map[string]*server, exps []experiment, w *world) error {
	for _, e := range exps {
		for _, r := range e.rows {
			s := servers[r.load.server]
			uris, err := os.ReadFile(r.load.uris)
			if err != nil {
				return err
			}
			uri, _, _ := bytes.Cut(uris, []byte("\n"))
			url, header := s.base+string(uri), http.Header{}
			if r.load.forwarded {
				url = s.base + r.load.path
				header.Set("X-Forwarded-Method", "GET")
				header.Set("X-Forwarded-Uri", string(uri))
				header.Set("X-Forwarded-Host", forwardedHost)
			}
			cases := []struct {
				token string
				want  func(int) bool
			}{
				{w.replayed, func(s int) bool { return s == http.StatusOK }},
				{"", func(s int) bool { return s/100 == 4 }},
				{w.unscoped, func(s int) bool { return s/100 == 4 }},
			}
			if !strings.HasPrefix(r.load.server, "policygate") && !strings.HasPrefix(r.load.server, "oathkeeper") {
				cases = cases[:1]
			}
			for _, c := range cases {
				h := header.Clone()
				if c.token != "" {
					h.Set("Authorization", "Bearer "+c.token)
				}
				// The first call may wait for a key set fetch.
				var status int
				var body string
				for range 3 {
					if status, body, err = get(ctx, url, h); err == nil {
						break
					}
				}
				if err != nil {
					return fmt.Errorf("sanity check %s: %w", r.label, err)
				}
				if !c.want(status) {
					return fmt.Errorf("sanity check %s (%s, token %t) = %d %s", r.label, uri, c.token != "", status, body)
				}
			}
		}
	}
	return nil
}
