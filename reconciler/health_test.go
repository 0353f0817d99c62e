package reconciler_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vmo-cue/vmo-cue/internal/testcluster"
	"github.com/vmo-cue/vmo-cue/reconciler"
	"github.com/vmo-cue/vmo-cue/reconciler/inventory"
)

// healthVM is a pod-network VM of namespace "shop" with a run strategy and, optionally, annotations.
func healthVM(name, strategy, annotations string) string {
	return fmt.Sprintf(`---
apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: %s
  namespace: shop
%s
spec:
  runStrategy: %s
  template:
    spec:
      domain:
        devices:
          interfaces:
            - name: default
              masquerade: {}
      networks:
        - name: default
          pod: {}
`, name, annotations, strategy)
}

// vmStatus is what virt-controller reports of a VM.
type vmStatus struct {
	printable  string
	ready      bool
	conditions []string // types whose status is True
	// behind leaves status.observedGeneration one behind metadata.generation.
	behind bool
}

// setVMStatus writes a VM's status as virt-controller does (status subresource, its field manager).
func setVMStatus(t *testing.T, c client.Client, ns, name string, s vmStatus) {
	t.Helper()
	u := getLive(t, c, gvkVM, ns, name)
	require.NotNil(t, u)
	st := map[string]any{"ready": s.ready, "observedGeneration": u.GetGeneration()}
	if s.printable != "" {
		st["printableStatus"] = s.printable
	}
	if s.behind {
		st["observedGeneration"] = u.GetGeneration() - 1
	}
	var conds []any
	for _, typ := range s.conditions {
		conds = append(conds, map[string]any{"type": typ, "status": "True"})
	}
	if conds != nil {
		st["conditions"] = conds
	}
	u.Object["status"] = st
	require.NoError(t, c.Status().Update(t.Context(), u, client.FieldOwner("virt-controller")))
}

var gvkDV = schema.GroupVersionKind{Group: "cdi.kubevirt.io", Version: "v1beta1", Kind: "DataVolume"}

// TestHealth: a VM is healthy when its state is what its run strategy (and its power state's owner)
// intends; a DataVolume when Succeeded or waiting for its first consumer. VMs waiting for a restart
// are healthy, and named.
func TestHealth(t *testing.T) {
	env := testcluster.StartWithCRDs(t, "shop")
	rc, other := connect(t, env.Cluster("shop").Config())
	dir := copyFleet(t, shopFleet)
	ops := "  annotations:\n    vmo-cue.dev/power-state: operators"
	writeFile(t, dir, "clusters/shop/vms/health.yaml", strings.Join([]string{
		healthVM("halted", "Halted", ""), healthVM("manual", "Manual", ""), healthVM("rerun", "RerunOnFailure", ""),
		healthVM("once", "Once", ""), healthVM("always", "Always", ""), healthVM("restart", "Always", ""),
		healthVM("starting", "Always", ""), healthVM("halted-running", "Halted", ""), healthVM("stale", "Always", ""),
		healthVM("ops-stopped", "Always", ops), healthVM("crashing", "Manual", ""),
	}, ""))
	ctx := t.Context()
	res, err := rc.Reconcile(ctx, desiredOf(t, loadCluster(t, dir, "shop")), reconciler.Options{Revision: "r1", PendingTimeout: 10 * time.Second})
	require.NoError(t, err, "%v", res.Failed)
	items := map[string]*reconciler.Item{}
	for _, it := range res.Objects {
		if it.ID.Kind == "VirtualMachine" && it.ID.Namespace == "shop" {
			items[it.ID.Name] = it
		}
	}
	virtctl(t, other, "shop", "ops-stopped", "Always", "Halted")
	for name, s := range map[string]vmStatus{
		"halted":         {printable: "Stopped"},
		"manual":         {printable: "Stopped"},
		"rerun":          {printable: "Stopped"}, // the guest shut down: finished
		"once":           {printable: "Stopped"},
		"always":         {printable: "Running", ready: true, conditions: []string{"Ready"}},
		"restart":        {printable: "Running", ready: true, conditions: []string{"Ready", "RestartRequired"}, behind: true},
		"starting":       {printable: "Starting"},
		"halted-running": {printable: "Running", ready: true},
		"stale":          {printable: "Running", ready: true, behind: true},
		"ops-stopped":    {printable: "Stopped"},
		"crashing":       {printable: "CrashLoopBackOff"},
		"web":            {printable: "Running", ready: true},
	} {
		setVMStatus(t, other, "shop", name, s)
	}

	// DataVolumes, made and reported by hand (as CDI would).
	for name, phase := range map[string]string{"imported": "Succeeded", "wffc": "WaitForFirstConsumer", "importing": "ImportInProgress"} {
		dv := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataVolume",
			"metadata": map[string]any{"name": name, "namespace": "shop"},
			"spec":     map[string]any{"source": map[string]any{"blank": map[string]any{}}, "storage": map[string]any{"resources": map[string]any{"requests": map[string]any{"storage": "1Gi"}}}},
		}}
		require.NoError(t, other.Create(ctx, dv))
		dv.Object["status"] = map[string]any{"phase": phase}
		require.NoError(t, other.Status().Update(ctx, dv, client.FieldOwner("cdi-controller")))
		items[name] = &reconciler.Item{ID: inventory.ID{Group: gvkDV.Group, Version: gvkDV.Version, Kind: gvkDV.Kind, Namespace: "shop", Name: name}, Object: dv}
	}

	pick := func(names ...string) []*reconciler.Item {
		var out []*reconciler.Item
		for _, n := range names {
			require.NotNil(t, items[n], n)
			out = append(out, items[n])
		}
		return out
	}
	t.Run("healthy as their run strategies intend", func(t *testing.T) {
		rep, err := rc.WaitHealthy(ctx, pick("halted", "manual", "rerun", "once", "always", "restart", "ops-stopped", "web", "imported", "wffc"), 5*time.Second)
		require.NoError(t, err)
		assert.Equal(t, []string{"shop/restart"}, rep.RestartRequired)
		assert.Equal(t, "1 VM waits for a restart to run its new template: shop/restart", rep.Warning())
	})
	for _, tc := range []struct{ name, why string }{
		{"starting", "VirtualMachine.kubevirt.io shop/starting: runStrategy Always, Starting, not Ready"},
		{"halted-running", "VirtualMachine.kubevirt.io shop/halted-running: runStrategy Halted, Running"},
		{"stale", "VirtualMachine.kubevirt.io shop/stale: runStrategy Always, Running (KubeVirt has not observed generation 1 yet)"},
		{"crashing", "VirtualMachine.kubevirt.io shop/crashing: runStrategy Manual, CrashLoopBackOff"},
		{"importing", "DataVolume.cdi.kubevirt.io shop/importing: phase ImportInProgress"},
	} {
		t.Run("not healthy: "+tc.name, func(t *testing.T) {
			_, err := rc.WaitHealthy(ctx, pick(tc.name), time.Second)
			require.Error(t, err)
			assert.Equal(t, "not healthy within 1s: "+tc.why, err.Error())
			var he *reconciler.HealthError
			require.ErrorAs(t, err, &he)
			assert.True(t, he.TimedOut, "waited its whole timeout")
		})
	}
}
