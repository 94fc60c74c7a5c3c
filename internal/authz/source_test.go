package authz_test

import (
	"testing"
	"testing/fstest"

	"github.com/policygate/policygate/internal/authz"
)

func TestNewSource(t *testing.T) {
	embedded := fstest.MapFS{}
	tests := []struct {
		name      string
		opaConfig []byte
		dir       string
		bundles   bool
		embedded  bool
		folder    string
		wantName  string
	}{
		{name: "opa_config_wins", opaConfig: []byte(`{}`), dir: "policies", bundles: true, wantName: "bundles"},
		{name: "folder", dir: "policies", folder: "policies", wantName: "policies"},
		{name: "embedded", embedded: true, wantName: "embedded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := authz.NewSource(tt.opaConfig, tt.dir, embedded)
			if s.Bundles() != tt.bundles || s.Embedded() != tt.embedded || s.Folder() != tt.folder || s.Name() != tt.wantName {
				t.Errorf("NewSource(%q, %q, fs) = bundles %v, embedded %v, folder %q, name %q; want %v, %v, %q, %q",
					tt.opaConfig, tt.dir, s.Bundles(), s.Embedded(), s.Folder(), s.Name(), tt.bundles, tt.embedded, tt.folder, tt.wantName)
			}
		})
	}
}
