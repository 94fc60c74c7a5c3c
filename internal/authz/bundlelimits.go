package authz

import (
	"encoding/json"
	"fmt"

	"github.com/open-policy-agent/opa/v1/util"
)

// defaultBundleFileBytes bounds each file of a downloaded bundle when the
// configuration sets no size_limit_bytes. OPA decompresses a bundle whole
// before it checks the signature, allowing 1 GiB per file by default: a
// download of under a megabyte could take a gigabyte of memory before it
// is refused. A policy and its route tables take kilobytes; a data file
// larger than this needs its own size_limit_bytes.
const defaultBundleFileBytes = 32 << 20

// withBundleSizeLimits sets size_limit_bytes on every bundle of an OPA
// configuration that has none.
func withBundleSizeLimits(config []byte) ([]byte, error) {
	var m map[string]any
	if err := util.Unmarshal(config, &m); err != nil {
		return nil, fmt.Errorf("opa configuration: %w", err)
	}
	bundles, _ := m["bundles"].(map[string]any)
	if len(bundles) == 0 {
		return config, nil
	}
	for _, b := range bundles {
		if b, ok := b.(map[string]any); ok && b["size_limit_bytes"] == nil {
			b["size_limit_bytes"] = defaultBundleFileBytes
		}
	}
	return json.Marshal(m)
}
