package engine

// The data-only fast path for CUE VMs.
//
// Most fleets write their CUE VMs as plain data: `vms: "<name>": {...}` with nothing but struct, list
// and basic literals. Parsing that data with the CUE parser, unifying it in CUE and exporting it back
// through JSON is what made a cluster's evaluation slow. When a cluster's `vms` are pure data, and the
// shared files declare `vms` by the canonical constraint only (or not at all), the engine reads the
// VMs itself:
//
//   - fastdata.go reads each file in the pure-data subset of CUE (a strict reader: anything it does
//     not know for certain, and the file is read by the CUE parser instead) into compact nodes that
//     keep the offset of every label and value;
//   - fastvm.go deep-merges what is written several times the way CUE unification would (conflicts
//     reported in CUE's words, at CUE's positions), applies what #NamedVirtualMachine adds
//     (metadata.name from the key), orders the VMs as CUE orders fields, and answers Pos(path) as the
//     CUE value would;
//   - CUE evaluates the cluster's files with the `vms` fields taken out (as syntax: the CUE parser
//     reads only what is left of a file, positions unchanged), in an instance built without the
//     loader when the files import nothing the shared files do not (instanceFor).
//
// Anything else (a reference, a comprehension, an embedding, a definition, a constraint, a policy on
// `vms` in the shared files, a conflict CUE would word differently, ...) sends the whole cluster down
// the general path. The equivalence tests (fastpath_test.go) hold the two paths to the same results.

import (
	"bytes"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/load"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"
	"cuelang.org/go/mod/modfile"

	vmocue "github.com/vmo-cue/vmo-cue"
	"github.com/vmo-cue/vmo-cue/internal/diag"
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
	// Where CUE places the values the schema adds (canonical only): a VM itself (the constraint),
	// its metadata, spec and status (the light #VirtualMachine), and a defaulted metadata.name.
	rootPos, metadataPos, specPos, statusPos, namePos diag.Position
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
		if why := e.schemaPositions(fr); why != "" {
			fr.off = why
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
			fr.rootPos = p
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
	if a, ok := l.(*ast.Alias); ok {
		if x, ok := a.Expr.(ast.Label); ok {
			l = x
		} else {
			return "", false
		}
	}
	switch x := l.(type) {
	case *ast.Ident:
		return x.Name, true
	case *ast.BasicLit:
		if x.Kind != token.STRING {
			return x.Value, true
		}
		s, err := literal.Unquote(x.Value)
		return s, err == nil
	}
	return "", false
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

// What the fast path assumes of the embedded module; if the module changes, the fast path turns off
// (and the equivalence tests say why).
const (
	namedVMDecl = `#NamedVirtualMachine: #VirtualMachine & {
	#name: string
	metadata: name: *#name | #Name
}`
	nameDecl = `#Name: =~"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" & strings.MaxRunes(63)`
)

// nameRE and nameMaxRunes are schemas.#Name.
var nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

const nameMaxRunes = 63

// schemaPositions finds where CUE places what the schema adds to a VM, and checks that the embedded
// schema still says what the fast path applies.
func (e *Engine) schemaPositions(fr *fastRoot) string {
	cluster, err := vmocue.Module.ReadFile("schemas/cluster.cue")
	if err != nil {
		return err.Error()
	}
	stack, err := vmocue.Module.ReadFile("schemas/stack.cue")
	if err != nil {
		return err.Error()
	}
	if bytes.Count(cluster, []byte(namedVMDecl)) != 1 || !bytes.Contains(stack, []byte(nameDecl)) {
		return "the embedded #NamedVirtualMachine or #Name is not the one the fast path applies"
	}
	schemaDir := filepath.Join(e.module.pkgDir, "schemas")
	// Nothing else in the schemas package may add to the two definitions.
	entries, err := vmocue.Module.ReadDir("schemas")
	if err != nil {
		return err.Error()
	}
	for _, en := range entries {
		p := "schemas/" + en.Name()
		if en.IsDir() || !strings.HasSuffix(p, ".cue") || p == "schemas/vm.cue" || builtinOnly[p] {
			continue
		}
		data, err := vmocue.Module.ReadFile(p)
		if err != nil {
			return err.Error()
		}
		if bytes.Count(data, []byte("#VirtualMachine")) != map[bool]int{true: 1}[p == "schemas/cluster.cue"] ||
			bytes.Count(data, []byte("#NamedVirtualMachine:")) != map[bool]int{true: 1}[p == "schemas/cluster.cue"] {
			return p + " adds to #VirtualMachine or #NamedVirtualMachine"
		}
	}
	cf, err := parser.ParseFile(filepath.Join(schemaDir, "cluster.cue"), cluster)
	if err != nil {
		return err.Error()
	}
	found := false
	for _, d := range cf.Decls {
		f, ok := d.(*ast.Field)
		if !ok || !isIdent(f.Label, "#NamedVirtualMachine") {
			continue
		}
		b := f.Value.(*ast.BinaryExpr)
		md := b.Y.(*ast.StructLit).Elts[1].(*ast.Field)
		name := md.Value.(*ast.StructLit).Elts[0].(*ast.Field)
		fr.namePos, _ = e.position(name.Pos())
		found = true
	}
	if !found {
		return "#NamedVirtualMachine not found"
	}
	lf, err := parser.ParseFile(filepath.Join(schemaDir, "vm.cue"), lightVM)
	if err != nil {
		return err.Error()
	}
	for _, d := range lf.Decls {
		f, ok := d.(*ast.Field)
		if !ok {
			continue
		}
		for _, el := range f.Value.(*ast.StructLit).Elts {
			g := el.(*ast.Field)
			p, _ := e.position(g.Value.Pos())
			switch g.Label.(*ast.Ident).Name {
			case "metadata":
				fr.metadataPos = p
			case "spec":
				fr.specPos = p
			case "status":
				fr.statusPos = p
			}
		}
	}
	return ""
}

// syntaxTreeOnly makes the fast path read every file with the CUE parser (for tests).
var syntaxTreeOnly bool

// fastCluster is a cluster read by the fast path.
type fastCluster struct {
	// files are the cluster's files without their vms fields, as syntax for the loader.
	files map[string]*ast.File
	vms   []*VM
	diags diag.List
}

// prepareFast reads a cluster's files and its VMs; the reason is non-empty when the cluster needs
// the general path. A file in the pure-data subset is read by the data reader, and the CUE parser
// reads what is left of it (the vms fields blanked out, positions unchanged); any other file is
// read by the CUE parser.
func (e *Engine) prepareFast(fc *fleetfs.Cluster) (*fastCluster, string) {
	fr := e.fast
	out := &fastCluster{files: make(map[string]*ast.File, len(fc.CUE))}
	files := make([]*dfile, len(fc.CUE))
	var lits []*dnode
	for fi, f := range fc.CUE {
		df := &dfile{abs: e.name(f), data: f.Data}
		df.rel, _ = e.relFile(e.name(f))
		files[fi] = df
		var af *ast.File
		var err error
		if decls, ok := readData(f.Data, int32(fi)); ok && !syntaxTreeOnly {
			// The CUE parser reads the file up to its last other field, the vms fields blanked
			// out: positions do not change.
			end := len(f.Data)
			if len(decls) > 0 {
				end = decls[0].start
			}
			for _, d := range decls {
				if d.node.name != "vms" {
					end = d.end
				}
			}
			src := f.Data[:end]
			for i := range decls {
				d := &decls[i]
				if d.node.name != "vms" {
					continue
				}
				if d.node.kind != dStruct {
					return nil, f.Path + ": vms is not a struct"
				}
				lits = append(lits, &d.node)
				if d.start >= end {
					continue
				}
				if &src[0] == &f.Data[0] {
					src = bytes.Clone(src)
				}
				for j := d.start; j < d.end; j++ {
					if src[j] != '\n' {
						src[j] = ' '
					}
				}
			}
			af, err = parser.ParseFile(e.name(f), src, parser.Version(fr.version))
			if err != nil {
				return nil, f.Path + ": does not parse once its vms are taken out"
			}
		} else {
			af, err = parser.ParseFile(e.name(f), f.Data, parser.Version(fr.version))
			if err != nil {
				return nil, f.Path + ": does not parse"
			}
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
				n, ok := fieldFromAST(x, int32(fi))
				if !ok {
					return nil, f.Path + ": vms is not pure data"
				}
				if n.kind != dStruct {
					return nil, f.Path + ": vms is not a struct"
				}
				lits = append(lits, &n)
			}
			af.Decls = kept
		}
		if why := checkFile(af); why != "" {
			return nil, f.Path + ": " + why
		}
		for _, d := range af.Decls {
			if x, ok := d.(*ast.Field); ok {
				name, _ := topLabel(x.Label)
				if name == "vms" || name == "string" || (fr.canonical && name == fr.schemasName) {
					return nil, f.Path + ": vms is declared other than as data, or a top-level field shadows a name the canonical constraint uses"
				}
			}
			if refersTo(d, "vms") {
				return nil, f.Path + ": vms is referred to"
			}
		}
		out.files[e.name(f)] = af
	}

	// The VMs' fields, by key, in the order CUE unifies them.
	byKey := map[string][]*dnode{}
	for _, l := range lits {
		for i := range l.kids {
			k := &l.kids[i]
			byKey[k.name] = append(byKey[k.name], k)
		}
	}
	for _, key := range orderKeys(lits) {
		vm, diags, why := e.fastVM(key, byKey[key], files)
		if why != "" {
			return nil, fmt.Sprintf("vms.%s: %s", cue.Str(key), why)
		}
		out.diags = append(out.diags, diags...)
		if vm != nil {
			out.vms = append(out.vms, vm)
		}
	}
	return out, ""
}

// dataLabel returns the name of a regular field written as an identifier or a string, with no
// constraint marker, alias or attribute.
func dataLabel(f *ast.Field) (string, bool) {
	if f.Constraint != token.ILLEGAL || len(f.Attrs) > 0 {
		return "", false
	}
	switch x := f.Label.(type) {
	case *ast.Ident:
		if x.Name == "" || x.Name[0] == '#' || x.Name[0] == '_' {
			return "", false
		}
		return x.Name, true
	case *ast.BasicLit:
		if x.Kind != token.STRING {
			return "", false
		}
		q, n, _, err := literal.ParseQuotes(x.Value, x.Value)
		if err != nil || !q.IsDouble() || q.IsMulti() {
			return "", false
		}
		s, err := q.Unquote(x.Value[n:])
		if err != nil || !utf8.ValidString(s) {
			return "", false
		}
		return s, true
	}
	return "", false
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
