package apischema

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Generate returns every generated file, keyed by its slash-separated path from the repository root:
// the upstream CRDs, read from the KubeVirt and CDI modules (downloaded through the module proxy when
// they are not in the module cache), and what is made from them and from the Go API types.
func Generate() (map[string][]byte, error) {
	up, err := UpstreamFiles()
	if err != nil {
		return nil, err
	}
	files, err := GenerateLocal(up)
	if err != nil {
		return nil, err
	}
	for p, b := range up {
		files[p] = b
	}
	return files, nil
}

// GenerateLocal returns the files made without downloading anything: from the Go API types, and from
// the upstream CRD files given (those UpstreamFiles returns, or the checked-in ones: ReadUpstream).
func GenerateLocal(upstream map[string][]byte) (map[string][]byte, error) {
	return generate(defaultConfig(), defaultCUEOptions, upstream)
}

func generate(cfg *config, opt cueOptions, upstream map[string][]byte) (map[string][]byte, error) {
	m, err := newModel(cfg)
	if err != nil {
		return nil, err
	}
	files, err := render(cfg, m, opt)
	if err != nil {
		return nil, err
	}
	if upstream == nil {
		return files, nil // the speed probe's shapes
	}
	b, err := upstreamCUE(upstream)
	if err != nil {
		return nil, err
	}
	files[UpstreamCUEDir+"/zz_generated.cue"] = b
	if err := schemaJSONFiles(upstream, files); err != nil {
		return nil, err
	}
	if files[CRDDir+"/zz_objectmeta.json"], err = objectMetaJSON(m); err != nil {
		return nil, err
	}
	return files, nil
}

// render writes the model out: the CUE packages, one CRD per kind, and the CRD table of schemas/crds.
func render(cfg *config, m *Model, opt cueOptions) (map[string][]byte, error) {
	plan, err := newCUEPlan(cfg, m)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	for i, pkg := range cfg.cuePackages {
		b, err := plan.cueFile(i, opt)
		if err != nil {
			return nil, err
		}
		files[pkg.Dir+"/zz_generated.cue"] = b
	}
	for _, k := range cfg.kinds {
		if k.Upstream {
			continue
		}
		b, err := crdYAML(crd(k, m))
		if err != nil {
			return nil, fmt.Errorf("CRD %s: %w", k.Kind, err)
		}
		files[CRDDir+"/"+crdFileName(k)] = b
	}
	b, err := crdsGo(cfg.kinds)
	if err != nil {
		return nil, err
	}
	files[CRDDir+"/zz_generated.go"] = b
	return files, nil
}

// Write puts files under root and removes the YAML files in schemas/crds that are no longer
// generated (the directory belongs to the generator: crds.go embeds every YAML file in it).
func Write(root string, files map[string][]byte) error {
	extra, err := extraCRDFiles(root, files)
	if err != nil {
		return err
	}
	for _, p := range extra {
		if err := os.Remove(filepath.Join(root, filepath.FromSlash(p))); err != nil {
			return err
		}
	}
	for _, p := range sortedKeys(files) {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if old, err := os.ReadFile(full); err == nil && bytes.Equal(old, files[p]) {
			continue
		}
		if err := os.WriteFile(full, files[p], 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Stale lists, one line each, the files under root that differ from files, are missing, or are left
// over in schemas/crds.
func Stale(root string, files map[string][]byte) ([]string, error) {
	var out []string
	for _, p := range sortedKeys(files) {
		old, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(p)))
		switch {
		case os.IsNotExist(err):
			out = append(out, p+": missing")
		case err != nil:
			return nil, err
		case !bytes.Equal(old, files[p]):
			out = append(out, p+": differs from the generator's output, "+firstDiff(old, files[p]))
		}
	}
	extra, err := extraCRDFiles(root, files)
	if err != nil {
		return nil, err
	}
	for _, p := range extra {
		out = append(out, p+": not generated any more (crds.go would embed it)")
	}
	return out, nil
}

func extraCRDFiles(root string, files map[string][]byte) ([]string, error) {
	var out []string
	for _, pattern := range []string{"*.yaml", "*/*/*.yaml"} {
		found, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(CRDDir), pattern))
		if err != nil {
			return nil, err
		}
		for _, f := range found {
			rel, err := filepath.Rel(root, f)
			if err != nil {
				return nil, err
			}
			p := filepath.ToSlash(rel)
			if _, ok := files[p]; !ok {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

func firstDiff(old, new []byte) string {
	a, b := strings.Split(string(old), "\n"), strings.Split(string(new), "\n")
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			return fmt.Sprintf("first at line %d: have %q, want %q", i+1, x, y)
		}
	}
	return "in line endings"
}

func sortedKeys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
