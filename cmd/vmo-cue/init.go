package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	vmocue "github.com/vmo-cue/vmo-cue"
)

// initFiles is the skeleton of a new fleet repository.
var initFiles = map[string]string{
	"cue.mod/module.cue": vmocue.ModuleFile("example.com/fleet@v0"),
	"fleet.cue": `// The fleet: settings shared by every cluster under clusters/. A cluster's own settings win.
package fleet

import "vmo-cue.dev/vmo/schemas"

// The schemas every cluster folder's declarations are checked against.
` + vmocue.SchemaLines + `
// The fleet's name marks every object vmo-cue applies and is recorded in each cluster: renaming the
// fleet later means taking every cluster over (vmo-cue apply --adopt).
fleet: name: "FLEET_NAME"

fleet: defaults: {
	stack: kubevirt: version: "v1.6.3"
	policy: mac: {allow: "prefixes", prefixes: ["02", "06", "0A", "0E"]}
}
`,
	"clusters/edge-1/cluster.cue": `package fleet

cluster: {
	name: "edge-1"
	kind: "edge"
	labels: {site: "edge-1", tier: "edge"}
	stack: multus: networks: "vlan-100": {vlan: 100, bridge: "br0"}
}
`,
	"clusters/edge-1/vms/web.yaml": `# A VM on VLAN 100. Without a macAddress, vmo-cue derives a stable one:
# run "vmo-cue mac assign" (also a pre-commit hook) to write it here.
apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: web
spec:
  runStrategy: Always
  template:
    spec:
      domain:
        cpu: {sockets: 1, cores: 2}
        memory: {guest: 2Gi}
        devices:
          disks:
            - name: root
              disk: {bus: virtio}
          interfaces:
            - name: vlan-100
              bridge: {}
      networks:
        - name: vlan-100
          multus: {networkName: vlan-100}
      volumes:
        - name: root
          containerDisk: {image: quay.io/containerdisks/fedora:41}
`,
	".pre-commit-config.yaml": `# Run "pre-commit install" once; every commit is then checked by vmo-cue.
repos:
  - repo: https://github.com/vmo-cue/vmo-cue
    rev: main
    hooks:
      - id: vmo-cue-mac-assign
      - id: vmo-cue-vet
`,
}

func newInitCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "init DIR",
		Short: "Create a new fleet repository with an example cluster, a VM and a pre-commit configuration",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return &exitCode{code: exitError, err: fmt.Errorf("init takes exactly one directory")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
				return &exitCode{code: exitError, err: fmt.Errorf("%s is not empty: init writes a new fleet repository", dir)}
			}
			for name, content := range initFiles {
				content = strings.ReplaceAll(content, "FLEET_NAME", fleetName(dir))
				if err := writeFile(filepath.Join(dir, name), []byte(content)); err != nil {
					return &exitCode{code: exitError, err: err}
				}
			}
			if err := vendorModule(dir); err != nil {
				return &exitCode{code: exitError, err: err}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created fleet repository %s\nnext: cd %s && git init && vmo-cue vet && pre-commit install\n", dir, dir)
			return nil
		},
	}
}

// fleetName makes a fleet name (a DNS label) of the directory's name; "fleet" if nothing is left.
func fleetName(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r - 'A' + 'a'
		}
		return '-'
	}, filepath.Base(abs))
	if len(name) > 63 {
		name = name[:63]
	}
	if name = strings.Trim(name, "-"); name == "" {
		return "fleet"
	}
	return name
}

// vendorModule copies the embedded CUE module into cue.mod/pkg, so that upstream cue loads the fleet
// too. vmo-cue itself always uses the copy embedded in the binary.
func vendorModule(dir string) error {
	base := filepath.Join(dir, "cue.mod", "pkg", filepath.FromSlash(vmocue.ModulePath))
	return vmocue.WalkCUE(func(p string, data []byte) error {
		return writeFile(filepath.Join(base, filepath.FromSlash(p)), data)
	})
}

func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
