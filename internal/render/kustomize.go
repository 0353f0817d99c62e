package render

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/vmo-cue/vmo-cue/internal/applypolicy"
	"github.com/vmo-cue/vmo-cue/internal/resolved"
)

// ErrKustomize is returned for a cluster whose kustomize folders do not build with its stack.
type ErrKustomize struct {
	Cluster string
	Err     string
}

func (e ErrKustomize) Error() string {
	return fmt.Sprintf("cluster %s: kustomize: %s", e.Cluster, e.Err)
}

// kustomize builds the cluster's kustomize folders with its rendered stack objects as one more
// resource of each (internal/kustomize): it returns the stack objects as patched, in their order,
// and the folders' objects other than VMs (those are the cluster's VMs, rendered with their MACs).
// A patch may not touch the stack's RBAC (the operators' rights are vmo-cue's), and an object from
// kustomize may not wear the stack's component label (which exempts it from the apply policy).
func kustomize(c *resolved.Cluster, stack []Object) (patched, extra []Object, err error) {
	k := c.Kustomize
	patched = stack
	for _, dir := range k.Dirs {
		objs, diags := k.Tree.Build(dir, patched)
		if diags.HasErrors() {
			msgs := make([]string, 0, len(diags.Errors()))
			for _, d := range diags.Errors() {
				msgs = append(msgs, d.Error())
			}
			return nil, nil, ErrKustomize{Cluster: c.Name, Err: strings.Join(msgs, "; ")}
		}
		byID := map[string]Object{}
		for _, o := range objs {
			md, _ := o.Object["metadata"].(map[string]any)
			ls, _ := md["labels"].(map[string]any)
			switch {
			case o.Stack:
				byID[id(o.Object)] = o.Object
			case isVM(o.Object):
			case ls[applypolicy.ComponentLabel] != nil:
				return nil, nil, ErrKustomize{Cluster: c.Name, Err: fmt.Sprintf("%s:%d: %s %s: the label %s marks vmo-cue's stack objects: an object from kustomize may not carry it",
					o.Pos.File, o.Pos.Line, o.Object["kind"], md["name"], applypolicy.ComponentLabel)}
			default:
				setLabels(o.Object, c.Name)
				extra = append(extra, o.Object)
			}
		}
		next := make([]Object, len(patched))
		for i, o := range patched {
			p := byID[id(o)]
			api, _ := o["apiVersion"].(string)
			if strings.HasPrefix(api, "rbac.authorization.k8s.io/") && !sameRights(p, o) {
				return nil, nil, ErrKustomize{Cluster: c.Name, Err: fmt.Sprintf("%s: the stack's %s %s may not be patched: the operators' rights are vmo-cue's", dir, o["kind"], id(o))}
			}
			next[i] = p
		}
		patched = next
	}
	return patched, extra, nil
}

func id(o Object) string {
	md, _ := o["metadata"].(map[string]any)
	kind, _ := o["kind"].(string)
	ns, _ := md["namespace"].(string)
	name, _ := md["name"].(string)
	if ns == "" {
		return kind + " " + name
	}
	return kind + " " + ns + "/" + name
}

func isVM(o Object) bool {
	api, _ := o["apiVersion"].(string)
	return o["kind"] == "VirtualMachine" && strings.HasPrefix(api, "kubevirt.io/")
}

// setLabels marks an object from kustomize as vmo-cue's, like a VM.
func setLabels(o Object, cluster string) { labels(o, cluster, "") }

// sameRights reports whether an RBAC object grants what it did: its rules, role reference,
// subjects and aggregation (labels and annotations may change).
func sameRights(a, b Object) bool {
	for _, k := range []string{"rules", "roleRef", "subjects", "aggregationRule"} {
		if !reflect.DeepEqual(a[k], b[k]) {
			return false
		}
	}
	return true
}
