// Package preview compares the desired state of a fleet at two revisions, cluster by cluster and object
// by object, without any cluster: what a merge would create, change (a unified diff, Secret values
// masked) or remove, which clusters it does not touch, and the vet result of the new revision. It is the
// review of a commit that reaches every site (`vmo-cue diff --from REV`).
package preview

import (
	"fmt"
	"sort"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/vmo-cue/vmo-cue/internal/desired"
	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/validate"
	"github.com/vmo-cue/vmo-cue/reconciler/inventory"
)

// Action is what a merge does to one object.
type Action string

const (
	Create Action = "create"
	Change Action = "change"
	Remove Action = "remove"
)

// Cluster states in a report.
const (
	// Changed: the cluster is in both revisions, valid in the new one, and some object differs.
	Changed = "changed"
	// Added: the cluster is new in the fleet; every object is created.
	Added = "added"
	// Removed: the cluster left the fleet: nothing more is applied to it, what it runs stays.
	Removed = "removed"
	// Invalid: the cluster does not validate at the new revision: sync skips it, nothing is applied.
	Invalid = "invalid"
)

// Revision names one side of the comparison.
type Revision struct {
	Rev     string `json:"rev"`
	Commit  string `json:"commit"`
	Message string `json:"message,omitempty"`
}

// Object is one object a merge creates, changes or removes.
type Object struct {
	Action Action       `json:"action"`
	ID     inventory.ID `json:"id"`
	// Diff is a unified diff of the object's YAML, old revision against new (the whole object for a
	// create or a remove), Secret values masked.
	Diff string `json:"diff"`
}

// Cluster is what a merge does to one cluster that it touches.
type Cluster struct {
	Name  string `json:"name"`
	State string `json:"state"`
	// Note explains a state other than changed (an invalid cluster, one invalid at the old revision).
	Note    string   `json:"note,omitempty"`
	Objects []Object `json:"objects,omitempty"`
}

// Count returns the number of objects of the cluster with the action.
func (c Cluster) Count(a Action) int {
	n := 0
	for _, o := range c.Objects {
		if o.Action == a {
			n++
		}
	}
	return n
}

// Finding is one vet finding of the new revision.
type Finding struct {
	Severity  string   `json:"severity"`
	Rule      string   `json:"rule,omitempty"`
	Cluster   string   `json:"cluster,omitempty"`
	Path      string   `json:"path,omitempty"`
	Message   string   `json:"message"`
	Positions []string `json:"positions,omitempty"`
}

// Vet is the vet result of the new revision.
type Vet struct {
	Valid           bool      `json:"valid"`
	Errors          int       `json:"errors"`
	Warnings        int       `json:"warnings"`
	Clusters        int       `json:"clusters"`
	InvalidClusters int       `json:"invalidClusters"`
	VMs             int       `json:"vms"`
	Findings        []Finding `json:"findings,omitempty"`
	// Text is the findings in the format of cue vet (as `vmo-cue vet` prints them).
	Text string `json:"-"`
}

// Report is the comparison of two revisions.
type Report struct {
	From Revision `json:"from"`
	To   Revision `json:"to"`
	// Clusters are the clusters the merge touches, by name.
	Clusters []Cluster `json:"clusters"`
	// Untouched are the clusters whose desired state is the same at both revisions.
	Untouched []string `json:"untouched"`
	Vet       Vet      `json:"vet"`
}

// Changes reports whether the merge changes anything: an object, a cluster added, removed or
// invalid.
func (r *Report) Changes() bool { return len(r.Clusters) > 0 }

// Compare compares the fleet at the old revision (from) with the new (to). A cluster invalid at the
// new revision is reported Invalid (sync would skip it); one invalid at the old revision is compared
// with nothing (every object a create) and says so.
func Compare(fromRev, toRev Revision, from, to *validate.Result) (*Report, error) {
	r := &Report{From: fromRev, To: toRev, Untouched: []string{}, Vet: vetOf(to)}
	names := map[string]bool{}
	for _, c := range from.Clusters {
		names[c.Name] = true
	}
	for _, c := range to.Clusters {
		names[c.Name] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	for _, name := range sorted {
		c, err := compareCluster(name, from.Cluster(name), to.Cluster(name), short(fromRev.Commit), short(toRev.Commit))
		if err != nil {
			return nil, err
		}
		if c == nil {
			r.Untouched = append(r.Untouched, name)
			continue
		}
		r.Clusters = append(r.Clusters, *c)
	}
	return r, nil
}

func compareCluster(name string, old, cur *validate.Cluster, fromShort, toShort string) (*Cluster, error) {
	switch {
	case cur == nil:
		return &Cluster{Name: name, State: Removed, Note: "leaves the fleet: nothing more is applied to it, and what it runs stays"}, nil
	case !cur.Valid():
		n := cur.Diags.Count().Errors
		note := fmt.Sprintf("does not validate at %s (%s, below): sync skips it, nothing is applied", toShort, diag.Plural(n, "error"))
		return &Cluster{Name: name, State: Invalid, Note: note}, nil
	}
	after, err := objects(cur)
	if err != nil {
		// Refused at render (the apply policy): sync would refuse the cluster too.
		return &Cluster{Name: name, State: Invalid, Note: fmt.Sprintf("refused at %s, nothing is applied: %v", toShort, err)}, nil
	}
	out := &Cluster{Name: name, State: Changed}
	var before []*unstructured.Unstructured
	switch {
	case old == nil:
		out.State = Added
	case !old.Valid():
		out.Note = fmt.Sprintf("did not validate at %s: compared with nothing", fromShort)
	default:
		if before, err = objects(old); err != nil {
			before = nil
			out.Note = fmt.Sprintf("refused at %s: compared with nothing", fromShort)
		}
	}
	out.Objects = diffObjects(before, after, fromShort, toShort)
	if len(out.Objects) == 0 && out.State == Changed && out.Note == "" {
		return nil, nil
	}
	return out, nil
}

func objects(c *validate.Cluster) ([]*unstructured.Unstructured, error) {
	d, err := desired.Render(c)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", diag.Name(c.Name), err)
	}
	return d.Objects, nil
}

func idOf(u *unstructured.Unstructured) inventory.ID {
	gvk := u.GroupVersionKind()
	return inventory.ID{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Namespace: u.GetNamespace(), Name: u.GetName()}
}

// diffObjects pairs objects by identity (group, kind, namespace, name: an API version change is a
// change, not a remove and a create): the new revision's in render order, then those removed.
func diffObjects(before, after []*unstructured.Unstructured, fromShort, toShort string) []Object {
	old := make(map[string]*unstructured.Unstructured, len(before))
	for _, u := range before {
		old[idOf(u).Key()] = u
	}
	var out []Object
	seen := map[string]bool{}
	for _, u := range after {
		id := idOf(u)
		seen[id.Key()] = true
		prev := old[id.Key()]
		a, b := pair(prev, u)
		if a == b {
			continue
		}
		act := Change
		if prev == nil {
			act = Create
		}
		out = append(out, Object{Action: act, ID: id, Diff: unified(a, b, id, fromShort, toShort)})
	}
	for _, u := range before {
		id := idOf(u)
		if seen[id.Key()] {
			continue
		}
		a, _ := pair(u, nil)
		out = append(out, Object{Action: Remove, ID: id, Diff: unified(a, "", id, fromShort, toShort)})
	}
	return out
}

// pair returns the YAML of both sides, Secret values masked: a value the same on both sides is
// "***", one that differs "*** (before)" and "*** (after)" (as fluxcd/pkg/ssa masks them).
func pair(before, after *unstructured.Unstructured) (string, string) {
	if before != nil {
		before = before.DeepCopy()
	}
	if after != nil {
		after = after.DeepCopy()
	}
	if isSecret(before) || isSecret(after) {
		for _, field := range []string{"data", "stringData"} {
			maskSecret(before, after, field)
		}
	}
	return toYAML(before), toYAML(after)
}

func isSecret(u *unstructured.Unstructured) bool {
	return u != nil && u.GetKind() == "Secret" && u.GroupVersionKind().Group == ""
}

func maskSecret(before, after *unstructured.Unstructured, field string) {
	get := func(u *unstructured.Unstructured) map[string]any {
		if u == nil {
			return nil
		}
		m, _ := u.Object[field].(map[string]any)
		return m
	}
	a, b := get(before), get(after)
	for k, v := range a {
		if w, ok := b[k]; ok && fmt.Sprint(w) != fmt.Sprint(v) {
			a[k], b[k] = "*** (before)", "*** (after)"
			continue
		}
		a[k] = "***"
		if _, ok := b[k]; ok {
			b[k] = "***"
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			b[k] = "***"
		}
	}
}

func toYAML(u *unstructured.Unstructured) string {
	if u == nil {
		return ""
	}
	data, err := yaml.Marshal(u.Object)
	if err != nil {
		return fmt.Sprintf("# not representable as YAML: %v\n", err)
	}
	return string(data)
}

func unified(a, b string, id inventory.ID, fromShort, toShort string) string {
	text, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: splitLines(a), B: splitLines(b),
		FromFile: fromShort + "/" + id.String(), ToFile: toShort + "/" + id.String(), Context: 3,
	})
	return text
}

// splitLines splits text into lines; no text is no lines (difflib makes it one empty line).
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return difflib.SplitLines(s)
}

func vetOf(r *validate.Result) Vet {
	all := r.All()
	n := all.Count()
	v := Vet{Valid: n.Errors == 0, Errors: n.Errors, Warnings: n.Warnings, Clusters: len(r.Clusters)}
	for _, c := range r.Clusters {
		v.VMs += len(c.VMs)
		if !c.Valid() {
			v.InvalidClusters++
		}
	}
	var b strings.Builder
	_ = all.Print(&b)
	v.Text = b.String()
	for _, d := range all {
		f := Finding{Severity: "error", Rule: d.Rule, Cluster: d.Cluster, Path: d.Path, Message: d.Message}
		if d.Severity == diag.Warning {
			f.Severity = "warning"
		}
		for _, p := range d.Positions {
			f.Positions = append(f.Positions, p.String())
		}
		v.Findings = append(v.Findings, f)
	}
	return v
}

// Summary is the vet result in one line, as `vmo-cue vet` ends.
func (v Vet) Summary() string {
	if !v.Valid {
		return fmt.Sprintf("%s, %s: %s invalid", diag.Plural(v.Errors, "error"), diag.Plural(v.Warnings, "warning"), diag.OfPlural(v.InvalidClusters, v.Clusters, "cluster"))
	}
	return fmt.Sprintf("ok: %s, %s, %s", diag.Plural(v.Clusters, "cluster"), diag.Plural(v.VMs, "VM"), diag.Plural(v.Warnings, "warning"))
}

func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}
