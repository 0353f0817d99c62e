// Command gen-schemas writes the CRDs of KubeVirt's and CDI's releases (schemas/crds/kubevirt,
// schemas/crds/cdi: read from each release's module, fetched through the module proxy) and the VM
// family's CUE made from them (schemas/upstream), and the other CUE definitions (schemas/kubevirt,
// schemas/cdi) and CRDs (schemas/crds) from the Go API types. Run it from the repository root:
// make generate. The work is done by internal/apischema, whose tests check that the files are current.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vmo-cue/vmo-cue/internal/apischema"
)

func main() {
	root := flag.String("root", ".", "repository root")
	flag.Parse()
	if err := run(*root); err != nil {
		fmt.Fprintln(os.Stderr, "gen-schemas:", err)
		os.Exit(1)
	}
}

func run(root string) error {
	if _, err := os.Stat(filepath.Join(root, "cue.mod", "module.cue")); err != nil {
		return fmt.Errorf("%s is not the repository root (no cue.mod/module.cue): %w", root, err)
	}
	files, err := apischema.Generate()
	if err != nil {
		return err
	}
	return apischema.Write(root, files)
}
