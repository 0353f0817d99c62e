package engine

// The data-only fast path for CUE VMs.
//
// Most fleets write their CUE VMs as plain data: `vms: "<name>": {...}` with nothing but struct, list
// and basic literals. Unifying that data in CUE and exporting it back through JSON is what made a
// cluster's evaluation slow. When a cluster's `vms` are plain data, each VM written once, and the
// shared files declare `vms` by the canonical constraint only (or not at all), the engine reads the
// VMs as data — from the tokens of CUE's scanner (fastscan.go), or from the parser's syntax tree for a
// file that holds more than data (fastvm.go) — and CUE evaluates the cluster's files with their `vms`
// fields taken out.
//
// Anything else — a reference, a comprehension, an embedding, a definition, a constraint, a VM or a
// field written twice, a field the VM schema does not allow, a policy on `vms` in the shared files —
// sends the whole cluster down the general path, which gives CUE's own messages and positions. Both
// paths order a cluster's CUE VMs by namespace and name (sortVMs). A fast-path VM's positions are
// asked of the general path's value, evaluated once per cluster on the first Pos (findings only).
// FuzzFastPathEquivalent and the equivalence tests hold the two paths to the same results.

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strconv"
	"unicode/utf8"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/load"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"
	"cuelang.org/go/mod/modfile"

	vmocue "github.com/vmo-cue/vmo-cue"
	"github.com/vmo-cue/vmo-cue/internal/fleetfs"
)

// ownModuleLanguage is the language version of the module vmo-cue provides to a fleet without one.
const ownModuleLanguage = vmocue.LanguageVersion

// schemasImport is the package that declares #NamedVirtualMachine.
const schemasImport = "vmo-cue.dev/vmo/schemas"

// fastRoot is what the fast path learns once from the shared files and the embedded module.
type fastRoot struct {
	// off says why the fast path is off for every cluster ("" when it is on).
	off string
	// version is the language version files are parsed with (the loader's).
	version string
	// canonical is true when the shared files declare `vms?: [Name=string]:
	// schemas.#NamedVirtualMachine & {#name: Name}`, false when they do not declare vms.
	canonical bool
	// schemasName is the name the canonical line refers to the schemas package by.
	schemasName string
	// rootFile is where the canonical line is written: the file CUE gives a VM's value.
	rootFile string
	// vmFields are the fields the light #VirtualMachine allows, with their kinds (read from it).
	vmFields map[string]cue.Kind
}

// initFastPath decides whether the fast path can apply to this repository's clusters.
func (e *Engine) initFastPath() *fastRoot {
	fr := &fastRoot{}
	switch {
	case e.opts.NoFastPath:
		fr.off = "disabled by option"
	case e.opts.FullVMSchema:
		fr.off = "VMs are unified with the full CUE schema"
	}
	if fr.off != "" {
		return fr
	}
	v, err := e.module.languageVersion()
	if err != nil {
		fr.off = err.Error()
		return fr
	}
	fr.version = v
	if why := e.checkRoot(fr); why != "" {
		fr.off = why
		return fr
	}
	if fr.canonical {
		fr.vmFields = map[string]cue.Kind{}
		v := cuecontext.New().CompileString(lightVM).LookupPath(cue.MakePath(cue.Def("#VirtualMachine")))
		it, err := v.Fields(cue.Optional(true))
		if err != nil {
			fr.off = "the light #VirtualMachine: " + err.Error()
			return fr
		}
		for it.Next() {
			fr.vmFields[it.Selector().Unquoted()] = it.Value().IncompleteKind()
		}
	}
	return fr
}

// languageVersion is the language version the loader parses the fleet's files with.
func (m moduleLayout) languageVersion() (string, error) {
	if m.ownModule {
		return ownModuleLanguage, nil
	}
	p := filepath.Join(m.root, "cue.mod", "module.cue")
	mf, err := modfile.ParseNonStrict(m.modFile, p)
	if err != nil {
		return "", fmt.Errorf("module file: %v", err)
	}
	if mf.Language == nil || mf.Language.Version == "" {
		return "", fmt.Errorf("module file: no language version")
	}
	if err := validVersion(mf.Language.Version); err != nil {
		return "", err
	}
	return mf.Language.Version, nil
}

// validVersion checks a version the way parser.Version does (which panics).
func validVersion(v string) (err error) {
	defer func() {
		if recover() != nil {
			err = fmt.Errorf("module file: language version %q", v)
		}
	}()
	parser.Version(v)
	return nil
}

// checkRoot accepts shared files whose only word about vms is the canonical constraint.
func (e *Engine) checkRoot(fr *fastRoot) string {
	var names []string
	for _, f := range e.repo.CUE {
		af, err := parser.ParseFile(e.name(f), f.Data, parser.Version(fr.version))
		if err != nil {
			return "a shared file does not parse"
		}
		if why := checkFile(af); why != "" {
			return f.Path + ": " + why
		}
		var vmsDecl *ast.Field
		for _, d := range af.Decls {
			x, ok := d.(*ast.Field)
			if !ok {
				continue
			}
			name, _ := topLabel(x.Label)
			names = append(names, name)
			if name != "vms" {
				continue
			}
			if fr.canonical || vmsDecl != nil {
				return "vms is declared more than once in the shared files"
			}
			vmsDecl = x
			pos, ok := canonicalVMs(x, importName(af, schemasImport))
			if !ok {
				return f.Path + ": vms is declared by more than the canonical constraint"
			}
			fr.canonical, fr.schemasName = true, importName(af, schemasImport)
			p, _ := e.position(pos)
			fr.rootFile = p.File
		}
		for _, d := range af.Decls {
			if d == vmsDecl {
				continue
			}
			if refersTo(d, "vms") {
				return f.Path + ": vms is referred to"
			}
		}
	}
	for _, n := range names {
		if n == "string" || (fr.canonical && n == fr.schemasName) {
			return "a top-level field shadows a name the canonical constraint uses"
		}
	}
	return ""
}

// checkFile refuses files whose top level can add fields the fast path does not see: file
// attributes (build tags), embeddings, comprehensions, pattern constraints and dynamic fields.
func checkFile(af *ast.File) string {
	if af.PackageName() != "fleet" {
		return "not of package fleet"
	}
	for _, d := range af.Decls {
		switch x := d.(type) {
		case *ast.Package, *ast.ImportDecl, *ast.CommentGroup, *ast.LetClause:
		case *ast.Field:
			if _, ok := topLabel(x.Label); !ok {
				return "a pattern constraint or dynamic field at the top level"
			}
		case *ast.Attribute:
			return "a file attribute"
		default:
			return fmt.Sprintf("a top-level %T", d)
		}
	}
	return ""
}

// topLabel returns a top-level field's name; false for labels that are not a fixed name.
func topLabel(l ast.Label) (string, bool) {
	name, _, err := ast.LabelName(l)
	return name, err == nil
}

// importName returns the name a file imports a package by ("" if it does not).
func importName(af *ast.File, path string) string {
	for spec := range af.ImportSpecs() {
		if spec.Path == nil || spec.Path.Value != strconv.Quote(path) {
			continue
		}
		if spec.Name != nil {
			return spec.Name.Name
		}
		return filepath.Base(path)
	}
	return ""
}

// canonicalVMs matches `vms?: [Name=string]: schemas.#NamedVirtualMachine & {#name: Name}` and
// returns where its value starts (the position CUE gives every VM).
func canonicalVMs(f *ast.Field, schemas string) (token.Pos, bool) {
	id, ok := f.Label.(*ast.Ident)
	if !ok || id.Name != "vms" || f.Constraint != token.OPTION || len(f.Attrs) > 0 || schemas == "" {
		return token.NoPos, false
	}
	s, ok := f.Value.(*ast.StructLit)
	if !ok || s.Lbrace.IsValid() || len(s.Elts) != 1 {
		return token.NoPos, false
	}
	p, ok := s.Elts[0].(*ast.Field)
	if !ok || p.Constraint != token.ILLEGAL || len(p.Attrs) > 0 {
		return token.NoPos, false
	}
	l, ok := p.Label.(*ast.ListLit)
	if !ok || len(l.Elts) != 1 {
		return token.NoPos, false
	}
	a, ok := l.Elts[0].(*ast.Alias)
	if !ok || a.Ident == nil || !isIdent(a.Expr, "string") {
		return token.NoPos, false
	}
	b, ok := p.Value.(*ast.BinaryExpr)
	if !ok || b.Op != token.AND {
		return token.NoPos, false
	}
	sel, ok := b.X.(*ast.SelectorExpr)
	if !ok || !isIdent(sel.X, schemas) || !isIdent(sel.Sel, "#NamedVirtualMachine") {
		return token.NoPos, false
	}
	y, ok := b.Y.(*ast.StructLit)
	if !ok || len(y.Elts) != 1 {
		return token.NoPos, false
	}
	n, ok := y.Elts[0].(*ast.Field)
	if !ok || !isIdent(n.Label, "#name") || n.Constraint != token.ILLEGAL || len(n.Attrs) > 0 || !isIdent(n.Value, a.Ident.Name) {
		return token.NoPos, false
	}
	return b.Pos(), true
}

func isIdent(n ast.Node, name string) bool {
	id, ok := n.(*ast.Ident)
	return ok && id.Name == name
}

// refersTo reports whether a declaration uses an identifier of that name other than as a field label
// (conservatively: any such identifier, whatever it resolves to).
func refersTo(n ast.Node, name string) bool {
	found := false
	var visit func(n ast.Node) bool
	visit = func(n ast.Node) bool {
		if found {
			return false
		}
		switch x := n.(type) {
		case *ast.Field:
			switch l := x.Label.(type) {
			case *ast.Ident, *ast.BasicLit:
			case *ast.Alias:
				if l.Ident != nil && l.Ident.Name == name {
					found = true
				}
			default:
				ast.Walk(l, visit, nil)
			}
			ast.Walk(x.Value, visit, nil)
			return false
		case *ast.SelectorExpr:
			ast.Walk(x.X, visit, nil)
			return false
		case *ast.Ident:
			if x.Name == name {
				found = true
			}
		}
		return true
	}
	ast.Walk(n, visit, nil)
	return found
}

// fastCluster is a cluster read by the fast path.
type fastCluster struct {
	// files are the cluster's files without their vms fields, as syntax for the loader.
	files map[string]*ast.File
	vms   []*VM
}

// prepareFast reads a cluster's files with the CUE parser and its VMs from their syntax; the reason
// is non-empty when the cluster needs the general path. files are the instance's files (shared and
// the cluster's), which a VM's positions are asked of (generalVMs).
func (e *Engine) prepareFast(fc *fleetfs.Cluster, files []string) (*fastCluster, string) {
	fr := e.fast
	out := &fastCluster{files: make(map[string]*ast.File, len(fc.CUE))}
	general := &generalVMs{e: e, files: files}
	seen := map[string]bool{}
	for _, f := range fc.CUE {
		af, values, why := e.readVMs(f)
		if why != "" {
			return nil, f.Path + ": " + why
		}
		for _, v := range values {
			vms, ok := v.(map[string]any)
			if !ok {
				return nil, f.Path + ": vms is not plain data (or a field is written twice)"
			}
			for key, v := range vms {
				if seen[key] {
					return nil, f.Path + ": a VM is written twice"
				}
				seen[key] = true
				vm, why := e.fastVM(key, v, general)
				if why != "" {
					return nil, fmt.Sprintf("%s: vms.%s: %s", f.Path, cue.Str(key), why)
				}
				if vm.File == "" {
					vm.File = f.Path
				}
				out.vms = append(out.vms, vm)
			}
		}
		if why := checkFile(af); why != "" {
			return nil, f.Path + ": " + why
		}
		for _, d := range af.Decls {
			if x, ok := d.(*ast.Field); ok {
				name, _ := topLabel(x.Label)
				if name == "vms" || name == "string" || (fr.canonical && name == fr.schemasName) {
					return nil, f.Path + ": a top-level field shadows a name the canonical constraint uses"
				}
			}
			if refersTo(d, "vms") {
				return nil, f.Path + ": vms is referred to"
			}
		}
		out.files[e.name(f)] = af
	}
	return out, ""
}

// readVMs reads a file of a cluster: the values of its top-level vms fields (as dataValue gives
// them; ok false for one that is not plain data), and the rest of the file as syntax. A file of plain
// data is read by scanData, the rest by the parser with the vms fields blanked out (positions do not
// change); any other file by the parser alone.
func (e *Engine) readVMs(f fleetfs.File) (*ast.File, []any, string) {
	version := parser.Version(e.fast.version)
	if decls, ok := scanData(e.name(f), f.Data); ok {
		src := f.Data
		var values []any
		for _, d := range decls {
			if !d.vms {
				continue
			}
			values = append(values, d.value)
			if &src[0] == &f.Data[0] {
				src = bytes.Clone(src)
			}
			for j := d.start; j < d.end; j++ {
				if src[j] != '\n' {
					src[j] = ' '
				}
			}
		}
		af, err := parser.ParseFile(e.name(f), src, version)
		if err != nil {
			return nil, nil, "does not parse once its vms are taken out"
		}
		return af, values, ""
	}
	af, err := parser.ParseFile(e.name(f), f.Data, version)
	if err != nil {
		return nil, nil, "does not parse"
	}
	var values []any
	kept := af.Decls[:0:0]
	for _, d := range af.Decls {
		x, ok := d.(*ast.Field)
		if !ok {
			kept = append(kept, d)
			continue
		}
		if name, _ := topLabel(x.Label); name != "vms" {
			kept = append(kept, d)
			continue
		}
		if _, ok := dataLabel(x); !ok {
			return nil, nil, "vms is declared other than as data"
		}
		v, _ := dataValue(x.Value) // nil when not data, which is no struct
		values = append(values, v)
	}
	af.Decls = kept
	return af, values, ""
}

// dataLabel returns the name of a regular field (not a definition or hidden), with no constraint
// marker, alias or attribute.
func dataLabel(f *ast.Field) (string, bool) {
	if _, alias := f.Label.(*ast.Alias); alias || f.Constraint != token.ILLEGAL || len(f.Attrs) > 0 {
		return "", false
	}
	name, isIdent, err := ast.LabelName(f.Label)
	if err != nil || !utf8.ValidString(name) || isIdent && (name == "" || name[0] == '#' || name[0] == '_') {
		return "", false
	}
	return name, true
}

// clusterOverlay is the overlay of one cluster on the fast path: the shared overlay (module and
// shared files as bytes) plus the cluster's files as syntax.
func (e *Engine) clusterOverlay(files map[string]*ast.File) map[string]load.Source {
	ov := make(map[string]load.Source, len(e.baseOverlay)+len(files))
	for k, v := range e.baseOverlay {
		ov[k] = v
	}
	for k, f := range files {
		ov[k] = load.FromFile(f)
	}
	return ov
}

// instanceFor builds a fast-path cluster's instance without the loader, which costs more per cluster
// than evaluating a cluster's declarations: the shared files (parsed again: building an instance
// resolves its syntax in place) and the cluster's files, with the metadata the loader gives the
// shared files' instance and its imports (each cluster gets a copy of the import's instance: the
// syntax they hold is only read, and each cluster builds them in its own context). Nil when the
// cluster needs the loader: the shared files did not build cleanly, or a file of the cluster
// imports a package the shared files do not.
func (e *Engine) instanceFor(fc *fleetfs.Cluster, fast *fastCluster, s *sharedResult) *build.Instance {
	t := s.inst
	if t == nil {
		return nil
	}
	imports := make(map[string]*build.Instance, len(t.Imports))
	for _, imp := range t.Imports {
		imports[imp.ImportPath] = imp
	}
	for _, f := range fc.CUE {
		for spec := range fast.files[e.name(f)].ImportSpecs() {
			path, err := strconv.Unquote(spec.Path.Value)
			if err != nil || imports[path] == nil {
				return nil
			}
		}
	}
	inst := build.NewContext().NewInstance(t.Dir, func(_ token.Pos, path string) *build.Instance {
		imp := imports[path]
		if imp == nil {
			return nil
		}
		c := *imp
		return &c
	})
	inst.User, inst.PkgName, inst.ImportPath, inst.CanonicalID, inst.DisplayPath = t.User, t.PkgName, t.ImportPath, t.CanonicalID, t.DisplayPath
	inst.Module, inst.ModuleVersion, inst.ModuleFile = t.Module, t.ModuleVersion, t.ModuleFile
	inst.Root, inst.RootLoc, inst.DirLoc, inst.CanonicalImportPath = t.Root, t.RootLoc, t.DirLoc, t.CanonicalImportPath
	for _, f := range e.repo.CUE {
		af, err := parser.ParseFile(e.name(f), f.Data, parser.ParseComments, parser.Version(e.fast.version))
		if err != nil || inst.AddSyntax(af) != nil {
			return nil
		}
	}
	for _, f := range fc.CUE {
		if inst.AddSyntax(fast.files[e.name(f)]) != nil {
			return nil
		}
	}
	inst.Complete()
	return inst
}
