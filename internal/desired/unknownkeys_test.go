package desired

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmo-cue/vmo-cue/internal/testfleet"
)

// One VM with n unknown fields under spec, in YAML or CUE: each field is a finding, and finding where
// it was written must not walk the other fields (that made 100,000 fields take minutes). The time per
// key should stay flat from 25k to 100k keys:
//
//	go test -run '^$' -bench BenchmarkUnknownKeys -benchtime 1x ./internal/desired
//
// Both forms take the default paths (YAML, and CUE data read by the fast path). A fleet that puts its
// own constraints on vms evaluates CUE VMs in CUE itself, whose evaluator looks fields up by a walk
// over their struct (cue-lang/cue#2598): that path stays quadratic, bounded by the evaluation budget.
func BenchmarkUnknownKeys(b *testing.B) {
	for _, form := range []string{"yaml", "cue"} {
		for _, n := range []int{25_000, 50_000, 100_000} {
			b.Run(fmt.Sprintf("%s/%dk", form, n/1000), func(b *testing.B) {
				dir := unknownKeysFleet(b, form, n)
				for b.Loop() {
					r, err := Load(dir, Options{MaxFileSize: 64 << 20})
					if err != nil {
						b.Fatal(err)
					}
					if got := r.All().Count().Errors; got != n+1 { // and spec.template.spec.domain.devices
						b.Fatalf("%d errors, want %d", got, n+1)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(n), "µs/key")
			})
		}
	}
}

func unknownKeysFleet(b *testing.B, form string, n int) string {
	dir := filepath.Join(b.TempDir(), "fleet")
	if err := testfleet.CopyDir(filepath.Join("..", "..", "testdata", "vet", "base"), dir); err != nil {
		b.Fatal(err)
	}
	var s strings.Builder
	file := filepath.Join(dir, "clusters", "edge-1", "vms", "wide.yaml")
	if form == "yaml" {
		s.WriteString("apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata:\n  name: wide\nspec:\n  runStrategy: Always\n")
		s.WriteString("  template:\n    spec:\n      domain:\n        memory: {guest: 1Gi}\n")
		for i := range n {
			fmt.Fprintf(&s, "  unknown%d: 1\n", i)
		}
	} else {
		file = filepath.Join(dir, "clusters", "edge-1", "wide.cue")
		s.WriteString("package fleet\n\nvms: wide: spec: {\n\trunStrategy: \"Always\"\n\ttemplate: spec: domain: memory: guest: \"1Gi\"\n")
		for i := range n {
			fmt.Fprintf(&s, "\tunknown%d: 1\n", i)
		}
		s.WriteString("}\n")
	}
	if err := os.WriteFile(file, []byte(s.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return dir
}
