// Package macassign writes the MACs that validation assigned into the files the VMs came from, so that
// they stay stable in git, keeping every comment and the layout of the files.
//
// An interface whose `name` a person wrote for this VM alone (a YAML VM, or a CUE VM's own field in its
// cluster's folder) gets `macAddress` next to its name. An interface that comes from a template shared
// with other VMs (a hidden field in fleet.cue, a comprehension) must not: the MAC would reach every VM
// of the template. Its VM gets one line of its own instead, after the VM's declaration in its cluster's
// folder: `vms: "<key>": spec: template: spec: domain: devices: interfaces: [_, {macAddress: "..."}, ...]`.
//
// Every edit of every file is planned first, on the bytes validation read, and each edited file is
// checked to parse; then all files are written or none (temporary file and rename, in place).
package macassign

import (
	"fmt"
	"sort"
	"strconv"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/fleetfs"
	"github.com/vmo-cue/vmo-cue/internal/validate"
)

// Edit is one MAC written into a file, at the line it lands on.
type Edit struct {
	File      string
	Line      int
	VM        string
	Interface string
	MAC       string
}

// Change is the new content of one file.
type Change struct {
	// File is relative to the fleet root, Abs the path on disk.
	File, Abs string
	// Old is the content validation read, New the content to write.
	Old, New []byte
	Edits    []Edit
}

// Apply plans every MAC of every valid cluster and writes all the files or none. It returns what it
// wrote; on an error nothing was written.
func Apply(r *validate.Result) ([]Edit, error) {
	changes, err := Plan(r)
	if err != nil {
		return nil, err
	}
	if err := Write(changes); err != nil {
		return nil, err
	}
	var edits []Edit
	for _, c := range changes {
		edits = append(edits, c.Edits...)
	}
	return edits, nil
}

// Plan computes the new content of every file that gets a MAC, in file order, without writing.
func Plan(r *validate.Result) ([]Change, error) {
	files := fleetFiles(r.Fleet.Repo)
	shared := namePositions(r)
	byFile := map[string][]insertion{}
	for _, c := range r.Clusters {
		if !c.Valid() {
			continue
		}
		for _, vm := range c.VMs {
			var own []*validate.Interface // interfaces placed in the VM's own line
			for _, ifc := range vm.Interfaces {
				if ifc.Assigned == "" {
					continue
				}
				p := namePos(vm, ifc)
				edit := Edit{File: p.File, VM: vm.Namespace + "/" + vm.Name, Interface: ifc.Name, MAC: ifc.Assigned}
				_, written := files[p.File]
				if written && shared[p] == 1 && (vm.FromYAML || inDir(p.File, c.Dir)) {
					f := files[p.File]
					in, err := nextToName(f.Data, p, ifc.Assigned, edit)
					if err != nil {
						return nil, fmt.Errorf("mac assign: %s: VM %s interface %s: %w", p, edit.VM, ifc.Name, err)
					}
					byFile[p.File] = append(byFile[p.File], in)
					continue
				}
				if vm.FromYAML || vm.Key == "" {
					return nil, fmt.Errorf("mac assign: %s: VM %s interface %s: its name is not in a file of this VM alone", p, edit.VM, ifc.Name)
				}
				own = append(own, ifc)
			}
			if len(own) == 0 {
				continue
			}
			in, err := vmLine(r.Fleet.Repo.Cluster(c.Name), vm, own)
			if err != nil {
				return nil, fmt.Errorf("mac assign: cluster %s: VM %s/%s: %w", c.Name, vm.Namespace, vm.Name, err)
			}
			byFile[in.edits[0].File] = append(byFile[in.edits[0].File], in)
		}
	}
	names := make([]string, 0, len(byFile))
	for f := range byFile {
		names = append(names, f)
	}
	sort.Strings(names)
	changes := make([]Change, 0, len(names))
	for _, name := range names {
		f := files[name]
		out, edits, err := apply(f.Data, byFile[name])
		if err == nil {
			err = parses(name, out)
		}
		if err != nil {
			return nil, fmt.Errorf("mac assign: %s: %w", diag.Name(name), err)
		}
		changes = append(changes, Change{File: name, Abs: f.Abs, Old: f.Data, New: out, Edits: edits})
	}
	return changes, nil
}

func namePos(vm *validate.VM, ifc *validate.Interface) diag.Position {
	return vm.Pos("spec", "template", "spec", "domain", "devices", "interfaces", strconv.Itoa(ifc.Index), "name")
}

// namePositions counts the VM interfaces (of every cluster) whose name is written at each position: a
// position written for more than one is a template's.
func namePositions(r *validate.Result) map[diag.Position]int {
	n := map[diag.Position]int{}
	for _, c := range r.Clusters {
		for _, vm := range c.VMs {
			for _, ifc := range vm.Interfaces {
				n[namePos(vm, ifc)]++
			}
		}
	}
	return n
}

// fleetFiles are the files of the fleet as validation read them, by path.
func fleetFiles(repo *fleetfs.Repo) map[string]fleetfs.File {
	out := map[string]fleetfs.File{}
	for _, f := range repo.CUE {
		out[f.Path] = f
	}
	for _, c := range repo.Clusters {
		for _, f := range c.CUE {
			out[f.Path] = f
		}
		for _, f := range c.YAML {
			out[f.Path] = f
		}
	}
	return out
}

func inDir(file, dir string) bool {
	return len(file) > len(dir) && file[:len(dir)] == dir && file[len(dir)] == '/'
}
