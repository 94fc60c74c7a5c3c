package authn_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/policygate/policygate/internal/authn"
)

func TestParseAlgorithms(t *testing.T) {
	tests := []struct {
		name    string
		list    string
		want    []string
		wantErr []string // one line each
	}{
		{name: "one", list: "RS256", want: []string{"RS256"}},
		{name: "commas_and_spaces", list: "RS256, ES256 PS256", want: []string{"RS256", "ES256", "PS256"}},
		{name: "duplicates_dropped", list: "ES256,ES256", want: []string{"ES256"}},
		{name: "none_refused", list: "none", wantErr: []string{`"none" is never accepted`}},
		{name: "hmac_refused", list: "RS256,HS256", want: []string{"RS256"}, wantErr: []string{`"HS256" is not accepted: HMAC`}},
		{name: "unknown_and_lower_case", list: "rs256 XX1", wantErr: []string{`"rs256" is not supported`, `"XX1" is not supported`}},
		{name: "empty_list", list: " , ", wantErr: []string{"lists no algorithm"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := authn.ParseAlgorithms(tt.list)
			var lines []string
			if err != nil {
				lines = strings.Split(err.Error(), "\n")
			}
			if !slices.Equal(got, tt.want) || len(lines) != len(tt.wantErr) {
				t.Fatalf("ParseAlgorithms(%q) = %q, %v; want %q and %d errors", tt.list, got, err, tt.want, len(tt.wantErr))
			}
			for i, want := range tt.wantErr {
				if !strings.Contains(lines[i], want) {
					t.Errorf("ParseAlgorithms(%q) error %d = %q, want %q", tt.list, i, lines[i], want)
				}
			}
		})
	}
}
