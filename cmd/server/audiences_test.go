package main

import (
	"encoding/json"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/policygate/policygate/internal/testfile"
	"github.com/policygate/policygate/policies"
)

// policyNaming copies the embedded policy into a temp folder with its
// default table naming audiences, as several configured audiences require,
// and returns the folder (for POLICY_DIR).
func policyNaming(t *testing.T, audiences ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"authz/authz.rego", "authz/data.json", "system/log/mask.rego", "system/log/data.json"} {
		b, err := fs.ReadFile(policies.FS, f)
		if err != nil {
			t.Fatal(err)
		}
		if f == "authz/data.json" {
			var data map[string]any
			if err := json.Unmarshal(b, &data); err != nil {
				t.Fatal(err)
			}
			data["audiences"] = audiences
			if b, err = json.Marshal(data); err != nil {
				t.Fatal(err)
			}
		}
		testfile.Write(t, filepath.Join(dir, f), string(b))
	}
	return dir
}
