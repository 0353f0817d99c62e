package kustomize

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resource"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/yamldoc"
)

// StackFile is the name, in the kustomize folder, of the generated resource holding the cluster's
// rendered stack objects during a build with a stack (it never exists on disk).
const StackFile = "vmo-cue-stack.yaml"

const originAnnotation = "config.kubernetes.io/origin"

// Object is one object kustomize built.
type Object struct {
	Object map[string]any
	// Pos is the file (relative to the repository) and line of the object's document, or the
	// kustomization for a generated object.
	Pos diag.Position
	// Stack says the object is one of the rendered stack objects given to Build (patched, maybe).
	Stack bool
}

// Build runs kustomize on the kustomize folder dir (relative to the repository). stack, when not
// nil, are the cluster's rendered stack objects: they are added to the folder's resources (as
// StackFile), so the folder's patches and transformers reach them; a stack object renamed, moved to
// another namespace or dropped is an error, for the stack is vmo-cue's. A failure is a finding at
// the kustomization (or at the remote reference refused).
func (t *Tree) Build(dir string, stack []map[string]any) ([]Object, diag.List) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var diags diag.List
	kfile := ""
	for _, name := range []string{"kustomization.yaml", "kustomization.yml", "Kustomization"} {
		if t.mem.Exists("/" + dir + "/" + name) {
			kfile = dir + "/" + name
			break
		}
	}
	at := []diag.Position{{File: kfile, Line: 1}}
	orig := t.file(kfile)
	if orig == nil {
		diags.Errorf("kustomize", "", []diag.Position{{File: dir}}, "kustomize folder %s: no kustomization file", diag.Name(dir))
		return nil, diags
	}
	if d := remoteRefs(kfile, orig); len(d) > 0 {
		return nil, d
	}
	// The run's root kustomization: the user's, with origin annotations (to place every object)
	// and, with a stack, the stack as one more resource. Restored after the run.
	var k map[string]any
	if err := yaml.Unmarshal(orig, &k); err != nil || k == nil {
		diags.Errorf("kustomize", "", at, "kustomization %s: %v", diag.Name(kfile), err)
		return nil, diags
	}
	k["buildMetadata"] = []any{"originAnnotations"}
	if stack != nil {
		res, _ := k["resources"].([]any)
		k["resources"] = append(append([]any(nil), res...), StackFile)
		var b strings.Builder
		for _, o := range stack {
			data, err := yaml.Marshal(o)
			if err != nil {
				diags.Errorf("kustomize", "", at, "stack object: %v", err)
				return nil, diags
			}
			b.WriteString("---\n")
			b.Write(data)
		}
		if err := t.mem.WriteFile("/"+dir+"/"+StackFile, []byte(b.String())); err != nil {
			diags.Errorf("kustomize", "", at, "%v", err)
			return nil, diags
		}
		defer t.mem.RemoveAll("/" + dir + "/" + StackFile)
	}
	root, err := yaml.Marshal(k)
	if err == nil {
		err = t.mem.WriteFile("/"+kfile, root)
	}
	if err != nil {
		diags.Errorf("kustomize", "", at, "%v", err)
		return nil, diags
	}
	defer t.mem.WriteFile("/"+kfile, orig)

	opts := krusty.MakeDefaultOptions()
	opts.LoadRestrictions = types.LoadRestrictionsNone // the tree holds the repository and nothing else
	opts.PluginConfig = types.DisabledPluginConfig()
	t.refused = nil
	m, err := krusty.MakeKustomizer(opts).Run(guarded{FileSystem: t.mem, t: t, root: "/" + kfile}, "/"+dir)
	if len(t.refused) > 0 {
		return nil, append(diags, t.refused...)
	}
	if err != nil {
		msg := strings.ReplaceAll(err.Error(), "/"+dir+"/", dir+"/")
		diags.Errorf("kustomize", "", at, "kustomize build %s: %s", diag.Name(dir), msg)
		return nil, diags
	}
	var out []Object
	ids := map[string]bool{}
	for _, o := range stack {
		ids[identity(o)] = true
	}
	seen := map[string]bool{}
	var renamed []string
	for _, r := range m.Resources() {
		o, err := t.object(dir, kfile, r)
		if err != nil {
			diags.Errorf("kustomize", "", at, "kustomize build %s: %v", diag.Name(dir), err)
			return nil, diags
		}
		if o.Stack {
			id := identity(o.Object)
			if !ids[id] {
				renamed = append(renamed, id)
				continue
			}
			seen[id] = true
		}
		out = append(out, o)
	}
	if len(renamed) > 0 {
		more := ""
		if len(renamed) > 1 {
			more = fmt.Sprintf(" (and %d more)", len(renamed)-1)
		}
		diags.Errorf("kustomize-stack", "", at, "kustomize build %s: a stack object became %s%s: a kustomization may patch vmo-cue's stack objects, not rename or move them",
			diag.Name(dir), renamed[0], more)
	}
	if stack != nil && !diags.HasErrors() && len(seen) != len(stack) {
		diags.Errorf("kustomize-stack", "", at, "kustomize build %s: %d of the %d stack objects are missing from the output: a kustomization may not drop vmo-cue's stack objects",
			diag.Name(dir), len(stack)-len(seen), len(stack))
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return out, diags
}

// identity names an object: kind, namespace and name.
func identity(o map[string]any) string {
	md, _ := o["metadata"].(map[string]any)
	kind, _ := o["kind"].(string)
	ns, _ := md["namespace"].(string)
	name, _ := md["name"].(string)
	if ns == "" {
		return kind + " " + name
	}
	return kind + " " + ns + "/" + name
}

// object turns a built resource into an Object placed at its file and line.
func (t *Tree) object(dir, kfile string, r *resource.Resource) (Object, error) {
	origin, err := r.GetOrigin()
	if err != nil {
		return Object{}, err
	}
	annotations := r.GetAnnotations()
	delete(annotations, originAnnotation)
	if err := r.SetAnnotations(annotations); err != nil {
		return Object{}, err
	}
	// As JSON decodes it (float64 numbers), like every rendered object.
	data, err := r.MarshalJSON()
	if err != nil {
		return Object{}, err
	}
	var obj map[string]any
	if err := json.Unmarshal(data, &obj); err != nil {
		return Object{}, err
	}
	if md, _ := obj["metadata"].(map[string]any); md != nil {
		if a, _ := md["annotations"].(map[string]any); len(a) == 0 {
			delete(md, "annotations")
		}
	}
	o := Object{Object: obj, Pos: diag.Position{File: kfile, Line: 1}}
	if origin == nil || origin.Path == "" {
		return o, nil // generated (configMapGenerator, ...): placed at the kustomization
	}
	file := path.Join(dir, origin.Path)
	if path.Base(file) == StackFile && path.Dir(file) == dir {
		o.Stack = true
		return o, nil
	}
	o.Pos = diag.Position{File: file}
	org := r.OrgId()
	docs, _ := yamldoc.Decode(file, t.file(file))
	for _, d := range docs {
		m, _ := d.Value.(map[string]any)
		md, _ := m["metadata"].(map[string]any)
		if m["kind"] == org.Kind && md["name"] == org.Name {
			o.Pos = d.Pos(nil)
			break
		}
	}
	return o, nil
}
