package engine

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/fleetfs"
	"github.com/vmo-cue/vmo-cue/internal/genfleet"
	"github.com/vmo-cue/vmo-cue/internal/testfleet"
)

// evaluate runs the engine on a fleet directory with the fast path on or off.
func evaluate(t *testing.T, dir string, noFast bool) *Fleet {
	t.Helper()
	repo, err := fleetfs.Read(dir, fleetfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(repo, Options{NoFastPath: noFast})
	if err != nil {
		t.Fatal(err)
	}
	f, err := e.Evaluate()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// findings are a list as the validate package reports it: deduplicated and sorted.
func findings(l diag.List) []string {
	l = slices.Clone(l).Dedup()
	l.Sort()
	out := make([]string, len(l))
	for i, d := range l {
		out[i] = d.Error()
	}
	return out
}

// probePaths are the paths whose positions are compared for a VM: every value in the object (all of
// them, or a sample for large fleets), paths that do not exist below each, and the fields the schema
// adds.
func probePaths(obj map[string]any, all bool) [][]string {
	paths := [][]string{nil, {"metadata"}, {"metadata", "name"}, {"metadata", "labels"}, {"spec"},
		{"status"}, {"apiVersion"}, {"kind"}, {"spec", "running"}, {"metadata", "name", "x"}, {"0"}, {""}}
	n := 0
	var walk func(v any, path []string)
	walk = func(v any, path []string) {
		n++
		if all || n%7 == 0 {
			paths = append(paths, path)
		}
		switch x := v.(type) {
		case map[string]any:
			paths = append(paths, append(slices.Clone(path), "no-such-field"), append(slices.Clone(path), "0"))
			for k, v := range x {
				walk(v, append(slices.Clone(path), k))
			}
		case []any:
			paths = append(paths, append(slices.Clone(path), strconv.Itoa(len(x))), append(slices.Clone(path), "x"),
				append(slices.Clone(path), "007"))
			for i, v := range x {
				walk(v, append(slices.Clone(path), strconv.Itoa(i)))
			}
		}
	}
	walk(obj, nil)
	return paths
}

// assertEquivalent evaluates a fleet on both paths and requires the same results. It returns the
// clusters that took the fast path.
func assertEquivalent(t *testing.T, dir string, allPaths bool) map[string]bool {
	t.Helper()
	slow := evaluate(t, dir, true)
	fast := evaluate(t, dir, false)
	if !reflect.DeepEqual(findings(slow.Diags), findings(fast.Diags)) {
		t.Errorf("shared findings differ:\nslow: %q\nfast: %q", findings(slow.Diags), findings(fast.Diags))
	}
	if !reflect.DeepEqual(slow.Defaults, fast.Defaults) {
		t.Errorf("defaults differ")
	}
	if len(slow.Clusters) != len(fast.Clusters) {
		t.Fatalf("%d clusters on the general path, %d on the fast path", len(slow.Clusters), len(fast.Clusters))
	}
	took := map[string]bool{}
	for i, sc := range slow.Clusters {
		fc := fast.Clusters[i]
		if sc.fast {
			t.Fatalf("cluster %s: took the fast path with NoFastPath", sc.Name)
		}
		took[fc.Name] = fc.fast
		name := sc.Name
		if a, b := findings(sc.OwnDiags), findings(fc.OwnDiags); !reflect.DeepEqual(a, b) {
			t.Errorf("cluster %s: findings differ:\nslow: %s\nfast: %s", name, strings.Join(a, "\n      "), strings.Join(b, "\n      "))
		}
		if sc.Name != fc.Name || sc.Dir != fc.Dir || sc.Declared != fc.Declared || sc.Kind != fc.Kind ||
			sc.Context != fc.Context || sc.DeclPos != fc.DeclPos || !reflect.DeepEqual(sc.Labels, fc.Labels) ||
			!reflect.DeepEqual(sc.Decl, fc.Decl) {
			t.Errorf("cluster %s: declaration differs", name)
		}
		if len(sc.SourceVMs) != len(fc.SourceVMs) {
			var a, b []string
			for _, vm := range sc.SourceVMs {
				a = append(a, vm.Key+vm.File)
			}
			for _, vm := range fc.SourceVMs {
				b = append(b, vm.Key+vm.File)
			}
			t.Errorf("cluster %s: %d VMs on the general path, %d on the fast path\nslow: %q\nfast: %q", name, len(sc.SourceVMs), len(fc.SourceVMs), a, b)
			continue
		}
		for j, sv := range sc.SourceVMs {
			fv := fc.SourceVMs[j]
			if sv.Key != fv.Key || sv.File != fv.File || sv.FromYAML != fv.FromYAML {
				t.Errorf("cluster %s VM %d: key/file %q %q %v, fast path %q %q %v", name, j, sv.Key, sv.File, sv.FromYAML, fv.Key, fv.File, fv.FromYAML)
				continue
			}
			if !reflect.DeepEqual(sv.Object, fv.Object) {
				t.Errorf("cluster %s VM %s: objects differ:\nslow: %#v\nfast: %#v", name, sv.Key, sv.Object, fv.Object)
				continue
			}
			for _, p := range probePaths(sv.Object, allPaths || j%10 == 0) {
				if a, b := sv.Pos(p...), fv.Pos(p...); a != b {
					t.Errorf("cluster %s VM %s: Pos(%q) = %v, fast path %v", name, sv.Key, p, a, b)
				}
			}
		}
	}
	return took
}

func TestFastPathEquivalentExampleFleet(t *testing.T) {
	took := assertEquivalent(t, filepath.Join("..", "..", "fleet"), true)
	// dc-east and dc-west build VMs from a template in fleet.cue: the general path.
	if took["dc-east"] || took["dc-west"] {
		t.Errorf("clusters with templated VMs took the fast path: %v", took)
	}
	t.Logf("fast path: %v", took)
}

func TestFastPathEquivalentGeneratedFleet(t *testing.T) {
	for _, form := range []genfleet.Form{genfleet.FormCUE, genfleet.FormYAML} {
		t.Run(string(form), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "fleet")
			// The 1k fleet of the benchmarks in CUE; YAML VMs do not take the fast path, a few do.
			o := genfleet.Options{Clusters: 10, VMs: 1000, Form: form, Seed: 3}
			if form == genfleet.FormYAML || testing.Short() {
				o.Clusters, o.VMs = 3, 90
			}
			if _, err := genfleet.Generate(dir, o); err != nil {
				t.Fatal(err)
			}
			took := assertEquivalent(t, dir, false)
			for c, fast := range took {
				if !fast {
					t.Errorf("cluster %s of a generated fleet did not take the fast path", c)
				}
			}
			for _, c := range evaluate(t, dir, false).Clusters {
				if !c.noLoader {
					t.Errorf("cluster %s of a generated fleet was built by the loader", c.Name)
				}
			}
		})
	}
}

// writeFleet writes files over a copy of base (if any) in a new directory under parent.
func writeFleet(t *testing.T, parent, base string, files map[string][]byte) string {
	t.Helper()
	if err := os.MkdirAll(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(parent, "run-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	dir, _ = filepath.Abs(dir)
	if base != "" {
		if err := testfleet.CopyDir(base, dir); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestFastPathEquivalentVetCases(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "..", "testdata", "vet", "cases", "*.txt"))
	if err != nil || len(paths) < 25 {
		t.Fatalf("vet cases: %d, %v", len(paths), err)
	}
	fastSome := false
	for _, path := range paths {
		name := strings.TrimSuffix(filepath.Base(path), ".txt")
		t.Run(name, func(t *testing.T) {
			c, err := testfleet.ReadCase(path)
			if err != nil {
				t.Fatal(err)
			}
			// Inside this module, as the vet tests do: the fleet imports the module's own schemas.
			dir := writeFleet(t, filepath.Join("..", "..", "testdata", "vet"), filepath.Join("..", "..", "testdata", "vet", "base"), nil)
			if err := c.WriteOver(dir); err != nil {
				t.Fatal(err)
			}
			took := assertEquivalent(t, dir, true)
			for _, f := range took {
				fastSome = fastSome || f
			}
		})
	}
	if !fastSome {
		t.Error("no vet case took the fast path")
	}
}

// rootCanonical is a fleet.cue with the canonical constraint.
const rootCanonical = `package fleet

import "vmo-cue.dev/vmo/schemas"

fleet:    schemas.#Fleet
cluster?: schemas.#Cluster
vms?: [Name=string]: schemas.#NamedVirtualMachine & {#name: Name}

fleet: defaults: stack: kubevirt: version: "v1.6.3"
`

// rootBare declares no vms.
const rootBare = `package fleet

import "vmo-cue.dev/vmo/schemas"

fleet:    schemas.#Fleet
cluster?: schemas.#Cluster

fleet: defaults: stack: kubevirt: version: "v1.6.3"
`

const clusterA = `package fleet

cluster: {name: "a", kind: "edge"}
`

// fastCase is a fleet of one cluster "a" (plus its files) and whether it takes the fast path.
type fastCase struct {
	name  string
	root  string // fleet.cue (rootCanonical if empty)
	files map[string]string
	fast  bool
}

var fastCases = []fastCase{
	{name: "one file", fast: true, files: map[string]string{"v.cue": `package fleet

vms: web: {
	apiVersion: "kubevirt.io/v1"
	kind:       "VirtualMachine"
	metadata: {namespace: "shop", labels: {app: "web", "kubevirt.io/domain": "web"}}
	spec: {
		runStrategy: "Always"
		template: spec: {
			domain: {
				cpu: {sockets: 2, cores: 1, threads: 1, model: null}
				memory: guest: "1Gi"
				devices: interfaces: [{name: "default", masquerade: {}}, {name: "v", bridge: {}, macAddress: "02:00:00:00:00:01"}]
			}
			networks: [{name: "default", pod: {}}, {name: "v", multus: networkName: "vlan-1"}]
			terminationGracePeriodSeconds: -1
			priority: 1.5
			big: 12345678901234567890123
			exp: 1.5e3
			hex: 0x1F
			sep: 1_000
			mul: 2Ki
			f: 1.0
			volumes: [{name: "ci", cloudInitNoCloud: userData: """
				#cloud-config
				hostname: "web" \u00e9 \t tab
				"""}]
			raw: #"a\nb "q""#
			esc: "tab\tnl\nuni\u00e9 quote\" slash\\"
		}
	}
}
vms: "db-1": {}
vms: "0": spec: x: 1
vms: "with space": metadata: name: "with space"
vms: "Key_Upper": {}
vms: "#hash": spec: "_under": 1
`}},
	{name: "split across files and fields", fast: false, files: map[string]string{
		"a.cue": `package fleet

vms: web: spec: template: spec: domain: cpu: sockets: 2
vms: web: spec: {running: true, list: [{a: 1}, 2, [3]]}
vms: db: metadata: labels: a: "b"
vms: {
	web: metadata: labels: {app: "web"}
	cache: spec: running: false
}
`,
		"b.cue": `package fleet

vms: db: spec: running: true
vms: web: spec: template: spec: domain: cpu: {sockets: 2, cores: 1}
vms: web: spec: list: [{b: 2}, 2, [3]]
vms: web: metadata: name: "web"
vms: alpha: spec: running: true
vms: web: spec: {running: true, running: true}
vms: web: spec: template: spec: domain: {cpu: {threads: 1}, cpu: {sockets: 2}}
vms: web: spec: n: -1
vms: web: spec: n: -1
vms: web: spec: fl: -1.0e0
vms: web: spec: fl: -1.00
`,
		"c.cue": `package fleet

vms: zeta: {}
vms: cache: {}
vms: web: spec: f: 1.0
vms: web: spec: f: 1.00
vms: web: spec: h: 16
vms: web: spec: h: 0x10
`}},
	{name: "order interleaves files", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\nvms: m: {}\nvms: c: {}\nvms: x: {}\n",
		"b.cue": "package fleet\n\nvms: b: {}\nvms: x: {}\nvms: a: {}\n",
		"c.cue": "package fleet\n\nvms: {z: {}, y: {}, c: {}}\nvms: d: {}\n",
	}},
	{name: "a key twice in one struct", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\nvms: {b: {spec: x: 1}, a: {}, b: {spec: y: 2}}\nvms: {}\nvms: \"q\\\"uote\": {}\n",
		"b.cue": "package fleet\n\nvms: {}\nvms: {c: {}, b: metadata: name: \"b\"}\n",
	}},
	{name: "shared files in two files", fast: true,
		root:  rootCanonical + "\n// the defaults\n",
		files: map[string]string{"a.cue": "package fleet\n\nvms: web: spec: running: true\n"}},
	{name: "order cycle", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\nvms: a: {}\nvms: b: {}\n",
		"b.cue": "package fleet\n\nvms: b: {}\nvms: a: {}\n",
	}},
	{name: "conflicting scalars", fast: false, files: map[string]string{
		"a.cue": `package fleet

vms: web: spec: {s: "x", i: 1, b: true, n: null, f: 1, g: 1.5, e: 1e3, m: "a\nb", neg: -1}
vms: web: spec: l: [1, {x: 1}, 3]
vms: ok: spec: running: true
`,
		"b.cue": `package fleet

vms: web: spec: {s: "y", i: 2, b: false, n: "x", f: 1.0, g: 2.5, e: 1e4, m: "c", neg: -2}
vms: web: spec: l: [2, {x: 2}, 3]
vms: web: spec: s: "z"
vms: web: spec: s: "x"
`}},
	{name: "list lengths", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\nvms: web: spec: {l: [1, 2], m: [1, 2, 3], e: [], s: [[1], 2]}\n",
		"b.cue": "package fleet\n\nvms: web: spec: {l: [1, 3, 4], m: [1], e: [1], s: [[1, 2], 3]}\n",
	}},
	{name: "list lengths three times", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\nvms: web: spec: {l: [1, 2], s: [1]}\n",
		"b.cue": "package fleet\n\nvms: web: spec: {l: [1, 3, 4], s: [1, 2]}\nvms: web: spec: {l: [1, 2, 3, 4], s: [1, 3]}\n",
	}},
	{name: "conflict in one file", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\nvms: web: spec: running: true\nvms: web: spec: running: false\nvms: web: {spec: {a: 1}, spec: {a: 2}}\n",
	}},
	{name: "string against struct", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\nvms: web: spec: a: \"x\"\nvms: web: spec: a: b: 1\n",
	}},
	{name: "three kinds", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\nvms: web: spec: a: \"x\"\nvms: web: spec: a: 1\nvms: web: spec: a: true\n",
	}},
	{name: "field the VM schema does not allow", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\nvms: web: spec: {}\nvms: web: specs: {}\n",
	}},
	{name: "apiVersion not a string", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\nvms: web: apiVersion: 1\n",
	}},
	{name: "apiVersion conflict", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\nvms: web: apiVersion: \"a\"\nvms: web: apiVersion: \"b\"\n",
	}},
	{name: "spec not a struct", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\nvms: web: spec: [1]\n",
	}},
	{name: "name against the schema", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\nvms: web: metadata: name: \"Not_A_Name\"\n",
	}},
	{name: "name too long", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\nvms: web: metadata: name: \"" + strings.Repeat("a", 64) + "\"\n",
	}},
	{name: "name of 63", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\nvms: web: metadata: name: \"" + strings.Repeat("a", 63) + "\"\nvms: \"Bad_Key\": metadata: name: \"Bad_Key\"\n",
	}},
	{name: "name conflict", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\nvms: web: metadata: name: \"a\"\nvms: web: metadata: name: \"b\"\n",
	}},
	{name: "VM not a struct", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\nvms: web: 1\n",
	}},
	{name: "reference", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\n_base: {spec: running: true}\nvms: web: _base\n",
	}},
	{name: "reference inside", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\n_n: 2\nvms: web: spec: template: spec: domain: cpu: sockets: _n\n",
	}},
	{name: "unification", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\nvms: web: {spec: running: true} & {spec: running: true}\n",
	}},
	{name: "interpolation", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\nvms: web: metadata: annotations: a: \"\\(1+1)\"\n",
	}},
	{name: "comprehension", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\nvms: {for n in [\"a\", \"b\"] {(n): {}}}\n",
	}},
	{name: "top-level comprehension", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\nfor n in [\"a\"] {vms: (n): {}}\n",
	}},
	{name: "embedding", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\nvms: web: {{spec: running: true}}\n",
	}},
	{name: "top-level embedding", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\n{vms: web: {}}\n",
	}},
	{name: "definition in a VM", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\nvms: web: {#x: 1}\n",
	}},
	{name: "hidden field in a VM", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\nvms: web: {_x: 1}\n",
	}},
	{name: "optional field", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\nvms: web: spec: running?: true\n",
	}},
	{name: "required field", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\nvms: web: spec: running!: true\n",
	}},
	{name: "attribute", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\nvms: web: spec: running: true @go(Running)\n",
	}},
	{name: "ellipsis", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\nvms: web: spec: {running: true, ...}\n",
	}},
	{name: "open list", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\nvms: web: spec: l: [1, ...]\n",
	}},
	{name: "alias", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\nvms: web: X=spec: running: true\n",
	}},
	{name: "let", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\nvms: web: {let x = 1, spec: y: 1}\n",
	}},
	{name: "pattern in vms", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\nvms: [string]: spec: running: true\nvms: web: {}\n",
	}},
	{name: "dynamic label", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\nvms: (\"web\"): {}\n",
	}},
	{name: "bounds", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\nvms: web: spec: n: >1\n",
	}},
	{name: "bytes", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\nvms: web: spec: n: 'abc'\n",
	}},
	{name: "vms optional in a cluster", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\nvms?: web: {}\n",
	}},
	{name: "vms referred to", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\nvms: web: {}\n_n: len(vms)\n",
	}},
	{name: "policy in the root", fast: false,
		root:  rootCanonical + "vms: [string]: spec: template: spec: domain: cpu: sockets: <=8\n",
		files: map[string]string{"a.cue": "package fleet\n\nvms: web: spec: template: spec: domain: cpu: sockets: 4\n"}},
	{name: "no vms in the root", fast: false, root: rootBare, files: map[string]string{
		"a.cue": "package fleet\n\nvms: web: spec: running: true\nvms: db: {apiVersion: 1, extra: true}\n",
		"b.cue": "package fleet\n\nvms: db: spec: running: true\nvms: x: spec: running: true\nvms: x: spec: running: false\n",
	}},
	{name: "name not the key", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\nvms: web: metadata: name: \"db\"\n",
	}},
	{name: "several files, each VM once", fast: true, files: map[string]string{
		"a.cue": "package fleet\n\nvms: {b: spec: running: true, a: {}}\ncluster: labels: x: \"y\"\n",
		"b.cue": "package fleet\n\nvms: c: metadata: {namespace: \"n\", name: \"c\"}\nvms: \"0\": {}\n",
	}},
	{name: "no vms in the root, each VM once", fast: true, root: rootBare, files: map[string]string{
		"a.cue": "package fleet\n\nvms: web: spec: running: true\nvms: db: {apiVersion: 1, extra: true}\n",
	}},
	{name: "no VMs at all", fast: true, files: map[string]string{}},
	{name: "file attribute", fast: false, files: map[string]string{
		"a.cue": "@if(foo)\n\npackage fleet\n\nvms: web: {}\n",
	}},
	{name: "syntax error", fast: false, files: map[string]string{
		"a.cue": "package fleet\n\nvms: web: {\n",
	}},
	{name: "declaration errors", fast: true, files: map[string]string{
		"a.cue": "package fleet\n\ncluster: stack: kubevirt: featureGates: Snapshott: true\nclustr: 1\nvms: web: spec: running: true\n",
	}},
	{name: "no cluster declaration", fast: true, files: map[string]string{
		"cluster.cue": "package fleet\n",
		"a.cue":       "package fleet\n\nvms: web: spec: running: true\n",
	}},
}

func TestFastPathEquivalentCases(t *testing.T) {
	for _, c := range fastCases {
		t.Run(c.name, func(t *testing.T) {
			root := c.root
			if root == "" {
				root = rootCanonical
			}
			files := map[string][]byte{"fleet.cue": []byte(root), "clusters/a/cluster.cue": []byte(clusterA)}
			if c.name == "shared files in two files" {
				files["00-more.cue"] = []byte("package fleet\n\nfleet: defaults: namespace: \"vms\"\n")
				files["zz-more.cue"] = []byte("package fleet\n\n_unused: 1\n")
			}
			for name, data := range c.files {
				files["clusters/a/"+name] = []byte(data)
			}
			// Both layouts: a fleet with no module of its own, and one inside this module.
			for _, parent := range []string{t.TempDir(), filepath.Join("..", "..", "testdata", "vet")} {
				dir := writeFleet(t, parent, "", files)
				took := assertEquivalent(t, dir, true)
				if took["a"] != c.fast {
					repo, _ := fleetfs.Read(dir, fleetfs.Options{})
					e, _ := New(repo, Options{})
					why := e.fast.off
					if why == "" {
						_, why = e.prepareFast(repo.Clusters[0], nil)
					}
					t.Errorf("fast path taken: %v, want %v (%s)", took["a"], c.fast, why)
				}
			}
		})
	}
}

// Both paths order a cluster's CUE VMs by namespace, then name (then key), whatever the files' order.
func TestVMOrder(t *testing.T) {
	files := map[string][]byte{
		"fleet.cue":              []byte(rootCanonical),
		"clusters/a/cluster.cue": []byte(clusterA),
		"clusters/a/z.cue":       []byte("package fleet\n\nvms: z: metadata: namespace: \"a\"\nvms: b: metadata: namespace: \"b\"\n"),
		"clusters/a/a.cue":       []byte("package fleet\n\nvms: {y: {}, x: {}, c: metadata: namespace: \"b\"}\n"),
	}
	dir := writeFleet(t, t.TempDir(), "", files)
	for _, noFast := range []bool{false, true} {
		c := evaluate(t, dir, noFast).Clusters[0]
		require.Equal(t, !noFast, c.fast)
		var keys []string
		for _, vm := range c.SourceVMs {
			keys = append(keys, vm.Key)
		}
		assert.Equal(t, []string{"x", "y", "z", "b", "c"}, keys, "NoFastPath %v", noFast)
	}
}
