package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// version is stamped at build time:
//
//	go build -ldflags "-X main.version=v1.2.3" ./cmd/server
//
// Without it, the module version from the build info is used (a
// `go install ...@v1.2.3` binary knows it; a plain `go build` says
// "(devel)").
var version string

// revision is the VCS commit, stamped at build time like version
// (-X main.revision=...) where the toolchain does not record it (builds
// with -buildvcs=false, or from a tree without .git).
var revision string

// buildInfo says what this binary is.
type buildInfo struct {
	Version   string
	GoVersion string
	Revision  string // the VCS commit, "unknown" when not recorded
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, GoVersion: runtime.Version(), Revision: "unknown"}
	if revision != "" {
		b.Revision = revision
	}
	info, ok := debug.ReadBuildInfo()
	if ok {
		if b.Version == "" {
			b.Version = info.Main.Version
		}
		var modified bool
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				if revision == "" {
					b.Revision = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && b.Revision != "unknown" {
			b.Revision += "-dirty"
		}
	}
	if b.Version == "" {
		b.Version = "(devel)"
	}
	return b
}

func (b buildInfo) String() string {
	return fmt.Sprintf("policygate %s (%s, revision %s)", b.Version, b.GoVersion, b.Revision)
}

func printVersion(w io.Writer) error {
	_, err := fmt.Fprintln(w, readBuildInfo())
	return err
}

// buildInfoGauge is policygate_build_info{version,goversion,revision} 1,
// so dashboards can tell which build each replica runs.
func buildInfoGauge(b buildInfo) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "policygate_build_info",
		Help:        "The running build: 1, labelled with its version, Go version and VCS revision.",
		ConstLabels: prometheus.Labels{"version": b.Version, "goversion": b.GoVersion, "revision": b.Revision},
	})
	g.Set(1)
	return g
}
