package agent_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vmo-cue/vmo-cue/reconciler/clusterstatus"
)

// bulkVMs returns n small VirtualMachines as one YAML file.
func bulkVMs(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "---\napiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata:\n  name: bulk-%04d\nspec:\n  runStrategy: Halted\n"+
			"  template:\n    spec:\n      domain:\n        memory:\n          guest: 1Gi\n        devices: {}\n", i)
	}
	return b.String()
}

// uids returns the UIDs of the edge's VMs by name.
func uids(t testing.TB, c client.Client) map[string]types.UID {
	t.Helper()
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(vmGVK.GroupVersion().WithKind("VirtualMachineList"))
	require.NoError(t, c.List(context.Background(), list))
	out := map[string]types.UID{}
	for _, o := range list.Items {
		out[o.Namespace+"/"+o.Name] = o.UID
	}
	return out
}

// TestKilledMidApplyConverges: an agent SIGKILLed in the middle of applying a commit that adds 600
// VMs (pruning on) is started again: it converges on the commit, every VM once, and neither deletes
// nor makes again anything that was there (no spurious prune: what the killed apply made was recorded
// in the inventory before its first write).
func TestKilledMidApplyConverges(t *testing.T) {
	env := startClusters(t, edge)
	c := clientOf(t, env.Cluster(edge).Config())
	r := newRepo(t)
	rev1 := r.commit("The canary store")
	dir := t.TempDir()
	kc := writeKubeconfig(t, env.Cluster(edge).Config(), "", filepath.Join(dir, "edge.kubeconfig"))
	args := []string{"--kubeconfig", kc, "--repo", r.url(), "--interval", "500ms", "--pending-timeout", "2s", "--prune"}
	a := startAgent(t, dir, args...)
	waitLocal(t, c, time.Minute, "InSync at the first commit", func(s clusterstatus.ClusterStatus) bool {
		return s.State == clusterstatus.InSync && s.Revision == "main@sha1:"+rev1
	})
	before := uids(t, c)
	require.Len(t, before, 3)
	cm := &unstructured.Unstructured{}
	cm.SetAPIVersion("v1")
	cm.SetKind("Namespace")
	require.NoError(t, c.Get(context.Background(), client.ObjectKey{Name: "vms"}, cm))

	r.write("clusters/edge-store-1/vms/bulk.yaml", bulkVMs(600))
	rev2 := r.commit("600 more VMs")
	var mid map[string]types.UID
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		mid = uids(t, c)
		if len(mid) > 3 {
			a.kill()
			break
		}
		require.True(t, time.Now().Before(deadline), "the second commit's VMs did not start to appear")
	}
	mid = uids(t, c)
	require.Less(t, len(mid), 603, "killed too late: every VM was applied already")
	t.Logf("killed with %d of 603 VMs applied", len(mid))
	require.Equal(t, clusterstatus.Syncing, localStatus(t, c).State)

	a = startAgent(t, dir, args...)
	waitLocal(t, c, 2*time.Minute, "InSync at the second commit", func(s clusterstatus.ClusterStatus) bool {
		return s.State == clusterstatus.InSync && s.Revision == "main@sha1:"+rev2
	})
	after := uids(t, c)
	assert.Len(t, after, 603)
	for name, uid := range mid {
		assert.Equal(t, uid, after[name], "%s was made again", name)
	}
	ns := &unstructured.Unstructured{}
	ns.SetAPIVersion("v1")
	ns.SetKind("Namespace")
	require.NoError(t, c.Get(context.Background(), client.ObjectKey{Name: "vms"}, ns))
	assert.Equal(t, cm.GetUID(), ns.GetUID())
	// The VMs the killed apply made are applied again (recorded as intended, not as applied), made
	// by no one: 600 applied, of which none created twice (their UIDs above).
	assert.Contains(t, a.logText(), fmt.Sprintf("main@sha1:%s: 600 applied, 0 pruned, 54 unchanged", rev2))
	assert.NotRegexp(t, `[1-9][0-9]* pruned`, a.logText(), "the restarted agent pruned")
}
