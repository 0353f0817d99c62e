package reconciler_test

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vmo-cue/vmo-cue/internal/testcluster"
	"github.com/vmo-cue/vmo-cue/reconciler"
)

// driftCase is one change made by hand to an object vmo-cue applied.
type driftCase struct {
	name     string
	gvk      schema.GroupVersionKind
	ns, obj  string
	induce   func(t *testing.T, c client.Client)
	value    func(u *unstructured.Unstructured) string // the drifting field, as text ("<absent>" if the object is gone)
	reasonBy string                                    // a manager the drift reason names ("" for a deletion)
}

func driftCases() []driftCase {
	const editor = "kubectl-edit"
	edit := func(gvk schema.GroupVersionKind, ns, name string, change func(t *testing.T, u *unstructured.Unstructured)) func(t *testing.T, c client.Client) {
		return func(t *testing.T, c client.Client) {
			editAs(t, c, editor, gvk, ns, name, func(u *unstructured.Unstructured) { change(t, u) })
		}
	}
	containers := func(u *unstructured.Unstructured) string {
		return nested(u, "spec", "template", "spec", "containers")
	}
	return []driftCase{
		{
			name: "a ConfigMap value we own changed by kubectl edit",
			gvk:  gvkConfigMap, ns: "kube-system", obj: "multus-daemon-config",
			induce: edit(gvkConfigMap, "kube-system", "multus-daemon-config", func(t *testing.T, u *unstructured.Unstructured) {
				require.NoError(t, unstructured.SetNestedField(u.Object, `{"logLevel": "debug"}`, "data", "daemon-config.json"))
			}),
			value:    func(u *unstructured.Unstructured) string { return nested(u, "data", "daemon-config.json") },
			reasonBy: editor,
		},
		{
			name: "a Deployment's image changed by kubectl edit",
			gvk:  gvkDeployment, ns: "kubevirt", obj: "virt-operator",
			induce: edit(gvkDeployment, "kubevirt", "virt-operator", func(t *testing.T, u *unstructured.Unstructured) {
				cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
				cs[0].(map[string]any)["image"] = "registry.example.com/patched/virt-operator:hotfix"
				require.NoError(t, unstructured.SetNestedSlice(u.Object, cs, "spec", "template", "spec", "containers"))
			}),
			value:    containers,
			reasonBy: editor,
		},
		{
			name: "a label we set removed",
			gvk:  gvkService, ns: "vm-dashboard", obj: "vm-dashboard",
			induce: edit(gvkService, "vm-dashboard", "vm-dashboard", func(t *testing.T, u *unstructured.Unstructured) {
				l := u.GetLabels()
				delete(l, "vmo-cue.dev/component")
				u.SetLabels(l)
			}),
			// A removal leaves the remover no managedFields entry: the reason cannot name who.
			value: func(u *unstructured.Unstructured) string {
				return nested(u, "metadata", "labels", "vmo-cue.dev/component")
			},
		},
		{
			name: "an object deleted",
			gvk:  gvkNAD, ns: "vms", obj: "store-pos",
			induce: func(t *testing.T, c client.Client) {
				u := getLive(t, c, gvkNAD, "vms", "store-pos")
				require.NotNil(t, u)
				require.NoError(t, c.Delete(t.Context(), u))
			},
			value: func(u *unstructured.Unstructured) string {
				if u == nil {
					return "<absent>"
				}
				return nested(u, "spec", "config")
			},
		},
		{
			name: "the operator Deployment scaled through the scale subresource",
			gvk:  gvkDeployment, ns: "kubevirt", obj: "virt-operator",
			induce: func(t *testing.T, c client.Client) {
				dep := &appsv1.Deployment{}
				require.NoError(t, c.Get(t.Context(), client.ObjectKey{Namespace: "kubevirt", Name: "virt-operator"}, dep))
				scale := &autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: 5}}
				require.NoError(t, c.SubResource("scale").Update(t.Context(), dep, client.WithSubResourceBody(scale), client.FieldOwner("kubectl-scale")))
			},
			value:    func(u *unstructured.Unstructured) string { return nested(u, "spec", "replicas") },
			reasonBy: "kubectl-scale",
		},
		{
			name: "a Deployment's replicas changed by another manager's update",
			gvk:  gvkDeployment, ns: "kube-system", obj: "snapshot-controller",
			induce: edit(gvkDeployment, "kube-system", "snapshot-controller", func(t *testing.T, u *unstructured.Unstructured) {
				require.NoError(t, unstructured.SetNestedField(u.Object, int64(0), "spec", "replicas"))
			}),
			value:    func(u *unstructured.Unstructured) string { return nested(u, "spec", "replicas") },
			reasonBy: editor,
		},
		{
			name: "a feature gate removed from the KubeVirt CR by hand",
			gvk:  gvkKubeVirt, ns: "kubevirt", obj: "kubevirt",
			induce: edit(gvkKubeVirt, "kubevirt", "kubevirt", func(t *testing.T, u *unstructured.Unstructured) {
				path := []string{"spec", "configuration", "developerConfiguration", "featureGates"}
				gates, _, _ := unstructured.NestedStringSlice(u.Object, path...)
				require.Contains(t, gates, "Snapshot")
				gates = slices.DeleteFunc(gates, func(g string) bool { return g == "Snapshot" })
				require.NoError(t, unstructured.SetNestedStringSlice(u.Object, gates, path...))
			}),
			value: func(u *unstructured.Unstructured) string {
				return nested(u, "spec", "configuration", "developerConfiguration", "featureGates")
			},
			reasonBy: editor,
		},
		{
			name: "a VM's MAC changed by hand",
			gvk:  gvkVM, ns: "vms", obj: "pos-1",
			induce: edit(gvkVM, "vms", "pos-1", func(t *testing.T, u *unstructured.Unstructured) {
				path := []string{"spec", "template", "spec", "domain", "devices", "interfaces"}
				ifaces, _, _ := unstructured.NestedSlice(u.Object, path...)
				ifaces[0].(map[string]any)["macAddress"] = "02:de:ad:be:ef:01"
				require.NoError(t, unstructured.SetNestedSlice(u.Object, ifaces, path...))
			}),
			value: func(u *unstructured.Unstructured) string {
				return nested(u, "spec", "template", "spec", "domain", "devices", "interfaces")
			},
			reasonBy: editor,
		},
	}
}

// TestDrift: each kind of drift is reported (and left alone) in report mode, corrected in correct
// mode, and the next reconcile is in sync.
func TestDrift(t *testing.T) {
	env := testcluster.StartWithCRDs(t, "shop")
	rc, other := connect(t, env.Cluster("shop").Config())
	vc := loadCluster(t, shopFleet, "shop")
	ctx := t.Context()

	res, err := rc.Reconcile(ctx, desiredOf(t, vc), reconciler.Options{Revision: "r1", PendingTimeout: 10 * time.Second})
	require.NoError(t, err, "%v", res.Failed)
	require.Empty(t, res.Pending)

	for _, tc := range driftCases() {
		t.Run(tc.name, func(t *testing.T) {
			id := idFor(tc.gvk, tc.ns, tc.obj)
			want := tc.value(getLive(t, other, tc.gvk, tc.ns, tc.obj))
			tc.induce(t, other)
			drifted := tc.value(getLive(t, other, tc.gvk, tc.ns, tc.obj))
			require.NotEqual(t, want, drifted, "the change must change the field")

			rep, err := rc.Reconcile(ctx, desiredOf(t, vc), reconciler.Options{Revision: "r1", Drift: reconciler.DriftReport})
			require.NoError(t, err)
			assert.Equal(t, []string{id}, ids(rep.Drifted), "report mode finds exactly this drift")
			assert.Empty(t, rep.Corrected)
			assert.Empty(t, rep.Applied)
			assert.Empty(t, rep.OutOfSync)
			assert.False(t, rep.Written, "report mode writes nothing")
			assert.False(t, rep.InSync())
			if len(rep.Drifted) == 1 && tc.reasonBy != "" {
				assert.Contains(t, rep.Drifted[0].Reason, tc.reasonBy, "the reason names who changed it")
			}
			assert.Equal(t, drifted, tc.value(getLive(t, other, tc.gvk, tc.ns, tc.obj)), "report mode left the drift in place")

			cor, err := rc.Reconcile(ctx, desiredOf(t, vc), reconciler.Options{Revision: "r1", Drift: reconciler.DriftCorrect})
			require.NoError(t, err, "%v", cor.Failed)
			assert.Equal(t, []string{id}, ids(cor.Corrected), "correct mode corrects exactly this drift")
			assert.Empty(t, cor.Applied)
			assert.Empty(t, cor.Drifted)
			assert.Equal(t, want, tc.value(getLive(t, other, tc.gvk, tc.ns, tc.obj)), "back to git's value")

			again, err := rc.Reconcile(ctx, desiredOf(t, vc), reconciler.Options{Revision: "r1", Drift: reconciler.DriftReport})
			require.NoError(t, err)
			assert.True(t, again.InSync(), "drifted %v, out of sync %v", ids(again.Drifted), ids(again.OutOfSync))
			assert.False(t, again.Written)
		})
	}
}

// TestNoFalseDrift: what controllers, the API server and other tools write next to vmo-cue's fields
// is not drift, nor is a field the cluster declares as ignored.
func TestNoFalseDrift(t *testing.T) {
	env := testcluster.StartWithCRDs(t, "shop")
	rc, other := connect(t, env.Cluster("shop").Config())
	dir := copyFleet(t, shopFleet)
	writeFile(t, dir, "clusters/shop/drift.cue", `package fleet

// Someone starts and stops VMs with virtctl: their run strategy is not drift.
cluster: drift: ignore: VirtualMachine: ["spec.runStrategy"]
`)
	vc := loadCluster(t, dir, "shop")
	ctx := t.Context()
	res, err := rc.Reconcile(ctx, desiredOf(t, vc), reconciler.Options{Revision: "r1", PendingTimeout: 10 * time.Second})
	require.NoError(t, err, "%v", res.Failed)

	cases := []struct {
		name   string
		change func(t *testing.T)
	}{
		{"KubeVirt annotates a VM (kubevirt.io/pci-topology-version)", func(t *testing.T) {
			editAs(t, other, "virt-controller", gvkVM, "vms", "pos-1", func(u *unstructured.Unstructured) {
				u.SetAnnotations(map[string]string{"kubevirt.io/pci-topology-version": "v3", "kubevirt.io/latest-observed-api-version": "v1"})
			})
		}},
		{"KubeVirt writes firmware serial and uuid into a VM", func(t *testing.T) {
			editAs(t, other, "virt-controller", gvkVM, "vms", "pos-2", func(u *unstructured.Unstructured) {
				require.NoError(t, unstructured.SetNestedMap(u.Object, map[string]any{
					"serial": "1f2e3d4c-aaaa-bbbb-cccc-000000000001", "uuid": "5a6b7c8d-aaaa-bbbb-cccc-000000000002",
				}, "spec", "template", "spec", "domain", "firmware"))
			})
		}},
		{"a controller writes a VM's status", func(t *testing.T) {
			u := getLive(t, other, gvkVM, "shop", "web")
			require.NoError(t, unstructured.SetNestedField(u.Object, "Running", "status", "printableStatus"))
			require.NoError(t, other.Status().Update(ctx, u, client.FieldOwner("virt-controller")))
		}},
		{"the deployment controller annotates a Deployment", func(t *testing.T) {
			editAs(t, other, "kube-controller-manager", gvkDeployment, "cdi", "cdi-operator", func(u *unstructured.Unstructured) {
				u.SetAnnotations(map[string]string{"deployment.kubernetes.io/revision": "1"})
			})
		}},
		{"someone adds a label of their own to the KubeVirt CR", func(t *testing.T) {
			editAs(t, other, "kubectl-label", gvkKubeVirt, "kubevirt", "kubevirt", func(u *unstructured.Unstructured) {
				l := u.GetLabels()
				l["team"] = "platform"
				u.SetLabels(l)
			})
		}},
		{"another tool applies the same value to a field we own", func(t *testing.T) {
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(gvkConfigMap)
			u.SetNamespace("kube-system")
			u.SetName("descheduler-policy")
			u.SetLabels(map[string]string{"vmo-cue.dev/component": "descheduler"})
			require.NoError(t, other.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("helm")))
		}},
		{"someone stops a VM, a field the cluster ignores", func(t *testing.T) {
			editAs(t, other, "virtctl", gvkVM, "vms", "pos-1", func(u *unstructured.Unstructured) {
				require.NoError(t, unstructured.SetNestedField(u.Object, "Halted", "spec", "runStrategy"))
			})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.change(t)
			rep, err := rc.Reconcile(ctx, desiredOf(t, vc), reconciler.Options{Revision: "r1", Drift: reconciler.DriftReport})
			require.NoError(t, err)
			assert.True(t, rep.InSync(), "drifted %v, out of sync %v", ids(rep.Drifted), ids(rep.OutOfSync))
			assert.False(t, rep.Written)
			p, err := rc.Observe(ctx, desiredOf(t, vc))
			require.NoError(t, err)
			assert.Empty(t, ids(p.Changes()))
		})
	}
	// Everything others wrote is still there: a correct-mode reconcile has nothing to correct.
	cor, err := rc.Reconcile(ctx, desiredOf(t, vc), reconciler.Options{Revision: "r1"})
	require.NoError(t, err)
	assert.True(t, cor.InSync())
	assert.Equal(t, "Halted", nested(getLive(t, other, gvkVM, "vms", "pos-1"), "spec", "runStrategy"))
	assert.Equal(t, "v3", nested(getLive(t, other, gvkVM, "vms", "pos-1"), "metadata", "annotations", "kubevirt.io/pci-topology-version"))
}

// TestChangingDriftIgnore: ignore paths changed after the apply take effect at once, in both
// directions, and never make drift of their own: vmo-cue judges the field set it recorded and the
// live one under today's ignore paths.
func TestChangingDriftIgnore(t *testing.T) {
	env := testcluster.StartWithCRDs(t, "shop")
	rc, other := connect(t, env.Cluster("shop").Config())
	dir := copyFleet(t, shopFleet)
	ctx := t.Context()
	res, err := rc.Reconcile(ctx, desiredOf(t, loadCluster(t, dir, "shop")), reconciler.Options{Revision: "r1", PendingTimeout: 10 * time.Second})
	require.NoError(t, err, "%v", res.Failed)

	editAs(t, other, "virtctl", gvkVM, "vms", "pos-1", func(u *unstructured.Unstructured) {
		require.NoError(t, unstructured.SetNestedField(u.Object, "Halted", "spec", "runStrategy"))
	})
	report := func(t *testing.T) *reconciler.Result {
		t.Helper()
		rep, err := rc.Reconcile(ctx, desiredOf(t, loadCluster(t, dir, "shop")), reconciler.Options{Revision: "r1", Drift: reconciler.DriftReport})
		require.NoError(t, err)
		assert.Empty(t, ids(rep.OutOfSync))
		return rep
	}
	assert.Equal(t, []string{idFor(gvkVM, "vms", "pos-1")}, ids(report(t).Drifted), "not ignored yet: drift")

	writeFile(t, dir, "clusters/shop/drift.cue", `package fleet

cluster: drift: ignore: VirtualMachine: ["spec.runStrategy"]
`)
	assert.Empty(t, ids(report(t).Drifted), "ignored now; and the VMs nobody touched are not drift either")

	editAs(t, other, "kubectl-label", gvkVM, "shop", "web", func(u *unstructured.Unstructured) {
		l := u.GetLabels()
		delete(l, "app")
		u.SetLabels(l)
	})
	assert.Equal(t, []string{idFor(gvkVM, "shop", "web")}, ids(report(t).Drifted), "a field not ignored is still drift")

	removeFile(t, dir, "clusters/shop/drift.cue")
	assert.Equal(t, []string{idFor(gvkVM, "shop", "web"), idFor(gvkVM, "vms", "pos-1")}, ids(report(t).Drifted),
		"ignored no more: the run strategy changed by hand is drift again")
}
