package apischema

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

// Source is one upstream Go module whose generated CRD validation the CRDs of a release are read
// from, as text: the module is downloaded through the module proxy (`go mod download`), never built
// or imported.
type Source struct {
	// Set names the CRD set in schemas/crds ("kubevirt/v1.7", "cdi/v1.61").
	Set             string
	Module, Version string
	// File is the generated Go file, relative to the module root; Var the map variable in it.
	File, Var string
}

// KubeVirtSources are the KubeVirt releases whose CRDs vmo-cue carries, one per supported minor: the
// newest patch release the module proxy served when they were chosen. Each release's
// validations_generated.go holds the OpenAPI schema of every kind, keyed by its singular name;
// crds.go (same package) assembles the CRDs: names, served versions, printer columns, subresources.
var KubeVirtSources = []Source{
	kubevirtSource("v1.4", "v1.4.0"),
	kubevirtSource("v1.5", "v1.5.0"),
	kubevirtSource("v1.6", "v1.6.0"),
	kubevirtSource("v1.7", "v1.7.0"),
	kubevirtSource("v1.8", "v1.8.1"),
}

// CDISources are the CDI releases whose CRDs vmo-cue carries. CDI's crds_generated.go holds whole
// CRDs. KubeVirt v1.4–v1.8 pin CDI APIs v1.57 to v1.64 in their go.mod; of the main module the proxy
// serves v1.61.1 and refused v1.57.0, v1.60.3, v1.60.4, v1.61.2, v1.62.0, v1.63.0 and v1.63.1 (v1.64.0
// is listed but absent from the checksum database): v1.61.1 is the nearest served release to each, so
// every cluster gets its DataVolume and CDI CRDs (crds.CDISet). See docs/kubevirt-schemas.md.
var CDISources = []Source{{Set: "cdi/v1.61", Module: "kubevirt.io/containerized-data-importer", Version: "v1.61.1",
	File: "pkg/operator/resources/crds_generated.go", Var: "CDICRDs"}}

func kubevirtSource(minor, version string) Source {
	return Source{Set: "kubevirt/" + minor, Module: "kubevirt.io/kubevirt", Version: version,
		File: "pkg/virt-operator/resource/generate/components/validations_generated.go", Var: "CRDsValidation"}
}

// moduleDir downloads a module through the module proxy (or finds it in the module cache) and returns
// its directory. It runs outside any main module, so that the project's go.mod is not involved.
func moduleDir(module, version string) (string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", module+"@"+version)
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GO111MODULE=on")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var info struct{ Dir, Error string }
	_ = json.Unmarshal(out, &info)
	if info.Error != "" {
		return "", fmt.Errorf("go mod download %s@%s: %s", module, version, info.Error)
	}
	if err != nil || info.Dir == "" {
		return "", fmt.Errorf("go mod download %s@%s: %v: %s", module, version, err, strings.TrimSpace(stderr.String()))
	}
	return info.Dir, nil
}

// readSource reads the generated file of a source from its module: the map variable's entries (keys
// and string values as Go spells them, raw or interpreted, concatenations included) and the file's
// SHA-256.
func readSource(s Source) (map[string]string, string, string, error) {
	dir, err := moduleDir(s.Module, s.Version)
	if err != nil {
		return nil, "", "", err
	}
	path := filepath.Join(dir, filepath.FromSlash(s.File))
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, "", "", fmt.Errorf("%s@%s: %w", s.Module, s.Version, err)
	}
	m, err := stringMap(path, src, s.Var)
	if err != nil {
		return nil, "", "", fmt.Errorf("%s@%s %s: %w", s.Module, s.Version, s.File, err)
	}
	sum := sha256.Sum256(src)
	return m, hex.EncodeToString(sum[:]), dir, nil
}

// stringMap finds `var name map[string]string = map[string]string{...}` in a Go file and returns its
// entries.
func stringMap(filename string, src []byte, name string) (map[string]string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), filename, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.VAR {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if n.Name != name || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.CompositeLit)
				if !ok {
					return nil, fmt.Errorf("%s is not a composite literal", name)
				}
				out := map[string]string{}
				for _, e := range lit.Elts {
					kv, ok := e.(*ast.KeyValueExpr)
					if !ok {
						return nil, fmt.Errorf("%s: an element is not key: value", name)
					}
					k, err := stringExpr(kv.Key)
					if err != nil {
						return nil, err
					}
					v, err := stringExpr(kv.Value)
					if err != nil {
						return nil, fmt.Errorf("%s[%q]: %w", name, k, err)
					}
					out[k] = v
				}
				return out, nil
			}
		}
	}
	return nil, fmt.Errorf("no variable %s", name)
}

// stringExpr evaluates a string literal or a concatenation of them.
func stringExpr(e ast.Expr) (string, error) {
	switch x := e.(type) {
	case *ast.BasicLit:
		if x.Kind != token.STRING {
			return "", fmt.Errorf("not a string: %s", x.Value)
		}
		return strconv.Unquote(x.Value)
	case *ast.BinaryExpr:
		if x.Op != token.ADD {
			break
		}
		a, err := stringExpr(x.X)
		if err != nil {
			return "", err
		}
		b, err := stringExpr(x.Y)
		return a + b, err
	case *ast.ParenExpr:
		return stringExpr(x.X)
	}
	return "", fmt.Errorf("not a string literal (%T)", e)
}

// upstreamEntry is one upstream CRD written to schemas/crds, for its table.
type upstreamEntry struct {
	Set, Kind, File, ShippedBy, CreatedBy string
}

// provenance records where a set's CRDs were read from.
type provenance struct {
	Set, Module, Version, File, SHA256 string
}

// UpstreamFiles reads every source from its module and returns the upstream CRD files and their
// provenance (schemas/crds/zz_sources.go), by path from the repository root.
func UpstreamFiles() (map[string][]byte, error) {
	files, _, prov, err := upstreamFiles(true)
	if err != nil {
		return nil, err
	}
	b, err := sourcesGo(prov)
	if err != nil {
		return nil, err
	}
	files[CRDDir+"/zz_sources.go"] = b
	return files, nil
}

// ReadUpstream returns the checked-in upstream files under root: what UpstreamFiles wrote last.
func ReadUpstream(root string) (map[string][]byte, error) {
	out := map[string][]byte{}
	found, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(CRDDir), "*", "*", "*.yaml"))
	if err != nil {
		return nil, err
	}
	found = append(found, filepath.Join(root, filepath.FromSlash(CRDDir), "zz_sources.go"))
	for _, f := range found {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		rel, err := filepath.Rel(root, f)
		if err != nil {
			return nil, err
		}
		out[filepath.ToSlash(rel)] = b
	}
	return out, nil
}

func sourcesGo(prov []provenance) ([]byte, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\npackage crds\n\n// Sources says where each upstream set of CRDs was read from: module, version, file, and the\n// file's SHA-256.\nvar Sources = []Source{\n", Header)
	for _, p := range prov {
		fmt.Fprintf(&b, "\t{Set: %q, Module: %q, Version: %q, File: %q, SHA256: %q},\n", p.Set, p.Module, p.Version, p.File, p.SHA256)
	}
	b.WriteString("}\n")
	out, err := format.Source([]byte(b.String()))
	if err != nil {
		return nil, fmt.Errorf("formatting zz_sources.go: %w", err)
	}
	return out, nil
}

// upstreamFiles reads every source (CDI's only withCDI) and returns the CRD files (by path from the
// repository root), the table's entries and the provenance of each set.
func upstreamFiles(withCDI bool) (map[string][]byte, []upstreamEntry, []provenance, error) {
	files := map[string][]byte{}
	var entries []upstreamEntry
	var prov []provenance
	add := func(s Source, sum string, kinds []upstreamKind, list []*apiextensionsv1.CustomResourceDefinition) error {
		prov = append(prov, provenance{Set: s.Set, Module: s.Module, Version: s.Version, File: s.File, SHA256: sum})
		for i, c := range list {
			b, err := crdYAML(c)
			if err != nil {
				return fmt.Errorf("%s %s: %w", s.Set, c.Name, err)
			}
			f := upstreamFile(s.Set, c)
			files[CRDDir+"/"+f] = b
			entries = append(entries, upstreamEntry{Set: s.Set, Kind: kinds[i].Kind, File: f,
				ShippedBy: kinds[i].ShippedBy, CreatedBy: kinds[i].CreatedBy})
		}
		return nil
	}
	for _, s := range KubeVirtSources {
		m, sum, dir, err := readSource(s)
		if err != nil {
			return nil, nil, nil, err
		}
		list, err := kubevirtCRDs(m, dir, s.File)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%s@%s: %w", s.Module, s.Version, err)
		}
		if err := add(s, sum, kubevirtKinds, list); err != nil {
			return nil, nil, nil, err
		}
	}
	for _, s := range CDISources {
		if !withCDI {
			break
		}
		m, sum, _, err := readSource(s)
		if err != nil {
			return nil, nil, nil, err
		}
		list, err := cdiCRDs(m)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%s@%s: %w", s.Module, s.Version, err)
		}
		if err := add(s, sum, cdiKinds, list); err != nil {
			return nil, nil, nil, err
		}
	}
	return files, entries, prov, nil
}
