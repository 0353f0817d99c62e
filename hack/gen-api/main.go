// Command gen-api generates, with controller-gen, the deepcopy functions of every API package under
// api/ (api/<version>/zz_generated.deepcopy.go) and the CRDs of the controller (deploy/crds, with
// their kustomization.yaml). Run it from the repository root: make generate.
//
// controller-gen is pinned in its own module, hack/tools, so that its dependencies never enter the main
// go.mod; it is built on first use (minutes on a fresh machine, then cached by the go command). With
// -out DIR the files are written below DIR, in the same layout, instead of in place: the test compares
// them with the checked-in ones.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	root := flag.String("root", ".", "repository root")
	out := flag.String("out", "", "write below this directory instead of in place")
	flag.Parse()
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "gen-api: "+format+"\n", args...) }
	if err := generate(*root, *out, logf); err != nil {
		fmt.Fprintln(os.Stderr, "gen-api:", err)
		os.Exit(1)
	}
}
