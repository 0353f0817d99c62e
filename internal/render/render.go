// Package render turns a resolved cluster (internal/resolved) into the Kubernetes objects of its
// desired state, in apply order: the CRDs its enabled stack components ship, the Namespaces its VMs
// and Multus networks live in, the objects of the CUE templates in cue/ (operators, RBAC, custom
// resources, NetworkAttachmentDefinitions, ...), and its VMs with their MACs. It decides nothing
// (a resolved cluster exists only for a valid one, with every choice made) and imports nothing of
// evaluation or validation: the templates come from the embedded module through internal/cuemod.
package render

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"sync"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/vmo-cue/vmo-cue/internal/applypolicy"
	"github.com/vmo-cue/vmo-cue/internal/cuemod"
	"github.com/vmo-cue/vmo-cue/internal/resolved"
	"github.com/vmo-cue/vmo-cue/reconciler/inventory"
	"github.com/vmo-cue/vmo-cue/schemas/crds"
)

// Object is one rendered Kubernetes object.
type Object = map[string]any

// components lists the stack's components in render order (the CRDs they ship come first).
var components = []string{"kubevirt", "cdi", "multus", "descheduler", "snapshotController", "volumeSnapshotController", "dashboard"}

// ErrInvalid is returned for a cluster whose desired state does not validate (by resolve.Cluster:
// such a cluster is never resolved, so never rendered).
type ErrInvalid = resolved.ErrInvalid

// DeleteAfterCompletion is CDI's annotation that keeps a completed DataVolume: vmo-cue sets it to
// "false" on every DataVolume whose file does not set it, so that CDI never garbage-collects an object
// git declares (which a GitOps tool would create again, importing the disk again).
const DeleteAfterCompletion = "cdi.kubevirt.io/storage.deleteAfterCompletion"

// Cluster renders a resolved cluster's desired state, in apply order.
func Cluster(c *resolved.Cluster) ([]Object, error) {
	var out []Object
	for _, comp := range components {
		if part, _ := c.Stack.Part(comp); !part.On {
			continue
		}
		list, err := crdObjects(comp, c.Releases)
		if err != nil {
			return nil, fmt.Errorf("CRDs of %s: %w", comp, err)
		}
		for _, obj := range list {
			labels(obj, c.Name, comp)
			out = append(out, obj)
		}
	}
	stack, err := stackObjects(c)
	if err != nil {
		return nil, err
	}
	var extra []Object
	if c.Kustomize != nil {
		if stack, extra, err = kustomize(c, stack); err != nil { // kustomize.go
			return nil, err
		}
	}
	out = append(out, vmNamespaces(c, stack)...)
	out = append(out, stack...)
	out = append(out, extra...)
	// The VM family before the VMs that use them (an instance type must exist when its VM is made).
	for i := range c.Objects {
		out = append(out, familyObject(c, &c.Objects[i]))
	}
	for i := range c.VMs {
		out = append(out, vmObject(c, &c.VMs[i]))
	}
	return out, nil
}

// familyObject renders a DataVolume, instance type or preference of the cluster's folder. A
// DataVolume keeps CDI from garbage-collecting it once complete (DeleteAfterCompletion "false")
// unless its file says otherwise.
func familyObject(c *resolved.Cluster, o *resolved.Object) Object {
	obj := runtime.DeepCopyJSON(o.Object) // JSON values: every object is as JSON decodes it
	delete(obj, "status")
	md, _ := obj["metadata"].(map[string]any)
	if md == nil {
		md = map[string]any{}
		obj["metadata"] = md
	}
	if o.Namespace != "" {
		md["namespace"] = o.Namespace
	}
	if o.Kind == "DataVolume" {
		ann, _ := md["annotations"].(map[string]any)
		if ann == nil {
			ann = map[string]any{}
			md["annotations"] = ann
		}
		if _, set := ann[DeleteAfterCompletion]; !set {
			ann[DeleteAfterCompletion] = "false"
		}
	}
	labels(obj, c.Name, "")
	return obj
}

// crdObjects returns the CRDs comp ships at releases v as objects, each call a fresh copy: they are
// decoded once per component and releases, which a fleet's clusters share (decoding and converting
// them for every cluster took a tenth of a 1,000-cluster evaluation's CPU).
func crdObjects(comp string, v crds.Versions) ([]Object, error) {
	key := crdKey{comp, v}
	cached, ok := crdCache.Load(key)
	if !ok {
		list, err := crds.ShippedByStackAt(comp, v)
		if err != nil {
			return nil, err
		}
		objs := make([]Object, 0, len(list))
		for _, crd := range list {
			obj, err := toObject(crd)
			if err != nil {
				return nil, fmt.Errorf("CRD %s: %w", crd.Name, err)
			}
			objs = append(objs, obj)
		}
		cached, _ = crdCache.LoadOrStore(key, objs)
	}
	objs := cached.([]Object)
	out := make([]Object, len(objs))
	for i, obj := range objs {
		out[i] = runtime.DeepCopyJSON(obj)
	}
	return out, nil
}

type crdKey struct {
	component string
	releases  crds.Versions
}

// crdCache holds crdObjects' decoded CRDs per crdKey.
var crdCache sync.Map

func toObject(v any) (Object, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var obj Object
	err = json.Unmarshal(data, &obj)
	delete(obj, "status")
	if md, ok := obj["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	return obj, err
}

// PartOfLabel and PartOf mark the stack's objects as the VMO stack's.
const (
	PartOfLabel = "app.kubernetes.io/part-of"
	PartOf      = "vmo"
)

// Marks are the labels vmo-cue puts on an object it renders for a cluster: the cluster's
// (inventory.LabelCluster, which drift and prune select by) on every object, and for an object of a
// stack component (component not "") the component's (applypolicy.ComponentLabel) and PartOf. The
// templates (cue/render.cue, _#in.labels) put the same on theirs: TestMarksAreTheTemplates.
func Marks(cluster, component string) map[string]string {
	m := map[string]string{inventory.LabelCluster: cluster}
	if component != "" {
		m[PartOfLabel] = PartOf
		m[applypolicy.ComponentLabel] = component
	}
	return m
}

func labels(obj Object, cluster, component string) {
	md, _ := obj["metadata"].(map[string]any)
	if md == nil {
		md = map[string]any{}
		obj["metadata"] = md
	}
	l, _ := md["labels"].(map[string]any)
	if l == nil {
		l = map[string]any{}
		md["labels"] = l
	}
	// vmo-cue marks what it renders in its own keys only (vmo-cue.dev/...; the reconciler adds the
	// fleet's): a label the file sets, app.kubernetes.io/managed-by included, is never changed.
	for k, v := range Marks(cluster, component) {
		l[k] = v
	}
}

var (
	templatesOnce sync.Once
	templatesInst *build.Instance
	templatesErr  error
)

// stackObjects evaluates the CUE templates (cue/, embedded) for the cluster.
func stackObjects(c *resolved.Cluster) ([]Object, error) {
	templatesOnce.Do(func() {
		insts, err := cuemod.Load("./cue")
		if err != nil {
			templatesErr = err
			return
		}
		templatesInst = insts[0]
	})
	if templatesErr != nil {
		return nil, templatesErr
	}
	ctx := cuecontext.New()
	v := ctx.BuildInstance(templatesInst)
	if err := v.Err(); err != nil {
		return nil, fmt.Errorf("render templates: %w", err)
	}
	r := v.LookupPath(cue.ParsePath("#Render"))
	kind := c.Kind
	labelsIn := map[string]string{}
	for k, v := range c.Labels {
		labelsIn[k] = v
	}
	r = r.FillPath(cue.ParsePath("cluster"), map[string]any{"name": c.Name, "kind": kind, "labels": labelsIn})
	// The typed stack encodes as the value it was decoded from (TestTypedStackRoundTrips).
	r = r.FillPath(cue.ParsePath("stack"), &c.Stack)
	r = r.FillPath(cue.ParsePath("kubevirtGates"), nonNil(c.KubeVirtGates))
	r = r.FillPath(cue.ParsePath("cdiGates"), nonNil(c.CDIGates))
	objs := r.LookupPath(cue.ParsePath("objects"))
	data, err := objs.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("render templates for cluster %s: %w", c.Name, err)
	}
	var out []Object
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("render templates for cluster %s: %w", c.Name, err)
	}
	return out, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// vmNamespaces renders the Namespaces VMs live in that the stack does not create (not "default").
func vmNamespaces(c *resolved.Cluster, stack []Object) []Object {
	have := map[string]bool{"default": true, "kube-system": true, "kube-public": true}
	for _, o := range stack {
		if o["kind"] == "Namespace" {
			md, _ := o["metadata"].(map[string]any)
			name, _ := md["name"].(string)
			have[name] = true
		}
	}
	want := map[string]bool{}
	for _, vm := range c.VMs {
		if !have[vm.Namespace] {
			want[vm.Namespace] = true
		}
	}
	for _, o := range c.Objects {
		if o.Namespace != "" && !have[o.Namespace] {
			want[o.Namespace] = true
		}
	}
	if ms := c.Stack.Multus; ms.On() {
		for _, n := range ms.Networks {
			if n.Namespace != "" && !have[n.Namespace] {
				want[n.Namespace] = true
			}
		}
	}
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []Object
	for _, n := range names {
		ns := Object{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": n}}
		labels(ns, c.Name, "")
		out = append(out, ns)
	}
	return out
}

// vmObject is the VM as written, with its namespace, its assigned MACs and vmo-cue's labels.
func vmObject(c *resolved.Cluster, vm *resolved.VM) Object {
	obj := runtime.DeepCopyJSON(vm.Object)
	delete(obj, "status")
	md, _ := obj["metadata"].(map[string]any)
	md["namespace"] = vm.Namespace
	labels(obj, c.Name, "")
	ifaces, _ := dig(obj, "spec", "template", "spec", "domain", "devices", "interfaces").([]any)
	for i, mac := range vm.MACs {
		if i >= len(ifaces) {
			continue
		}
		if m, ok := ifaces[i].(map[string]any); ok {
			m["macAddress"] = mac
		}
	}
	return obj
}

// dig reads a field of a rendered object (a VM): nil where it is absent.
func dig(v any, path ...string) any {
	for _, p := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}
