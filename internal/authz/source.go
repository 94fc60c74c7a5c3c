package authz

import "io/fs"

// Source is where the policy comes from; one of its fields is set:
//   - Dir: a policy folder on disk, loaded and checked before it is
//     activated, and again on every Reload (a server watches it);
//   - FS: a fixed copy, such as the one embedded in the binary;
//   - OPAConfig: the bundles a complete OPA configuration names (fleet
//     mode), downloaded and activated by OPA's bundle plugin.
type Source struct {
	Dir       string
	FS        fs.FS
	OPAConfig []byte
}

// NewSource chooses where the policy comes from, from the settings: the
// bundles of an OPA configuration when there is one, else the policy
// folder dir, else the embedded copy.
func NewSource(opaConfig []byte, dir string, embedded fs.FS) Source {
	switch {
	case opaConfig != nil:
		return Source{OPAConfig: opaConfig}
	case dir != "":
		return Source{Dir: dir}
	default:
		return Source{FS: embedded}
	}
}

// Bundles reports whether the policy arrives as bundles.
func (s Source) Bundles() bool { return s.OPAConfig != nil }

// Embedded reports whether the policy is a fixed copy.
func (s Source) Embedded() bool { return !s.Bundles() && s.FS != nil }

// Folder is the policy folder on disk, "" when the policy comes from
// elsewhere.
func (s Source) Folder() string {
	if s.Bundles() || s.Embedded() {
		return ""
	}
	return s.Dir
}

// Name is the source as Status reports it: the folder, "embedded" or
// "bundles".
func (s Source) Name() string {
	switch {
	case s.Bundles():
		return "bundles"
	case s.Embedded():
		return "embedded"
	default:
		return s.Dir
	}
}

// WithSource returns c with its policy read from s.
func (c Config) WithSource(s Source) Config {
	c.PolicyDir, c.PolicyFS, c.OPAConfig = s.Dir, s.FS, s.OPAConfig
	return c
}

// source is where c's policy comes from: OPAConfig, else PolicyFS, else
// PolicyDir.
func (c Config) source() Source {
	return Source{Dir: c.PolicyDir, FS: c.PolicyFS, OPAConfig: c.OPAConfig}
}
