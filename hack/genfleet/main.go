// Command genfleet writes a synthetic fleet repository for benchmarks (see internal/genfleet):
//
//	go run ./hack/genfleet -out DIR -clusters 100 -vms 10000 [-form cue|yaml] [-seed N]
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/vmo-cue/vmo-cue/internal/genfleet"
)

func main() {
	out := flag.String("out", "", "directory to write the fleet into (must be empty or not exist)")
	clusters := flag.Int("clusters", 100, "number of clusters")
	vms := flag.Int("vms", 10000, "number of VMs, spread evenly over the clusters")
	form := flag.String("form", "cue", "where VMs are written: cue (clusters/<name>/vms.cue) or yaml (clusters/<name>/vms/*.yaml)")
	seed := flag.Uint64("seed", 1, "random seed (same seed, same fleet)")
	perFile := flag.Int("vms-per-file", 5, "VMs per YAML file (yaml form)")
	cuePerFile := flag.Int("cue-vms-per-file", 500, "VMs per CUE file at most (cue form): more go to vms-000.cue, vms-001.cue, ...")
	flag.Parse()
	if *out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: genfleet -out DIR [-clusters N] [-vms N] [-form cue|yaml] [-seed N]")
		os.Exit(2)
	}
	start := time.Now()
	st, err := genfleet.Generate(*out, genfleet.Options{Clusters: *clusters, VMs: *vms, Form: genfleet.Form(*form),
		Seed: *seed, VMsPerFile: *perFile, CUEVMsPerFile: *cuePerFile})
	if err != nil {
		fmt.Fprintf(os.Stderr, "genfleet: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "genfleet: %s: %d clusters, %d VMs (%s form), %d files, %.1f MB in %s\n", *out,
		st.Clusters, st.VMs, *form, st.Files, float64(st.Bytes)/1e6, time.Since(start).Round(time.Millisecond))
}
