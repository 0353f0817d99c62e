package dashboard

import (
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/vmo-cue/vmo-cue/internal/desired"
	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/engine"
	"github.com/vmo-cue/vmo-cue/internal/resolve"
	"github.com/vmo-cue/vmo-cue/internal/schema"
	"github.com/vmo-cue/vmo-cue/internal/settings"
	"github.com/vmo-cue/vmo-cue/internal/validate"
	"github.com/vmo-cue/vmo-cue/reconciler/fleet"
)

// GitView is what the fleet repository's working copy wants: its commit, the vet result, and per
// cluster its wave, components and VMs with the file and line each was written at.
type GitView struct {
	Dir      string
	Commit   Commit
	Findings []Finding
	Errors   int
	Clusters map[string]*GitCluster
	// Result is the validated fleet (for drift: desired.Render of a cluster).
	Result *validate.Result
}

// Commit is the working copy's HEAD.
type Commit struct {
	Hash, Branch, Subject, Author string
}

// Short is the abbreviated hash.
func (c Commit) Short() string {
	if len(c.Hash) > 12 {
		return c.Hash[:12]
	}
	return c.Hash
}

// Finding is one vet finding, at file:line.
type Finding struct {
	Severity, Rule, Cluster, Where, Message string
}

// GitCluster is one cluster as git declares it.
type GitCluster struct {
	Name       string
	Wave       string
	Labels     map[string]string
	Valid      bool
	Components []Component
	VMs        []*GitVM
}

// Component is one of the stack's components.
type Component struct {
	Name    string
	Enabled bool
	Version string
	Gates   []string
}

// GitVM is one VM as git wants it.
type GitVM struct {
	Cluster, Namespace, Name string
	File                     string
	Line                     int
	RunStrategy              string
	CPU, Memory              string
	Labels                   map[string]string
	Interfaces               []Interface
	YAML                     string
	FromYAML                 bool
}

// Where is file:line.
func (v *GitVM) Where() string { return fmt.Sprintf("%s:%d", diag.Name(v.File), v.Line) }

// Interface is a VM interface with its MAC (written or assigned) and its network.
type Interface struct {
	Name, MAC, Network string
	// VLAN is the VLAN ID of the Multus network (0 if none or unknown).
	VLAN int
}

// LoadGit evaluates and validates the fleet at dir (as vet does) and builds its view.
func LoadGit(dir string) (*GitView, error) {
	res, err := desired.Load(dir, desired.Options{})
	if err != nil {
		return nil, fmt.Errorf("fleet %s: %w", dir, err)
	}
	g := &GitView{Dir: dir, Result: res, Clusters: map[string]*GitCluster{}, Commit: headOf(dir)}
	for _, d := range res.All() {
		f := Finding{Severity: "error", Rule: d.Rule, Cluster: d.Cluster, Message: d.Message}
		if d.Severity != diag.Error {
			f.Severity = "warning"
		} else {
			g.Errors++
		}
		f.Where = where(d.Positions)
		g.Findings = append(g.Findings, f)
	}
	waves := fleet.WavesOf(res)
	for _, c := range res.Clusters {
		gc := &GitCluster{Name: c.Name, Wave: waves[c.Name], Labels: c.Labels, Valid: c.Valid()}
		gc.Components = components(c)
		vlans := vlansOf(&c.Settings.Stack)
		for _, vm := range c.VMs {
			gc.VMs = append(gc.VMs, gitVM(dir, c, vm, vlans))
		}
		sort.Slice(gc.VMs, func(i, j int) bool {
			return gc.VMs[i].Namespace+"/"+gc.VMs[i].Name < gc.VMs[j].Namespace+"/"+gc.VMs[j].Name
		})
		g.Clusters[c.Name] = gc
	}
	return g, nil
}

func headOf(dir string) Commit {
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true})
	if err != nil {
		return Commit{Hash: "unversioned"}
	}
	head, err := repo.Head()
	if err != nil {
		return Commit{Hash: "unversioned"}
	}
	c := Commit{Hash: head.Hash().String(), Branch: head.Name().Short()}
	if co, err := repo.CommitObject(head.Hash()); err == nil {
		c.Subject, _, _ = strings.Cut(co.Message, "\n")
		c.Author = co.Author.Name
	}
	return c
}

// componentOrder is the stack's components in the order the pack lists them, then the eighth.
var componentOrder = []string{"kubevirt", "cdi", "multus", "descheduler", "snapshotController", "volumeSnapshotController", "dashboard", "vlanFiltering"}

func components(c *validate.Cluster) []Component {
	var out []Component
	b, err := engine.LoadBuiltin() // once per process
	stack := c.Settings.Stack      // a copy: resolution adds the gates a setting implies
	for _, n := range componentOrder {
		part, _ := c.Settings.Stack.Part(n)
		comp := Component{Name: n, Enabled: part.On, Version: part.Version}
		switch {
		case !c.Declared || err != nil:
		case n == "kubevirt":
			comp.Gates = resolve.KubeVirtGates(&stack.KubeVirt, b)
		case n == "cdi":
			comp.Gates = resolve.CDIGates(&stack.CDI, b)
		}
		out = append(out, comp)
	}
	return out
}

// vlansOf maps "namespace/name" and "name" of each Multus network of the stack to its VLAN.
func vlansOf(stack *settings.Stack) map[string]int {
	out := map[string]int{}
	for name, n := range stack.Multus.Networks {
		if n.VLAN == nil {
			continue
		}
		out[name] = int(*n.VLAN)
		if n.Namespace != "" {
			out[n.Namespace+"/"+name] = int(*n.VLAN)
		}
	}
	return out
}

func gitVM(dir string, c *validate.Cluster, vm *validate.VM, vlans map[string]int) *GitVM {
	o := vm.Object
	g := &GitVM{Cluster: c.Name, Namespace: vm.Namespace, Name: vm.Name, FromYAML: vm.FromYAML}
	p := Declaration(dir, c.Dir, vm)
	g.File, g.Line = p.File, p.Line
	g.RunStrategy = str(o, "spec", "runStrategy")
	if g.RunStrategy == "" {
		if r, ok := get(o, "spec", "running").(bool); ok {
			g.RunStrategy = map[bool]string{true: "Always (running: true)", false: "Halted (running: false)"}[r]
		}
	}
	g.CPU = cpuOf(o)
	g.Memory = str(o, "spec", "template", "spec", "domain", "memory", "guest")
	if g.Memory == "" {
		g.Memory = str(o, "spec", "template", "spec", "domain", "resources", "requests", "memory")
	}
	g.Labels = map[string]string{}
	if l, ok := get(o, "metadata", "labels").(map[string]any); ok {
		for k, v := range l {
			g.Labels[k] = fmt.Sprint(v)
		}
	}
	networks := map[string]string{}
	if ns, ok := get(o, "spec", "template", "spec", "networks").([]any); ok {
		for _, n := range ns {
			nm, _ := n.(map[string]any)
			name, _ := nm["name"].(string)
			switch {
			case str(nm, "multus", "networkName") != "":
				networks[name] = str(nm, "multus", "networkName")
			case nm["pod"] != nil:
				networks[name] = "pod"
			}
		}
	}
	for _, i := range vm.Interfaces {
		mac := i.MAC
		if mac == "" {
			mac = i.Assigned
		}
		net := networks[i.Name]
		vlan := vlans[net]
		if vlan == 0 {
			if _, short, ok := strings.Cut(net, "/"); ok {
				vlan = vlans[short]
			}
		}
		g.Interfaces = append(g.Interfaces, Interface{Name: i.Name, MAC: strings.ToLower(mac), Network: net, VLAN: vlan})
	}
	if data, err := yaml.Marshal(o); err == nil {
		g.YAML = string(data)
	}
	return g
}

func cpuOf(o map[string]any) string {
	cpu, ok := get(o, "spec", "template", "spec", "domain", "cpu").(map[string]any)
	if !ok {
		return ""
	}
	var parts []string
	for _, k := range []string{"sockets", "cores", "threads", "maxSockets"} {
		if n, ok := schema.Number(cpu[k]); ok {
			parts = append(parts, fmt.Sprintf("%s %d", k, int(n)))
		}
	}
	return strings.Join(parts, ", ")
}

// get and str read a field of a VM's nested maps: nil or "" where it is absent or of another type.
func get(m map[string]any, path ...string) any {
	v, _, _ := unstructured.NestedFieldNoCopy(m, path...)
	return v
}

func str(m map[string]any, path ...string) string {
	s, _, _ := unstructured.NestedString(m, path...)
	return s
}

// validated returns the validated cluster, or nil.
func (g *GitView) validated(name string) *validate.Cluster {
	if g == nil || g.Result == nil {
		return nil
	}
	return g.Result.Cluster(name)
}

// Declaration is where a VM is declared: the line of its metadata.name in a YAML file, or of
// `vms: "<key>":` in its cluster folder's CUE (the fields of a CUE VM may come from templates
// elsewhere: the declaration is the file of its own fields in the cluster's folder).
func Declaration(dir, clusterDir string, vm *validate.VM) diag.Position {
	if vm.Pos == nil {
		return diag.Position{File: vm.File}
	}
	if vm.FromYAML {
		if p := vm.Pos("metadata", "name"); p.File == vm.File && p.Line > 0 {
			return p
		}
		return vm.Pos()
	}
	// A CUE VM: its `vms: "<key>":` line among the cluster folder's CUE files.
	decl := regexp.MustCompile(`(^|[\s{])vms:\s*"?` + regexp.QuoteMeta(vm.Key) + `"?\s*:`)
	files, _ := filepath.Glob(filepath.Join(dir, filepath.FromSlash(clusterDir), "*.cue"))
	for _, f := range files {
		data, err := readRepoFile(dir, clusterDir+"/"+filepath.Base(f))
		if err != nil {
			continue
		}
		for i, line := range strings.Split(string(data), "\n") {
			if decl.MatchString(line) {
				return diag.Position{File: clusterDir + "/" + filepath.Base(f), Line: i + 1, Col: 1}
			}
		}
	}
	return vm.Pos()
}
