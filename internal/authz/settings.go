package authz

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/util"
)

// The rules for the settings an operator gives the engine (OPA_CONFIG):
// what an OPA configuration file must hold. Where a policy folder's tests
// live is package policy's TestDirs.

// maxOPAConfigBytes bounds an OPA configuration file.
const maxOPAConfigBytes = 1 << 20

// ReadOPAConfig reads an OPA configuration file (YAML or JSON) for
// Config.OPAConfig and expands its ${VAR}s from getenv, as `opa run` does
// (the SDK does not): only the braced form, so $VAR and $$ stay as written
// and a "$" in a credential survives. A variable that is not set is an
// error, not an empty string: a missing bundle credential should stop the
// server, not make every download fail. So is a configuration without
// bundles or discovery, under which no policy would ever load.
//
// A full-line comment (a line whose first non-blank character is "#") is
// left as written: a ${VAR} in it is neither expanded nor required, so a
// commented-out setting or a note about variables does not stop the
// server. Only whole lines count: a ${VAR} after a value on the same line
// ("url: ${URL} # ...") is expanded and required, and a line of a block
// scalar that starts with "#" counts as a comment too.
func ReadOPAConfig(path string, getenv func(string) string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(raw) > maxOPAConfigBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxOPAConfigBytes)
	}
	var unset []string
	expand := func(ref string) string {
		name := ref[2 : len(ref)-1]
		v := getenv(name)
		if v == "" && !slices.Contains(unset, name) {
			unset = append(unset, name)
		}
		return v
	}
	var b strings.Builder
	for line := range strings.Lines(string(raw)) {
		if strings.HasPrefix(strings.TrimLeft(line, " \t"), "#") {
			b.WriteString(line)
			continue
		}
		b.WriteString(bracedVarRE.ReplaceAllStringFunc(line, expand))
	}
	expanded := b.String()
	if len(unset) > 0 {
		return nil, fmt.Errorf("%s uses unset variables: %s", path, strings.Join(unset, ", "))
	}
	var m map[string]any
	if err := util.Unmarshal([]byte(expanded), &m); err != nil {
		return nil, fmt.Errorf("%s is not YAML or JSON: %v", path, err)
	}
	if m["bundles"] == nil && m["discovery"] == nil {
		return nil, fmt.Errorf("%s configures no bundles (nor discovery): no policy would ever load", path)
	}
	return []byte(expanded), nil
}

// bracedVarRE matches ${NAME}, the one form of variable that OPA's own
// configuration loader expands.
var bracedVarRE = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*\}`)
