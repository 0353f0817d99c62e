// Package livediff prints what applying git would change in a cluster, object by object: a unified
// diff between the live object and a server-side dry-run of the apply (fluxcd/pkg/ssa). It is apart
// from the reconciler, which does not link fluxcd/pkg/ssa (nor through it kubectl's packages), so
// that the agent's binary, which never diffs, stays small.
package livediff

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/fluxcd/pkg/ssa"
	"github.com/pmezard/go-difflib/difflib"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/vmo-cue/vmo-cue/reconciler"
)

// Write prints, object by object, a unified diff between the live object and what applying git
// would make of it (a server-side dry-run, through fluxcd/pkg/ssa), with Secret values masked. Only
// the items that need a write are diffed: the rest are known to be in sync from the inventory.
// The items are first checked as an apply checks them before its first write (Cluster.CheckWrites:
// the same field validation, Strict, so a field the cluster does not know is refused, not dropped
// from the diff); if any is refused, nothing is printed and the error names every refused object.
func Write(ctx context.Context, c *reconciler.Cluster, items []*reconciler.Item, w io.Writer) error {
	if err := c.CheckWrites(ctx, items); err != nil {
		return err
	}
	rm := ssa.NewResourceManager(c.CurrentClient(), nil, ssa.Owner{Field: reconciler.FieldManager, Group: "vmo-cue.dev"})
	for _, it := range items {
		if it.Action == reconciler.None {
			continue
		}
		var before, after *unstructured.Unstructured
		if _, ok := c.Mapping(it.Object.GroupVersionKind()); !ok || it.Action == reconciler.Create || it.Action == reconciler.Recreate {
			// Not served yet, or not in the cluster: the whole object is new (and its namespace may not
			// exist yet, which a dry-run would refuse).
			after = it.Object.DeepCopy()
		} else {
			cse, liveObj, merged, err := rm.Diff(ctx, it.Object.DeepCopy(), ssa.DefaultDiffOptions())
			if err != nil {
				return fmt.Errorf("diff of %s: %w", it.ID, err)
			}
			before, after = liveObj, merged
			if merged == nil && cse != nil && cse.Action == ssa.CreatedAction {
				// ssa returns no objects for an object that does not exist: the whole object is new.
				after = it.Object.DeepCopy()
			}
		}
		if it.ID.Group == "" && it.ID.Kind == "Secret" {
			// ssa's Diff masks a Secret it compared (changed values stay told apart); a Secret shown
			// whole (new in git) is masked here.
			maskSecret(before)
			maskSecret(after)
		}
		a, b := toYAML(before), toYAML(after)
		title := string(it.Action)
		if it.Reason != "" {
			title += ": " + it.Reason
		}
		text, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
			A: splitLines(a), B: splitLines(b),
			FromFile: "live/" + it.ID.String(), ToFile: "git/" + it.ID.String(), Context: 3,
		})
		if err != nil {
			return err
		}
		if text == "" {
			text = "(no field differs: only vmo-cue's ownership of fields changed)\n"
		}
		fmt.Fprintf(w, "# %s (%s)\n%s", it.ID, title, text)
	}
	return nil
}

// splitLines splits text into lines; no text is no lines (difflib makes it one empty line).
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return difflib.SplitLines(s)
}

func toYAML(u *unstructured.Unstructured) string {
	if u == nil {
		return ""
	}
	o := u.DeepCopy()
	unstructured.RemoveNestedField(o.Object, "metadata", "managedFields")
	unstructured.RemoveNestedField(o.Object, "metadata", "resourceVersion")
	unstructured.RemoveNestedField(o.Object, "metadata", "uid")
	unstructured.RemoveNestedField(o.Object, "metadata", "generation")
	unstructured.RemoveNestedField(o.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(o.Object, "status")
	data, _ := yaml.Marshal(o.Object)
	return string(data)
}

// maskSecret masks the values of a Secret that are not masked yet.
func maskSecret(u *unstructured.Unstructured) {
	if u == nil {
		return
	}
	for _, f := range []string{"data", "stringData"} {
		m, ok, _ := unstructured.NestedMap(u.Object, f)
		if !ok {
			continue
		}
		for k, v := range m {
			if s, _ := v.(string); !strings.HasPrefix(s, "***") {
				m[k] = "***"
			}
		}
		unstructured.SetNestedMap(u.Object, m, f)
	}
}
