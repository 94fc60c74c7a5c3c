package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/policygate/policygate/internal/authn"
	"github.com/policygate/policygate/internal/authz"
)

// exitError ends the process with its code; decide exits 1 on a denial and
// 2 on bad usage or input, with msg (when set) as the one line on stderr.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// badInput is decide's exit 2: one clear line.
func badInput(format string, args ...any) error {
	return &exitError{code: 2, msg: "decide: " + fmt.Sprintf(format, args...)}
}

const decideUsage = `usage: server decide [flags] METHOD PATH
       server decide --table FILE.csv|FILE.json

Evaluates the policy the server would load (POLICY_DIR, ./policies, the
embedded copy, or OPA_CONFIG's bundles downloaded once) for one request,
without listening, and prints the decision. Exit status: 0 allowed, 1 denied
(or, with --table, any case not as expected), 2 bad usage or input.

flags (before or after METHOD PATH):
  --token JWT        a bearer token, verified as the server would (AUTH_ISSUER,
                     AUTH_AUDIENCE, AUTH_JWKS_URL...; fetches the signing keys);
                     - reads it from stdin (a command line is visible to ps)
  --claims FILE      a token payload (JSON object; - for stdin), NOT verified
  --host H           the request's host
  --json             print the decision as one JSON object
  --explain MODE     print OPA's trace: notes (trace() and print() output) or
                     full (every step, as opa eval --explain full)
  --bundle FILE      evaluate this bundle archive (opa build) instead
  --table FILE       check many cases (.csv with a header row, or .json);
                     see docs/decide.md
`

// decideFlags are decide's command line.
type decideFlags struct {
	token, claims, host, explain, bundle, table string
	json                                        bool
	method, path                                string
}

func parseDecideFlags(args []string, stderr io.Writer) (decideFlags, error) {
	var f decideFlags
	fs := flag.NewFlagSet("decide", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors become one line; --help prints below
	fs.StringVar(&f.token, "token", "", "")
	fs.StringVar(&f.claims, "claims", "", "")
	fs.StringVar(&f.host, "host", "", "")
	fs.BoolVar(&f.json, "json", false, "")
	fs.StringVar(&f.explain, "explain", "", "")
	fs.StringVar(&f.bundle, "bundle", "", "")
	fs.StringVar(&f.table, "table", "", "")
	// Flags may follow METHOD PATH: parse, take one argument, go on.
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(stderr, decideUsage)
				return f, err
			}
			return f, badInput("%v (see server decide --help)", err)
		}
		if fs.NArg() == 0 {
			break
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	switch {
	case f.token != "" && f.claims != "":
		return f, badInput("--token and --claims exclude each other")
	case f.table != "" && (len(pos) > 0 || f.token != "" || f.claims != "" || f.host != ""):
		return f, badInput("--table takes its cases from the file: no METHOD PATH, --token, --claims or --host")
	case f.table != "":
		return f, nil
	case len(pos) != 2:
		return f, badInput("want METHOD PATH, e.g. server decide GET /api/private (see server decide --help)")
	}
	f.method, f.path = pos[0], pos[1]
	if f.explain != "" {
		if _, err := authz.ParseExplainMode(f.explain); err != nil {
			return f, badInput("--%v", err)
		}
	}
	return f, nil
}

// runDecide is `server decide`.
func runDecide(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f, err := parseDecideFlags(args, stderr)
	if err != nil {
		return err
	}
	if f.token == "-" {
		if f.token, err = readToken(os.Stdin); err != nil {
			return badInput("--token -: %v", err)
		}
	}
	var claims []byte
	if f.claims != "" {
		if claims, err = readClaimsFile(f.claims); err != nil {
			return badInput("--claims %s: %v", f.claims, err)
		}
	}
	env, err := withDotEnv(getenv, ".env")
	if err != nil {
		return badInput("%v", err)
	}
	d, err := newDecider(ctx, env, f.bundle, f.token != "")
	if err != nil {
		return err
	}
	defer d.stop(ctx)
	if f.table != "" {
		return d.runTable(ctx, f.table, f.json, stdout)
	}

	c := decideCase{method: f.method, path: f.path, host: f.host, token: f.token, claims: claims}
	mode := authz.ExplainNone
	if f.explain != "" {
		mode, _ = authz.ParseExplainMode(f.explain)
	}
	res, err := d.decide(ctx, c, mode)
	if err != nil {
		return err
	}
	if f.claims != "" {
		res.Identity = "claims from " + f.claims + " (not verified)"
	}
	if f.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		printDecision(stdout, res)
	}
	if !res.Allowed {
		return &exitError{code: 1}
	}
	return nil
}

// readToken reads a token from r: its first line, trimmed.
func readToken(r io.Reader) (string, error) {
	raw, err := io.ReadAll(io.LimitReader(r, authn.MaxTokenBytes+2))
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	token := strings.TrimSpace(line)
	if token == "" {
		return "", errors.New("no token on stdin")
	}
	return token, nil
}

// readClaimsFile reads a JSON object from path, or stdin for "-".
func readClaimsFile(path string) ([]byte, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		file, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer file.Close()
		r = file
	}
	raw, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, fmt.Errorf("not a JSON object: %s", jsonProblem(err))
	}
	return raw, nil
}

// jsonProblem is a JSON error without Go's type names.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	switch {
	case err == nil:
		return "null"
	case errors.As(err, &syn):
		return fmt.Sprintf("%v (at byte %d)", syn, syn.Offset)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return "a JSON " + typ.Value
	}
	return err.Error()
}

// printDecision prints a decision for people.
func printDecision(w io.Writer, r decideResult) {
	verdict := "DENY"
	if r.Allowed {
		verdict = "ALLOW"
	}
	line := func(label, value string) { fmt.Fprintf(w, "%-17s %s\n", label+":", value) }
	line("decision", fmt.Sprintf("%s (%d%s)", verdict, r.Status, prefixed(" ", r.Error)))
	line("reason", r.Reason)
	if r.Description != "" {
		line("description", r.Description)
	}
	line("request", strings.TrimSpace(r.Method+" "+r.Path+prefixed(" host ", r.Host)))
	line("identity", r.Identity)
	line("matched routes", listOrNone(r.Routes))
	line("required scopes", listOrNone(r.RequiredScopes))
	line("missing scopes", listOrNone(r.MissingScopes))
	line("granted scopes", listOrNone(r.GrantedScopes))
	line("policy", r.Policy.Source+prefixed(", revision ", r.Policy.Revision))
	if r.DecisionID != "" {
		line("decision id", r.DecisionID)
	}
	if r.Challenge != "" {
		line("WWW-Authenticate", r.Challenge)
	}
	if r.EngineError != "" {
		line("engine error", r.EngineError)
	}
	if r.Allowed {
		fmt.Fprintln(w, "headers an allow sends upstream:")
		for _, h := range r.Headers {
			fmt.Fprintf(w, "  %s: %s\n", h.Name, h.Value)
		}
		for _, name := range r.Removed {
			fmt.Fprintf(w, "  %s: (removed)\n", name)
		}
	}
	for _, p := range r.Prints {
		fmt.Fprintln(w, "print:", p)
	}
	if r.Trace != "" || r.explained {
		fmt.Fprintln(w, "trace:")
		if r.Trace == "" {
			fmt.Fprintln(w, "  (no notes: add trace(sprintf(...)) or print(...) to a rule, or use --explain full)")
		}
		fmt.Fprint(w, r.Trace)
	}
}

func prefixed(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "(none)"
	}
	return strings.Join(l, " ")
}
