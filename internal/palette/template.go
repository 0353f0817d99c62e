package palette

import (
	"fmt"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/yamldoc"
)

// templateOnly are the fields of a VmTemplate's spec that describe the template in Palette's catalogue
// and have no place in a VirtualMachine.
var templateOnly = map[string]string{
	"description": "the template's description in Palette's catalogue",
	"displayName": "the template's name in Palette's catalogue",
	"icon":        "the template's icon in Palette's catalogue",
}

// clusterWritten are metadata fields the cluster writes: never part of a declaration.
var clusterWritten = []string{"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink", "ownerReferences", "finalizers", "deletionTimestamp", "deletionGracePeriodSeconds"}

// Dropped is one field of a template left out of the VM.
type Dropped struct {
	Path   string `json:"path"`
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// Template is one imported VmTemplate.
type Template struct {
	Name    string
	Line    int
	VM      map[string]any
	Dropped []Dropped
}

// ImportTemplates turns every spectrocloud.com/v1 VmTemplate of a file into a kubevirt.io/v1
// VirtualMachine: the template's spec is the VM's spec, less the template-only fields (each listed);
// labels and annotations are kept, what the cluster writes (uid, status, ...) is left out and listed.
// A document of another kind is an error naming its line.
func ImportTemplates(file string, data []byte) ([]Template, error) {
	docs, problems := yamldoc.Decode(file, data)
	if problems.HasErrors() {
		var b strings.Builder
		_ = problems.Print(&b)
		return nil, fmt.Errorf("%s", strings.TrimSpace(b.String()))
	}
	var out []Template
	for _, d := range docs {
		m, _ := d.Value.(map[string]any)
		pos := d.Pos(nil)
		if m["apiVersion"] != "spectrocloud.com/v1" || m["kind"] != "VmTemplate" {
			return nil, fmt.Errorf("%s:%d: %v %v: not a Palette VM template (apiVersion spectrocloud.com/v1, kind VmTemplate)", diag.Name(file), pos.Line, m["apiVersion"], m["kind"])
		}
		meta, _ := m["metadata"].(map[string]any)
		name, _ := meta["name"].(string)
		if name == "" {
			return nil, fmt.Errorf("%s:%d: VmTemplate without metadata.name", diag.Name(file), pos.Line)
		}
		t := Template{Name: name, Line: pos.Line}
		drop := func(path []string, reason string) {
			t.Dropped = append(t.Dropped, Dropped{Path: strings.Join(path, "."), Line: d.KeyPos(path).Line, Reason: reason})
		}
		vmMeta := map[string]any{}
		for _, k := range sortedKeys(meta) {
			if contains(clusterWritten, k) {
				drop([]string{"metadata", k}, "written by the cluster, never declared")
				continue
			}
			vmMeta[k] = meta[k]
		}
		spec, _ := m["spec"].(map[string]any)
		vmSpec := map[string]any{}
		for _, k := range sortedKeys(spec) {
			if why, only := templateOnly[k]; only {
				drop([]string{"spec", k}, "template-only: "+why)
				continue
			}
			vmSpec[k] = spec[k]
		}
		for _, k := range sortedKeys(m) {
			switch k {
			case "apiVersion", "kind", "metadata", "spec":
			case "status":
				drop([]string{k}, "written by the cluster, never declared")
			default:
				drop([]string{k}, "not a field of a VmTemplate or a VirtualMachine")
			}
		}
		t.VM = map[string]any{"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "metadata": vmMeta, "spec": vmSpec}
		sort.SliceStable(t.Dropped, func(i, j int) bool { return t.Dropped[i].Line < t.Dropped[j].Line })
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no VmTemplate", diag.Name(file))
	}
	return out, nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// WriteVMs renders imported templates as one multi-document YAML stream, each VM headed by a comment
// naming its source and the fields left out.
func WriteVMs(file string, ts []Template) ([]byte, error) {
	var b strings.Builder
	for i, t := range ts {
		if i > 0 {
			b.WriteString("---\n")
		}
		fmt.Fprintf(&b, "# Imported by `vmo-cue import palette-template` from %s:%d (Palette VmTemplate %s).\n", oneLine(file), t.Line, oneLine(t.Name))
		for _, d := range t.Dropped {
			fmt.Fprintf(&b, "# Left out: %s (line %d): %s\n", oneLine(d.Path), d.Line, d.Reason)
		}
		data, err := yaml.Marshal(t.VM)
		if err != nil {
			return nil, fmt.Errorf("VmTemplate %s: %w", diag.Name(t.Name), err)
		}
		b.Write(data)
	}
	return []byte(b.String()), nil
}
