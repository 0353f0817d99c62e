package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vmo-cue/vmo-cue/internal/engine"
)

// version is the release this binary was built as, set with -ldflags "-X main.version=v1.2.3";
// without it, the module version or the VCS revision Go stamped into the build is shown.
var version = ""

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print vmo-cue's version and the KubeVirt and CDI versions it knows",
		Args:  usageArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := engine.LoadBuiltin()
			if err != nil {
				return fmt.Errorf("reading the embedded schemas: %w", err)
			}
			writeVersion(cmd.OutOrStdout(), buildVersion(), b)
			return nil
		},
	}
}

// buildVersion is the version line's value: the -X version, else the module's, else the commit.
func buildVersion() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev == "" {
		return "devel"
	}
	return "devel+" + rev + dirty
}

func writeVersion(w io.Writer, v string, b *engine.Builtin) {
	fmt.Fprintf(w, "vmo-cue %s (%s, %s/%s)\n", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "KubeVirt versions (feature-gate tables): %s\n", minorsOf(b.KubeVirtGates))
	fmt.Fprintf(w, "CDI versions (feature-gate tables): %s\n", minorsOf(b.CDIGates))
}

func minorsOf(t map[string]map[string]engine.GateState) string {
	ks := make([]string, 0, len(t))
	for k := range t {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { return minorBefore(ks[i], ks[j]) })
	return strings.Join(ks, ", ")
}

// minorBefore orders "v1.10" after "v1.9".
func minorBefore(a, b string) bool {
	var am, an, bm, bn int
	fmt.Sscanf(a, "v%d.%d", &am, &an)
	fmt.Sscanf(b, "v%d.%d", &bm, &bn)
	if am != bm {
		return am < bm
	}
	return an < bn
}
