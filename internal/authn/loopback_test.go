package authn_test

import (
	"testing"

	"github.com/policygate/policygate/internal/authn"
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
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := authn.CheckKeyURL(tc.url)
			if (err != nil) != tc.wantErr {
				t.Errorf("CheckKeyURL(%q) = %v, want error %v", tc.url, err, tc.wantErr)
			}
		})
	}
}
