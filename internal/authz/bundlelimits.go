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
// configuration that has none (or one of 0 or less, which OPA reads as
// its default). Bundles that discovery delivers later are not covered.
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
		if b, ok := b.(map[string]any); ok && unsetLimit(b["size_limit_bytes"]) {
			b["size_limit_bytes"] = defaultBundleFileBytes // OPA reads 0 or less as its own 1 GiB
		}
	}
	return json.Marshal(m)
}

// unsetLimit reports whether v, a size_limit_bytes as util.Unmarshal
// decodes it, leaves OPA's own default: absent, null, or a number of 0 or
// less. Any other value is left for OPA to accept or refuse.
func unsetLimit(v any) bool {
	if v == nil {
		return true
	}
	n, ok := v.(json.Number)
	if !ok {
		return false
	}
	f, err := n.Float64()
	return err == nil && f <= 0
}
