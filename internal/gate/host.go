package gate

import (
	"errors"
	"net/netip"
	"strings"
)

// maxHostLen is DNS's limit on a name.
const maxHostLen = 253

// DescribeMissingHost describes the refusal of a request without a host,
// the same on every face (the JSON bodies of one refusal are the same
// bytes everywhere) and in the gate's own host rule.
const DescribeMissingHost = "the request's host is missing"

var (
	errHostMissing  = errors.New(DescribeMissingHost)
	errHostPort     = errors.New("host has an invalid port")
	errHostASCII    = errors.New("host is not ASCII (no IDNA mapping is done)")
	errHostDot      = errors.New("host has a trailing dot")
	errHostInvalid  = errors.New("host is not a valid name or address")
	errHostTooLong  = errors.New("host is too long")
	errHostIPv6Zone = errors.New("host is an IPv6 address with a zone")
)

// NormalizeHost turns a Host value (a header, :authority, or the host of an
// absolute URL) into the form host tables are keyed by: lower-case, port
// removed, IPv6 literals kept in brackets ("[::1]:8443" -> "[::1]"). It
// refuses non-ASCII hosts and a trailing dot rather than map them:
// proxies do not map them either, so policygate must not decide for a
// host the proxy routes elsewhere.
func NormalizeHost(h string) (string, error) {
	if h == "" {
		return "", errHostMissing
	}
	for i := 0; i < len(h); i++ {
		if h[i] >= 0x80 {
			return "", errHostASCII
		}
	}
	if h[0] == '[' {
		end := strings.IndexByte(h, ']')
		if end < 0 || !validPort(h[end+1:]) {
			return "", errHostInvalid
		}
		lit := h[1:end]
		if strings.Contains(lit, "%") {
			return "", errHostIPv6Zone
		}
		a, err := netip.ParseAddr(lit)
		if err != nil || !a.Is6() {
			return "", errHostInvalid
		}
		return "[" + a.String() + "]", nil
	}
	name := h
	if i := strings.IndexByte(h, ':'); i >= 0 {
		if !validPort(h[i:]) {
			return "", errHostPort
		}
		name = h[:i]
	}
	if len(name) > maxHostLen {
		return "", errHostTooLong
	}
	if strings.HasSuffix(name, ".") {
		return "", errHostDot
	}
	if name == "" || strings.HasPrefix(name, ".") || strings.Contains(name, "..") {
		return "", errHostInvalid
	}
	lower := true
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '.', c == '_':
		case 'A' <= c && c <= 'Z':
			lower = false
		default:
			return "", errHostInvalid
		}
	}
	if !lower {
		name = strings.ToLower(name)
	}
	return name, nil
}

// validPort accepts "" or ":" followed by 1 to 5 digits up to 65535.
func validPort(p string) bool {
	if p == "" {
		return true
	}
	if p[0] != ':' || len(p) < 2 || len(p) > 6 {
		return false
	}
	n := 0
	for i := 1; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
		n = n*10 + int(p[i]-'0')
	}
	return n <= 65535
}
