package authn

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// CheckAlgorithm is the rule for one configured algorithm name (an
// AUTH_ALGORITHMS entry, an issuer's algorithms): one of
// SupportedAlgorithms, spelled as listed. "none" and HMAC are refused
// with the reason, since someone may well try them.
func CheckAlgorithm(name string) error {
	switch {
	case strings.EqualFold(name, "none"):
		return errors.New(`"none" is never accepted: unsigned tokens prove nothing`)
	case strings.HasPrefix(strings.ToUpper(name), "HS"):
		return fmt.Errorf("%q is not accepted: HMAC with a published key set lets anyone forge tokens", name)
	case !slices.Contains(SupportedAlgorithms(), name):
		return fmt.Errorf("%q is not supported (use %s)", name, strings.Join(SupportedAlgorithms(), ", "))
	}
	return nil
}

// ParseAlgorithms reads a list of algorithm names separated by commas or
// spaces (AUTH_ALGORITHMS), each checked by CheckAlgorithm, duplicates
// dropped. Every refused name is an error of its own (errors.Join); a
// list that names nothing is an error too.
func ParseAlgorithms(list string) ([]string, error) {
	var algs []string
	var errs []error
	for _, a := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' }) {
		if err := CheckAlgorithm(a); err != nil {
			errs = append(errs, err)
		} else if !slices.Contains(algs, a) {
			algs = append(algs, a)
		}
	}
	if len(algs) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("lists no algorithm"))
	}
	return algs, errors.Join(errs...)
}
