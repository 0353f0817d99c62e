package engine

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	cueerrors "cuelang.org/go/cue/errors"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/fleetfs"
	"github.com/vmo-cue/vmo-cue/internal/yamldoc"
)

// Cluster is one evaluated cluster.
type Cluster struct {
	Name string
	// Dir is the cluster's folder, relative to the fleet root.
	Dir string
	// Declared is false when the folder holds no `cluster` declaration.
	Declared bool
	Kind     string
	Labels   map[string]string
	// Context is the kubeconfig context (the name unless the declaration sets one).
	Context string
	// Mode is how a fleet controller reaches the cluster: "push" (the default) or "pull" (its own
	// agent syncs it and reports to the controller).
	Mode string
	// Decl is the cluster's own declaration as a layer over the fleet's defaults.
	Decl *Layer
	// DeclPos is where the declaration starts.
	DeclPos diag.Position
	// SourceVMs are the VMs as read from the cluster's CUE and YAML (validate.Cluster.VMs are the
	// checked ones).
	SourceVMs []*VM
	// Kustomize is what the cluster's kustomize folders give (nil without one; kustomize.go).
	Kustomize *Kustomized
	// OwnDiags are the cluster's own findings (the shared definitions' are in Fleet.Diags;
	// validate.Cluster.Diags are all of a cluster's).
	OwnDiags diag.List
	// Unevaluated, when set, says why the cluster's evaluation was stopped (the budget): its
	// declaration, settings and VMs are unknown.
	Unevaluated string

	// fast records that the cluster's VMs were read by the data-only fast path, and noLoader that
	// its instance was built without the loader (for tests).
	fast, noLoader bool
}

// VM is one VirtualMachine from CUE or YAML.
type VM struct {
	// Object is the VM as decoded (maps, slices, scalars).
	Object map[string]any
	// File is where it was defined, relative to the fleet root; Key is its CUE key (CUE VMs only).
	File string
	Key  string
	// Pos returns where the value at a path inside the object was written (its deepest existing
	// parent for a path that does not exist).
	Pos func(path ...string) diag.Position
	// FromYAML says whether it came from a YAML file (else CUE).
	FromYAML bool
	// LazyPos says that Pos holds nothing heavy until it is called: a VM of the fast path, whose
	// cluster the general path evaluates only when a position is asked (a finding). A lean check
	// keeps such a Pos as it is instead of asking it for positions ahead of any finding.
	LazyPos bool
}

// Name and Namespace read metadata; Namespace is empty when unset.
func (vm *VM) Name() string      { return str(vm.Object, "metadata", "name") }
func (vm *VM) Namespace() string { return str(vm.Object, "metadata", "namespace") }

func str(m map[string]any, path ...string) string {
	v, _ := lookup(m, path)
	s, _ := v.(string)
	return s
}

func (e *Engine) evalCluster(fc *fleetfs.Cluster, s *sharedResult) *Cluster {
	c := &Cluster{Name: fc.Name, Dir: fc.Dir, Context: fc.Name, Mode: "push", Decl: &Layer{}}
	c.DeclPos = diag.Position{File: fc.Dir}
	c.OwnDiags = append(c.OwnDiags, e.refused[fc.Name]...)
	var general cue.Value
	if len(fc.CUE) > 0 {
		general = e.evalClusterCUE(fc, s, c)
	} else {
		c.OwnDiags.Errorf("cluster-declaration", "cluster", []diag.Position{{File: fc.Dir}},
			"cluster folder %s has no cluster declaration: add %s with `cluster: {name: %q, kind: \"edge\" | \"datacenter\"}`",
			diag.Name(fc.Dir), diag.Name(fc.Dir+"/cluster.cue"), fc.Name)
	}
	var bound diag.Bounder
	for _, f := range fc.YAML {
		docs, problems := yamldoc.Decode(f.Path, f.Data)
		c.OwnDiags = append(c.OwnDiags, problems...)
		for _, d := range docs {
			c.OwnDiags = bound.Bound(c.OwnDiags)
			obj, ok := d.Value.(map[string]any)
			if !ok {
				c.OwnDiags.Errorf("vm-kind", "", []diag.Position{d.Pos(nil)},
					"YAML document %d is not an object: a cluster folder holds KubeVirt VirtualMachines", d.Index+1)
				continue
			}
			doc := d
			doc.Value = nil // the VM holds it: its Pos holds the document, not the object as well
			c.SourceVMs = append(c.SourceVMs, &VM{Object: obj, File: f.Path, FromYAML: true,
				Pos: func(path ...string) diag.Position { return doc.KeyPos(path) }})
		}
	}
	e.kustomize(fc, c) // kustomize.go
	if general.Exists() {
		e.checkYAMLVMs(general, s, c)
	}
	c.OwnDiags = c.OwnDiags.Dedup().CapFiles(diag.MaxPerFile)
	return c
}

// checkYAMLVMs holds YAML VMs to the fleet's own constraints on `vms` (policies written in CUE). It
// runs on the general path only: the fast path is taken only when `vms` carries no constraint but
// the schema's. Each YAML VM is filled into the cluster's `vms` under its name; a finding points at
// the YAML line and at the constraint. The VM schema itself is checked in Go, as for every VM.
func (e *Engine) checkYAMLVMs(v cue.Value, s *sharedResult, c *Cluster) {
	vms := v.LookupPath(cue.ParsePath("vms"))
	for _, vm := range c.SourceVMs {
		if kind, _ := vm.Object["kind"].(string); !vm.FromYAML || vm.Name() == "" || (kind != "" && kind != "VirtualMachine") {
			continue // the policies on vms are about VMs, not the DataVolumes and others beside them
		}
		sel := cue.MakePath(cue.Str(vm.Name()))
		if vms.Exists() && vms.LookupPath(sel).Exists() {
			continue // a CUE VM of the same name: reported as a duplicate
		}
		// Encoded, not filled as Go data: FillPath makes a Go nil `_`, Encode makes it null.
		//lint:ignore SA1019 v and the encoded VM are of the one context this cluster was built in
		obj := v.Context().Encode(withoutNulls(vm.Object))
		filled := v.FillPath(cue.MakePath(cue.Str("vms"), cue.Str(vm.Name())), obj)
		err := filled.LookupPath(cue.MakePath(cue.Str("vms"), cue.Str(vm.Name()))).Validate(cue.All(), cue.Concrete(true))
		if err == nil {
			continue
		}
		for _, ce := range cueerrors.Errors(err) {
			if !e.fromFleetFiles(ce) {
				continue // the schema's alone (no constraint of the fleet's): the Go schema check reports it
			}
			for _, d := range e.fromCUE(ce, "policy") {
				if strings.HasSuffix(d.Message, "field not allowed") {
					continue // the schema's closedness: reported by the Go schema check
				}
				var inVM []string
				if p := ce.Path(); len(p) > 2 {
					inVM = p[2:]
				}
				d.Positions = append([]diag.Position{vm.Pos(inVM...)}, d.Positions...)
				c.OwnDiags.Add(d)
			}
		}
	}
}

// fromFleetFiles reports whether a CUE error involves a constraint written in the fleet's own files
// (a policy), not only the embedded schemas and the value filled in.
func (e *Engine) fromFleetFiles(ce cueerrors.Error) bool {
	for _, p := range cueerrors.Positions(ce) {
		if dp, mine := e.position(p); mine && dp.File != "" {
			return true
		}
	}
	return false
}

// evalClusterCUE evaluates the cluster's CUE; it returns the cluster's value when it took the general
// path (nothing when the fast path did, or when the instance did not build).
func (e *Engine) evalClusterCUE(fc *fleetfs.Cluster, s *sharedResult, c *Cluster) cue.Value {
	files := append([]string(nil), s.files...)
	for _, f := range fc.CUE {
		files = append(files, e.name(f))
	}
	if e.fast.off == "" {
		if fast, why := e.prepareFast(fc, files); why == "" {
			saved := *c
			if e.evalClusterFast(fc, files, fast, s, c) {
				return cue.Value{}
			}
			*c = saved // something only the general path reports: evaluate the cluster again there
		}
	}
	ctx := cuecontext.New()
	v, diags := e.build(ctx, files, e.overlay)
	c.OwnDiags = append(c.OwnDiags, ownFindings(diags, s.rootFiles)...)
	if !v.Exists() {
		return v
	}
	e.evalDeclarations(v, fc, s, c)
	vms := v.LookupPath(cue.ParsePath("vms"))
	if !vms.Exists() {
		return v
	}
	it, err := vms.Fields()
	if err != nil {
		return v
	}
	for it.Next() {
		key := it.Selector().Unquoted()
		vv := it.Value()
		obj, err := decodeJSON(vv)
		if err != nil {
			if verr := vv.Validate(cue.All(), cue.Concrete(true)); verr != nil {
				err = verr
			}
			c.OwnDiags = append(c.OwnDiags, ownFindings(e.fromCUE(err, "schema"), s.rootFiles)...)
			continue
		}
		pos, _ := e.position(vv.Pos())
		idx := &fieldIndex{}
		c.SourceVMs = append(c.SourceVMs, &VM{Object: obj, File: pos.File, Key: key,
			Pos: func(path ...string) diag.Position { return e.valuePos(vv, idx, path) }})
	}
	sortVMs(c.SourceVMs)
	return v
}

// sortVMs puts a cluster's CUE VMs in their defined order, the same on both paths: by namespace, then
// name, then key.
func sortVMs(vms []*VM) {
	slices.SortFunc(vms, func(a, b *VM) int {
		return cmp.Or(cmp.Compare(a.Namespace(), b.Namespace()), cmp.Compare(a.Name(), b.Name()), cmp.Compare(a.Key, b.Key))
	})
}

// evalClusterFast evaluates a cluster whose VMs the fast path has read: CUE evaluates the files
// without their vms fields. It returns false when the evaluation must be done again on the general
// path (the package does not evaluate to a struct, which the fast path does not reproduce).
func (e *Engine) evalClusterFast(fc *fleetfs.Cluster, files []string, fast *fastCluster, s *sharedResult, c *Cluster) bool {
	ctx := cuecontext.New()
	var v cue.Value
	var diags diag.List
	if inst := e.instanceFor(fc, fast, s); inst != nil {
		v, diags = e.buildInstance(ctx, inst)
		c.noLoader = true
	} else {
		v, diags = e.build(ctx, files, e.clusterOverlay(fast.files))
	}
	if v.Exists() && v.Err() != nil {
		return false
	}
	c.OwnDiags = append(c.OwnDiags, ownFindings(diags, s.rootFiles)...)
	if !v.Exists() {
		return true
	}
	e.evalDeclarations(v, fc, s, c)
	c.SourceVMs = append(c.SourceVMs, fast.vms...)
	sortVMs(c.SourceVMs)
	c.fast = true
	return true
}

// evalDeclarations checks and reads what a cluster's package declares besides its VMs.
func (e *Engine) evalDeclarations(v cue.Value, fc *fleetfs.Cluster, s *sharedResult, c *Cluster) {
	// The declaration is validated by CUE; VMs are decoded one by one (their schema is checked in
	// Go), and only a VM that does not decode is validated by CUE, for its errors.
	for _, f := range []string{"fleet", "cluster"} {
		if fv := v.LookupPath(cue.MakePath(cue.Str(f))); fv.Exists() {
			if err := fv.Validate(cue.All(), cue.Concrete(true)); err != nil {
				c.OwnDiags = append(c.OwnDiags, ownFindings(e.fromCUEInFleet(err, "schema", v), s.rootFiles)...)
			}
		}
	}
	c.OwnDiags = append(c.OwnDiags, ownFindings(e.checkTopLevel(v), s.rootFiles)...)
	decl := v.LookupPath(cue.ParsePath("cluster"))
	if !decl.Exists() {
		c.OwnDiags.Errorf("cluster-declaration", "cluster", []diag.Position{{File: fc.CUE[0].Path}},
			"cluster folder %s has no cluster declaration: its CUE files must set `cluster: {name: %q, kind: ...}`", diag.Name(fc.Dir), fc.Name)
	} else {
		if unchecked(decl) && !hasRule(s.diags, "fleet-schema") {
			c.OwnDiags.Errorf("fleet-schema", "cluster", e.positions(decl), "%s", schemaLinesMessage("cluster"))
		}
		e.readDeclaration(decl, fc, c)
	}
}

// valuePos finds where the value at path was written in CUE.
func (e *Engine) valuePos(v cue.Value, idx *fieldIndex, path []string) diag.Position {
	cur := v
	for n, p := range path {
		var next cue.Value
		if i, err := strconv.Atoi(p); err == nil && allDigits(p) {
			next = cur.LookupPath(cue.MakePath(cue.Index(i)))
		} else {
			next = idx.lookup(cur, path[:n], p)
		}
		if !next.Exists() {
			break
		}
		cur = next
	}
	p, _ := e.position(cur.Pos())
	return p
}

// fieldIndex indexes the regular fields of a VM's structs by name, each on first use: CUE looks a
// field up by a walk over its struct's fields, which made the positions of many fields of one struct
// quadratic.
type fieldIndex struct {
	mu    sync.Mutex
	index map[string]map[string]cue.Value // by the struct's path, joined by NUL
}

// lookup returns the field name of the struct v at path (as LookupPath does).
func (x *fieldIndex) lookup(v cue.Value, path []string, name string) cue.Value {
	if v.IncompleteKind() != cue.StructKind {
		return v.LookupPath(cue.MakePath(cue.Str(name)))
	}
	key := strings.Join(path, "\x00")
	x.mu.Lock()
	defer x.mu.Unlock()
	m, ok := x.index[key]
	if !ok {
		m = map[string]cue.Value{}
		if it, err := v.Fields(); err == nil {
			for it.Next() {
				m[it.Selector().Unquoted()] = it.Value()
			}
		}
		if x.index == nil {
			x.index = map[string]map[string]cue.Value{}
		}
		x.index[key] = m
	}
	if f, ok := m[name]; ok {
		return f
	}
	return v.LookupPath(cue.MakePath(cue.Str(name))) // an optional field, say
}

func (e *Engine) readDeclaration(decl cue.Value, fc *fleetfs.Cluster, c *Cluster) {
	c.Declared = true
	c.Decl = e.layer(decl)
	if p, _ := e.position(decl.Pos()); p.File != "" {
		c.DeclPos = p
	}
	m := c.Decl.Value
	name, _ := m["name"].(string)
	if name != "" && name != fc.Name {
		p, _ := c.Decl.Pos("name")
		c.OwnDiags.Errorf("cluster-name", "cluster.name", []diag.Position{p},
			"cluster is declared as %q in folder %s: the folder name and the cluster name must match", name, diag.Name(fc.Dir))
	}
	c.Kind, _ = m["kind"].(string)
	if mode, ok := m["mode"].(string); ok && mode != "" {
		c.Mode = mode
	}
	if ctxName, ok := m["context"].(string); ok && ctxName != "" {
		c.Context = ctxName
	}
	if labels, ok := m["labels"].(map[string]any); ok {
		c.Labels = map[string]string{}
		for k, v := range labels {
			c.Labels[k] = fmt.Sprint(v)
		}
	}
}

// ownFindings drops findings that only point into the shared files (reported once, fleet-wide).
func ownFindings(l diag.List, rootFiles map[string]bool) diag.List {
	var out diag.List
	for _, d := range l {
		shared := len(d.Positions) > 0
		for _, p := range d.Positions {
			if !rootFiles[p.File] {
				shared = false
				break
			}
		}
		if shared {
			continue
		}
		out = append(out, d)
	}
	return out
}

// topLevel are the fields a fleet package may declare.
var topLevel = map[string]bool{"fleet": true, "cluster": true, "vms": true}

// checkTopLevel refuses fields other than fleet, cluster and vms at the root of the package, where
// CUE's own closedness does not reach (see schemas.#Package).
func (e *Engine) checkTopLevel(v cue.Value) diag.List {
	var out diag.List
	it, err := v.Fields()
	if err != nil {
		return nil
	}
	for it.Next() {
		name := it.Selector().Unquoted()
		if topLevel[name] {
			continue
		}
		p, _ := e.position(it.Value().Pos())
		out.Errorf("layout", pathString([]string{name}), []diag.Position{p},
			"field not allowed: a fleet package declares only fleet, cluster and vms (definitions and hidden fields are free)")
	}
	return out
}

// decodeJSON decodes a concrete CUE value through JSON, which is several times faster than
// Value.Decode for large data.
func decodeJSON(v cue.Value) (map[string]any, error) {
	data, err := v.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var obj map[string]any
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, err
	}
	return obj, nil
}

func hasRule(l diag.List, rule string) bool {
	for _, d := range l {
		if d.Rule == rule {
			return true
		}
	}
	return false
}
