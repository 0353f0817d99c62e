// Package validate checks an evaluated fleet, and only checks: each cluster's settings (the stack
// layered over the fleet's defaults, decoded once), feature gates against the KubeVirt version, VMs
// against the generated API schema, written MAC addresses against the MAC policy and unique per
// cluster and layer-2 domain. Every finding names the rule and the lines a person wrote. What is
// derived from a valid cluster (images, gates to render, VLANs, assigned MACs) is internal/resolve's.
package validate

import (
	"slices"
	"sort"
	"sync"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/engine"
	"github.com/vmo-cue/vmo-cue/internal/fleetfs"
	"github.com/vmo-cue/vmo-cue/internal/macs"
	"github.com/vmo-cue/vmo-cue/internal/settings"
)

// Cluster is a cluster's checked desired state. The evaluated cluster it embeds keeps its own VMs
// and findings as SourceVMs and OwnDiags: VMs and Diags here are the checked ones and all of them.
type Cluster struct {
	*engine.Cluster
	// Fleet is the name of the fleet the cluster belongs to (its ownership mark in the cluster).
	Fleet string
	// Settings are all the cluster's settings, typed, with where each was written: the built-in
	// defaults, then the fleet's defaults, then the cluster's own, leaf by leaf, as written
	// (internal/resolve derives what is left unset from them, in a copy).
	Settings  *settings.Resolved
	MACPolicy macs.Policy
	// Namespace is where VMs without one go; L2Domain groups clusters for MAC uniqueness.
	Namespace string
	L2Domain  string
	VMs       []*VM
	// Objects are the cluster folder's other objects of the VM family (DataVolumes, instance types,
	// preferences), checked against their CRDs of the cluster's releases (family.go).
	Objects []*Object
	// Diags are all findings of this cluster (its own and the fleet's shared ones).
	Diags diag.List
	// src are the fleet's files, to place findings about CUE VMs.
	src *sources
	// kubevirt is the cluster's KubeVirt, when enabled and of a known version (webhook rules).
	kubevirt *kubevirtInfo
}

// Valid reports whether the cluster may be built and applied.
func (c *Cluster) Valid() bool { return !c.Diags.HasErrors() }

// Result is a validated fleet.
type Result struct {
	Fleet    *engine.Fleet
	Clusters []*Cluster
	// Shared are the findings about the shared definitions (an error there fails every cluster).
	Shared diag.List
}

// All returns every finding once, sorted: the shared ones and every cluster's, at most
// diag.MaxPerFile per file and diag.MaxPerRun in all (a findings-cap line says how many more).
func (r *Result) All() diag.List {
	all := append(diag.List(nil), r.Shared...)
	all = append(all, r.Fleet.Repo.Problems...)
	for _, c := range r.Clusters {
		all = append(all, c.Diags...)
	}
	return all.Dedup().Cap(diag.MaxPerFile, diag.MaxPerRun)
}

// Cluster returns the named cluster, or nil.
func (r *Result) Cluster(name string) *Cluster {
	for _, c := range r.Clusters {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Fleet validates every evaluated cluster, then the checks that span clusters.
func Fleet(f *engine.Fleet, b *engine.Builtin) (*Result, error) {
	return NewChecker(b, Options{}).Finish(f)
}

// Options tune a Checker.
type Options struct {
	// Lean drops each VM's object and its way back to every line once the VM is checked, keeping
	// its identity, interfaces and the positions the checks across clusters report: the result
	// serves findings and counts (vet), not rendering. A 100,000-VM fleet's objects held until
	// the end took more heap than the collector's limit.
	Lean bool
}

// Checker validates clusters one by one as the engine evaluates them (its Cluster method is an
// engine.Options.Evaluated hook), then the checks that span clusters (Finish).
type Checker struct {
	b    *engine.Builtin
	opts Options

	srcOnce sync.Once
	src     *sources

	mu      sync.Mutex
	checked map[*engine.Cluster]*Cluster
	err     error
}

// NewChecker returns a Checker with the built-in defaults b.
func NewChecker(b *engine.Builtin, opts Options) *Checker {
	return &Checker{b: b, opts: opts, checked: map[*engine.Cluster]*Cluster{}}
}

// Cluster checks one evaluated cluster on its own (safe for concurrent use).
func (k *Checker) Cluster(f *engine.Fleet, ec *engine.Cluster) {
	c, err := k.check(f, ec)
	k.mu.Lock()
	defer k.mu.Unlock()
	if err != nil && k.err == nil {
		k.err = err
	}
	if c != nil {
		k.checked[ec] = c
	}
}

// check runs the checks of one cluster that need no other cluster.
func (k *Checker) check(f *engine.Fleet, ec *engine.Cluster) (*Cluster, error) {
	k.srcOnce.Do(func() { k.src = newSources(f.Repo) })
	c := &Cluster{Cluster: ec, Fleet: f.Name, src: k.src}
	c.Diags = append(c.Diags, ec.OwnDiags...)
	checkSettings(c, f, k.b)
	vmSchema, err := SchemaFor("VirtualMachine", c.Releases())
	if err != nil {
		return nil, err
	}
	checkVMs(c, vmSchema)
	checkMACs(c)
	checkVLANFiltering(c)    // vlanfilter.go
	checkApplyPolicy(c, k.b) // applypolicy.go
	checkKustomize(c)        // kustomize.go
	if k.opts.Lean {
		lighten(c)
	}
	return c, nil
}

// Finish checks the clusters the Cluster hook did not see, then the checks that span clusters.
func (k *Checker) Finish(f *engine.Fleet) (*Result, error) {
	if k.err != nil {
		return nil, k.err
	}
	// A file refused while reading the repository (symlink, size, encoding) fails what it belongs to:
	// its cluster, or, outside every cluster folder, the shared definitions and so every cluster.
	shared := append(diag.List(nil), f.Diags...)
	for _, p := range f.Repo.Problems.Errors() {
		// A cluster's folder is any of the repository's, evaluated or not (engine.Options.Only).
		if len(p.Positions) == 0 || !slices.ContainsFunc(f.Repo.Clusters, func(c *fleetfs.Cluster) bool { return inDir(p.Positions[0].File, c.Dir) }) {
			shared = append(shared, p)
		}
	}
	r := &Result{Fleet: f, Shared: shared}
	for _, ec := range f.Clusters {
		c := k.checked[ec]
		if c == nil {
			var err error
			if c, err = k.check(f, ec); err != nil {
				return nil, err
			}
		}
		r.Clusters = append(r.Clusters, c)
	}
	sort.Slice(r.Clusters, func(i, j int) bool { return r.Clusters[i].Name < r.Clusters[j].Name })
	checkL2Domains(r.Clusters)
	checkContexts(r.Clusters)
	for _, c := range r.Clusters {
		for _, p := range f.Repo.Problems.Errors() {
			if len(p.Positions) > 0 && inDir(p.Positions[0].File, c.Dir) {
				c.Diags = append(c.Diags, p)
			}
		}
		c.Diags = append(c.Diags, shared.Errors()...)
		c.Diags = c.Diags.Dedup().ForCluster(c.Name).CapFiles(diag.MaxPerFile)
	}
	return r, nil
}

func inDir(file, dir string) bool {
	return len(file) > len(dir) && file[:len(dir)] == dir && file[len(dir)] == '/'
}
