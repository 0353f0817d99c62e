// Package engine evaluates a fleet repository's CUE with the embedded vmo-cue module: the shared
// definitions once, then each cluster (the shared files plus its own folder) in its own CUE context,
// concurrently. It returns each cluster's declaration, its settings layered over the fleet's defaults
// and the stack's, and its VMs from CUE and YAML, each with a way back to the line that defined it.
package engine

import (
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/load"
	"golang.org/x/sync/errgroup"

	vmocue "github.com/vmo-cue/vmo-cue"
	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/fleetfs"
)

// Options tune evaluation.
type Options struct {
	// FullVMSchema unifies CUE VMs with the closed generated CUE definition instead of leaving the VM
	// schema check to internal/schema (slower; for comparison and tests).
	FullVMSchema bool
	// Concurrency bounds the clusters evaluated at once (GOMAXPROCS if 0).
	Concurrency int
	// NoFastPath evaluates every cluster's VMs in CUE, even when they are plain data (see
	// fastpath.go; for comparison and tests).
	NoFastPath bool
	// Budget bounds each evaluation in time and the heap (see budget.go); the zero Budget bounds nothing.
	Budget Budget
	// Only, if not empty, evaluates only the clusters it names (an agent renders its own cluster);
	// the others are left out of the Fleet. MACs assigned and checked across a layer-2 domain need
	// every cluster of the domain: a caller that finds an l2Domain evaluates the whole fleet.
	Only []string
	// Evaluated, if set, is called with each cluster as soon as its evaluation ends (outside its
	// budget), from the goroutine that evaluated it: concurrently for different clusters. The Fleet's
	// name, defaults, rollout and shared findings are set; its Clusters are not yet. A caller checks
	// each cluster there while the others evaluate, and may drop what it no longer needs (vet keeps
	// 100,000 VMs' findings, not their objects). Clusters of a fleet whose shared definitions
	// exceeded the budget are not passed.
	Evaluated func(*Fleet, *Cluster)
}

// DefaultFleetName names a fleet that declares no `fleet.name`.
const DefaultFleetName = "default"

// Engine evaluates one repository.
type Engine struct {
	repo   *fleetfs.Repo
	module moduleLayout
	// overlay holds the embedded module and every CUE file fleetfs read, as bytes, under the module's
	// virtual root: all the loader sees.
	overlay map[string]load.Source
	// baseOverlay holds the embedded module and the shared files: a fast-path cluster adds its own
	// files as syntax.
	baseOverlay map[string]load.Source
	opts        Options
	// refused are the findings of refuseExtern: the shared files' and cue.mod's under "", each
	// cluster's under its name.
	refused map[string]diag.List
	// fast says whether and how the data-only fast path applies (fastpath.go).
	fast *fastRoot
	// ktree is the repository as kustomize reads it, loaded at the first kustomize folder.
	ktree kustomizeTree
	// posEvaluations counts the fast-path clusters evaluated on the general path for their VMs'
	// positions (generalVMs.evaluate).
	posEvaluations atomic.Int64
}

// PosEvaluations returns how many clusters that took the fast path were evaluated again on the
// general path because a position in one of their VMs was asked for (a finding's, or a check that
// asks ahead of any finding: a valid fleet should cost none).
func (e *Engine) PosEvaluations() int64 { return e.posEvaluations.Load() }

// Fleet is the evaluated repository.
type Fleet struct {
	Repo *fleetfs.Repo
	// Defaults are the fleet's `fleet.defaults`, as layered values.
	Defaults *Layer
	// Name is the fleet's `fleet.name` (DefaultFleetName if unset): the ownership mark of what it applies.
	Name string
	// Rollout is the fleet's `fleet.rollout` (nil if unset).
	Rollout  map[string]any
	Clusters []*Cluster
	// Diags are findings about the shared definitions; any error here fails every cluster.
	Diags diag.List
}

// New prepares an engine for a repository read by fleetfs.
func New(repo *fleetfs.Repo, opts Options) (*Engine, error) {
	e := &Engine{module: findModule(repo), opts: opts}
	if err := checkVirtual(e.module.root); err != nil {
		return nil, err
	}
	e.repo, e.refused = withoutExtern(repo)
	ov, err := e.module.overlay(opts.FullVMSchema, true)
	if err != nil {
		return nil, err
	}
	// The fleet's own files, cue.mod included, come from fleetfs (symlinks, file types, size and
	// encoding checked): the loader reads nothing from disk.
	for _, f := range e.repo.Module {
		ov[e.name(f)] = load.FromBytes(f.Data)
	}
	for _, f := range e.repo.CUE {
		ov[e.name(f)] = load.FromBytes(f.Data)
	}
	e.baseOverlay = make(map[string]load.Source, len(ov))
	for k, v := range ov {
		e.baseOverlay[k] = v
	}
	for _, c := range e.repo.Clusters {
		for _, f := range c.CUE {
			ov[e.name(f)] = load.FromBytes(f.Data)
		}
	}
	e.overlay = ov
	e.fast = e.initFastPath()
	return e, nil
}

// Evaluate evaluates the shared definitions and every cluster, within the budget: an evaluation that
// exceeds it fails with a finding (rule eval-budget) and the others proceed; when the shared
// definitions exceed it, no cluster is evaluated.
func (e *Engine) Evaluate() (*Fleet, error) {
	f := &Fleet{Repo: e.repo}
	w := e.newWatchdog()
	defer w.close()
	shared, stop := e.evalSharedBounded(w)
	if stop != nil {
		// Every cluster fails with the shared finding (validate adds it to each).
		f.Diags = diag.List{*stop}
		for _, c := range e.selected() {
			sc := e.stoppedCluster(c, stop)
			sc.OwnDiags = nil
			f.Clusters = append(f.Clusters, sc)
		}
		return f, nil
	}
	f.Defaults = shared.defaults
	f.Name = shared.name
	f.Rollout = shared.rollout
	f.Diags = shared.diags

	// Every cluster (unless Only narrows them): MAC assignment and layer-2 checks span clusters, so one cluster's
	// desired state depends on the others'. Memory suspects of an earlier run go first, one at a time
	// and alone, so that a breach names its culprit.
	selected := e.selected()
	f.Clusters = make([]*Cluster, len(selected))
	var rest []int
	for i, c := range selected {
		if slices.Contains(e.opts.Budget.Known.Serial, c.Name) {
			f.Clusters[i] = e.evalClusterBounded(w, c, shared)
			e.evaluated(f, f.Clusters[i])
		} else {
			rest = append(rest, i)
		}
	}
	workers := e.opts.Concurrency
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var g errgroup.Group
	g.SetLimit(workers)
	for _, i := range rest {
		g.Go(func() error {
			c := e.evalClusterBounded(w, selected[i], shared)
			e.evaluated(f, c)
			f.Clusters[i] = c
			return nil
		})
	}
	_ = g.Wait() // the clusters carry their own findings: no goroutine returns an error
	return f, nil
}

// evaluated passes a cluster to Options.Evaluated.
func (e *Engine) evaluated(f *Fleet, c *Cluster) {
	if e.opts.Evaluated != nil {
		e.opts.Evaluated(f, c)
	}
}

// evalSharedBounded evaluates the shared definitions within the budget; it returns the budget
// finding instead when they exceed it.
// selected returns the clusters to evaluate: every one, or those Options.Only names.
func (e *Engine) selected() []*fleetfs.Cluster {
	if len(e.opts.Only) == 0 {
		return e.repo.Clusters
	}
	var out []*fleetfs.Cluster
	for _, c := range e.repo.Clusters {
		if slices.Contains(e.opts.Only, c.Name) {
			out = append(out, c)
		}
	}
	return out
}

func (e *Engine) evalSharedBounded(w *watchdog) (*sharedResult, *diag.Diagnostic) {
	u := Unit{e: e}
	if d := e.knownFailure(u); d != nil {
		return nil, d
	}
	var s *sharedResult
	if why := w.run("", func() { s = e.evalShared() }); why != "" {
		return nil, e.budgetFinding(u, why)
	}
	return s, nil
}

// evalClusterBounded evaluates a cluster within the budget; a cluster that exceeds it stands with its
// budget finding only.
func (e *Engine) evalClusterBounded(w *watchdog, fc *fleetfs.Cluster, s *sharedResult) *Cluster {
	u := Unit{Name: fc.Name, e: e}
	if d := e.knownFailure(u); d != nil {
		w.finished(fc.Name)
		return e.stoppedCluster(fc, d)
	}
	var c *Cluster
	if why := w.run(fc.Name, func() { c = e.evalCluster(fc, s) }); why != "" {
		return e.stoppedCluster(fc, e.budgetFinding(u, why))
	}
	return c
}

type sharedResult struct {
	name     string
	defaults *Layer
	rollout  map[string]any
	diags    diag.List
	// files are the shared files' absolute paths, the first part of every cluster's instance.
	files []string
	// rootFiles tells which findings belong to the shared definitions.
	rootFiles map[string]bool
	// inst is the shared files' instance when it loaded and built without a finding: fast-path
	// clusters take its imports (see instanceFor).
	inst *build.Instance
}

// evalShared evaluates the root files alone: fleet-level findings and the fleet's defaults.
func (e *Engine) evalShared() *sharedResult {
	s := &sharedResult{rootFiles: map[string]bool{}, defaults: &Layer{}, name: DefaultFleetName}
	for _, f := range e.repo.CUE {
		s.files = append(s.files, e.name(f))
		s.rootFiles[f.Path] = true
	}
	if len(s.files) == 0 {
		s.diags = append(s.diags, e.refused[""]...)
		s.diags.Errorf("fleet-declaration", "fleet", []diag.Position{{File: "fleet.cue"}},
			"no fleet declaration: the repository root holds no CUE file of package fleet (see `vmo-cue init`)")
		return s
	}
	ctx := cuecontext.New()
	inst, diags := e.load(s.files, e.overlay)
	var v cue.Value
	if inst != nil {
		v, diags = e.buildInstance(ctx, inst)
		if len(diags) == 0 {
			s.inst = inst
		}
	}
	s.diags = diags
	s.diags = append(s.diags, e.refused[""]...)
	if v.Exists() {
		if err := v.Validate(cue.All(), cue.Concrete(true)); err != nil {
			s.diags = append(s.diags, e.fromCUE(err, "schema")...)
		}
		s.diags = append(s.diags, e.checkTopLevel(v)...)
		if fv := v.LookupPath(cue.ParsePath("fleet")); !fv.Exists() {
			s.diags.Errorf("fleet-schema", "fleet", e.positions(v),
				"no fleet declaration: the root files must declare `fleet: schemas.#Fleet` (see `vmo-cue init`)")
		} else if unchecked(fv) {
			s.diags.Errorf("fleet-schema", "fleet", e.positions(fv), "%s", schemaLinesMessage("fleet"))
		}
		if n, err := v.LookupPath(cue.ParsePath("fleet.name")).String(); err == nil && n != "" {
			s.name = n
		}
		if r := v.LookupPath(cue.ParsePath("fleet.rollout")); r.Exists() {
			s.rollout = e.layer(r).Value
		}
		if d := v.LookupPath(cue.ParsePath("fleet.defaults")); d.Exists() {
			s.defaults = e.layer(d)
		}
		if c := v.LookupPath(cue.ParsePath("cluster")); c.Exists() {
			s.diags.Errorf("layout", "cluster", e.positions(c),
				"a cluster is declared at the repository root: declare it in %s/<name>/", fleetfs.ClustersDir)
		}
	}
	s.diags = s.diags.Dedup().CapFiles(diag.MaxPerFile)
	return s
}

// build loads and builds one instance from files; load and build errors become findings.
func (e *Engine) build(ctx *cue.Context, files []string, overlay map[string]load.Source) (cue.Value, diag.List) {
	inst, diags := e.load(files, overlay)
	if inst == nil {
		return cue.Value{}, diags
	}
	return e.buildInstance(ctx, inst)
}

// withoutExtern is the repository as the engine evaluates it: with no @extern attribute (see
// refuseExtern), and what was refused.
func withoutExtern(repo *fleetfs.Repo) (*fleetfs.Repo, map[string]diag.List) {
	r := *repo
	refused := map[string]diag.List{}
	var shared, module diag.List
	r.CUE, shared = refuseExtern(repo.CUE)
	r.Module, module = refuseExtern(repo.Module)
	refused[""] = append(shared, module...)
	r.Clusters = make([]*fleetfs.Cluster, len(repo.Clusters))
	for i, c := range repo.Clusters {
		r.Clusters[i] = c
		if files, l := refuseExtern(c.CUE); len(l) > 0 {
			cc := *c
			cc.CUE, refused[c.Name] = files, l
			r.Clusters[i] = &cc
		}
	}
	return &r, refused
}

// name is where the loader sees a file fleetfs read.
func (e *Engine) name(f fleetfs.File) string { return e.module.path(f.Path) }

// load loads one instance from files (as name gives them). The loader's module root is virtual and
// its registry fetches nothing: it sees only the overlay.
func (e *Engine) load(files []string, overlay map[string]load.Source) (*build.Instance, diag.List) {
	args := make([]string, len(files))
	for i, f := range files {
		rel, err := filepath.Rel(e.module.root, f)
		if err != nil {
			rel = f
		}
		args[i] = "./" + filepath.ToSlash(rel)
	}
	cfg := &load.Config{Dir: e.module.root, ModuleRoot: e.module.root, Overlay: overlay, Package: "fleet", Registry: noRegistry{}}
	insts := load.Instances(args, cfg)
	if len(insts) == 0 {
		return nil, diag.List{{Severity: diag.Error, Rule: "cue", Message: "no CUE instance loaded"}}
	}
	return insts[0], nil
}

// buildInstance builds a loaded instance; load and build errors become findings.
func (e *Engine) buildInstance(ctx *cue.Context, inst *build.Instance) (cue.Value, diag.List) {
	if inst.Err != nil {
		return cue.Value{}, e.fromCUE(inst.Err, "cue-syntax")
	}
	v := ctx.BuildInstance(inst)
	if err := v.Err(); err != nil {
		return v, e.fromCUE(err, "schema")
	}
	return v, nil
}

// positions returns where a value was written.
func (e *Engine) positions(v cue.Value) []diag.Position {
	var out []diag.Position
	if dp, _ := e.position(v.Pos()); dp.File != "" {
		out = append(out, dp)
	}
	return out
}

// unchecked reports whether a declaration is not closed by a vmo-cue schema definition: any field
// could be added to it, so misspelled settings would pass unnoticed.
// A declaration already in error is judged by its errors (it reports bottom, which allows anything).
func unchecked(v cue.Value) bool {
	return v.Err() == nil && v.Allows(cue.Str("vmoCueSchemaProbe"))
}

// schemaLinesMessage tells how to apply the schemas, which vmo-cue requires of every fleet.
func schemaLinesMessage(what string) string {
	lines := strings.Split(strings.TrimSpace(vmocue.SchemaLines), "\n")
	for i, l := range lines {
		lines[i] = "`" + strings.Join(strings.Fields(l), " ") + "`"
	}
	return what + " is not checked against the vmo-cue schemas: the root files must declare " +
		strings.Join(lines, ", ") + " (with import \"vmo-cue.dev/vmo/schemas\"; see `vmo-cue init`)"
}
