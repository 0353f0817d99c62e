package engine

import (
	"strings"
	"sync"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/fleetfs"
	"github.com/vmo-cue/vmo-cue/internal/kustomize"
)

// Kustomized is what a cluster's kustomize folders give (internal/kustomize): their VMs join the
// cluster's VMs (held to the same schema and MAC policy as YAML VMs), the other objects are here.
type Kustomized struct {
	// Dirs are the cluster's kustomize folders, Tree the repository as kustomize reads it (render
	// builds the folders again with the stack objects, for patches to reach them).
	Dirs []string
	Tree *kustomize.Tree
	// Objects are the folders' objects other than VMs, each at its file and line.
	Objects []kustomize.Object
}

// kustomizeTree loads the repository for kustomize once per engine (only when a cluster has a
// kustomize folder).
type kustomizeTree struct {
	once sync.Once
	tree *kustomize.Tree
	err  error
}

func (e *Engine) kustomize(fc *fleetfs.Cluster, c *Cluster) {
	if len(fc.Kustomize) == 0 {
		return
	}
	at := []diag.Position{{File: fc.Kustomize[0]}}
	e.ktree.once.Do(func() {
		e.ktree.tree, e.ktree.err = kustomize.Load(e.repo.Root, fleetfs.DefaultMaxFileSize)
	})
	if e.ktree.err != nil {
		c.OwnDiags.Errorf("kustomize", "", at, "%v", e.ktree.err)
		return
	}
	k := &Kustomized{Dirs: fc.Kustomize, Tree: e.ktree.tree}
	for _, p := range e.ktree.tree.Problems {
		if len(p.Positions) > 0 && strings.HasPrefix(p.Positions[0].File, fc.Dir+"/") {
			c.OwnDiags.Add(p)
		}
	}
	for _, dir := range fc.Kustomize {
		objs, diags := e.ktree.tree.Build(dir, nil)
		c.OwnDiags = append(c.OwnDiags, diags...)
		for _, o := range objs {
			if isVM(o.Object) {
				pos := o.Pos
				c.SourceVMs = append(c.SourceVMs, &VM{Object: o.Object, File: o.Pos.File, FromYAML: true,
					Pos: func(...string) diag.Position { return pos }})
				continue
			}
			k.Objects = append(k.Objects, o)
		}
	}
	c.Kustomize = k
}

func isVM(o map[string]any) bool {
	api, _ := o["apiVersion"].(string)
	return o["kind"] == "VirtualMachine" && strings.HasPrefix(api, "kubevirt.io/")
}
