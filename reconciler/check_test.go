package reconciler_test

import (
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vmo-cue/vmo-cue/internal/testcluster"
	"github.com/vmo-cue/vmo-cue/reconciler"
	"github.com/vmo-cue/vmo-cue/reconciler/livediff"
)

// TestCheckBeforeWrite: before the first write, new VMs (a custom resource no webhook or admission
// policy matches) are checked by vmo-cue against the cluster's own VirtualMachine CRD, with the API
// server's code: the objects refused and the messages are the server's dry-run's, word for word, and
// no dry-run request is made per VM. Once a ValidatingAdmissionPolicy matches VMs, they are dry-run
// again: the policy's verdict and the schema's both come from the server. Either way nothing is
// written.
func TestCheckBeforeWrite(t *testing.T) {
	env := testcluster.StartWithCRDs(t, "check")
	cfg := env.Cluster("check").Config()
	// vmDryRuns counts the dry-run requests for VMs.
	var vmDryRuns atomic.Int64
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.URL.Query().Get("dryRun") != "" && strings.Contains(r.URL.Path, "/virtualmachines") {
				vmDryRuns.Add(1)
			}
			return rt.RoundTrip(r)
		})
	})
	rc, other := connect(t, cfg)
	ctx := t.Context()

	vms := loadCluster(t, shopFleet, "shop").VMs
	cases := []struct {
		name   string
		change func(t *testing.T, vm map[string]any)
		want   string
	}{
		{"a field of the wrong type", func(t *testing.T, vm map[string]any) {
			require.NoError(t, unstructured.SetNestedField(vm, "two", "spec", "template", "spec", "domain", "cpu", "cores"))
		}, `VirtualMachine.kubevirt.io "pos-1" is invalid: [spec.template.spec.domain.cpu.cores: Invalid value: "string": spec.template.spec.domain.cpu.cores in body must be of type integer: "string"`},
		{"a field the CRD does not know", func(t *testing.T, vm map[string]any) {
			require.NoError(t, unstructured.SetNestedField(vm, true, "spec", "template", "spec", "domain", "turbo"))
		}, `VirtualMachine in version "v1" cannot be handled as a VirtualMachine: strict decoding error: unknown field "spec.template.spec.domain.turbo"`},
		{"a label value the server refuses", func(t *testing.T, vm map[string]any) {
			require.NoError(t, unstructured.SetNestedField(vm, "not a label value!", "metadata", "labels", "app"))
		}, `VirtualMachine.kubevirt.io "pos-1" is invalid: metadata.labels: Invalid value: "not a label value!"`},
		{"a required field missing", func(t *testing.T, vm map[string]any) {
			unstructured.RemoveNestedField(vm, "spec", "template", "spec", "domain")
		}, `VirtualMachine.kubevirt.io "pos-1" is invalid: [spec.template.spec.domain: Required value`},
	}
	// refuse reconciles the shop fleet with pos-1 changed; every object is checked by the server with
	// dryRunEvery.
	refuse := func(t *testing.T, change func(*testing.T, map[string]any), dryRunEvery bool) *reconciler.Result {
		t.Helper()
		vc := loadCluster(t, shopFleet, "shop")
		for _, vm := range vc.VMs {
			if vm.Name == "pos-1" {
				change(t, vm.Object)
			}
		}
		vmDryRuns.Store(0)
		res, err := rc.Reconcile(ctx, desiredOf(t, vc), reconciler.Options{Revision: "bad", PendingTimeout: 5 * time.Second, DryRunEvery: dryRunEvery})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "nothing written")
		assert.False(t, res.Written)
		assertNothingWritten(t, other)
		require.Len(t, res.Failed, 1, "%v", res.Failed)
		assert.Equal(t, idFor(gvkVM, "vms", "pos-1"), res.Failed[0].Item.ID.String())
		return res
	}
	// The server's dry-run of a VM whose namespace this apply creates is made in the stand-in
	// namespace, and says so; vmo-cue's own check needs no stand-in.
	standIn := "dry-run in namespace default (vms does not exist yet): "
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			server := refuse(t, tc.change, true)
			assert.Equal(t, int64(len(vms)), vmDryRuns.Load(), "DryRunEvery: every VM dry-run")
			local := refuse(t, tc.change, false)
			assert.Zero(t, vmDryRuns.Load(), "no VM dry-run")
			assert.Equal(t, strings.TrimPrefix(server.Failed[0].Err.Error(), standIn), local.Failed[0].Err.Error(), "the server's words")
			assert.Contains(t, local.Failed[0].Err.Error(), tc.want)
			assert.Equal(t, idFor(gvkVM, "vms", "pos-1")+": "+local.Failed[0].Err.Error(), local.Failed[0].Error(), "the object named")
		})
	}

	t.Run("a kind an admission policy matches is dry-run", func(t *testing.T) {
		denyBlocked(t, other)
		blocked := func(t *testing.T, vm map[string]any) {
			require.NoError(t, unstructured.SetNestedField(vm, "yes", "metadata", "labels", "blocked"))
		}
		res := refuse(t, blocked, false)
		assert.Contains(t, res.Failed[0].Err.Error(), "VMs labelled blocked are refused", "the policy's verdict: the server saw the VM")
		for _, tc := range cases {
			server := refuse(t, tc.change, true)
			res := refuse(t, tc.change, false)
			assert.Equal(t, int64(len(vms)), vmDryRuns.Load(), "%s: every VM dry-run", tc.name)
			assert.Equal(t, server.Failed[0].Err.Error(), res.Failed[0].Err.Error(), "%s: the server's words", tc.name)
			assert.Contains(t, res.Failed[0].Err.Error(), tc.want, tc.name)
		}
	})

	// The valid fleet goes through on the same terms.
	res, err := rc.Reconcile(ctx, desiredOf(t, loadCluster(t, shopFleet, "shop")), reconciler.Options{Revision: "good", PendingTimeout: 5 * time.Second})
	require.NoError(t, err, "%v", res.Failed)
	assert.Len(t, res.Applied, len(res.Objects))

	t.Run("diff refuses what apply refuses, in the same words", func(t *testing.T) {
		// pos-2 exists (an update: dry-run by the server); pos-1 was deleted by someone (a re-creation:
		// checked by vmo-cue against the CRD).
		require.NoError(t, other.Delete(ctx, getLive(t, other, gvkVM, "vms", "pos-1")))
		vc := loadCluster(t, shopFleet, "shop")
		for _, vm := range vc.VMs {
			if vm.Name == "pos-1" || vm.Name == "pos-2" {
				require.NoError(t, unstructured.SetNestedField(vm.Object, true, "spec", "template", "spec", "domain", "turbo"))
			}
		}
		applied, err := rc.Reconcile(ctx, desiredOf(t, vc), reconciler.Options{Revision: "unknown-field"})
		require.Error(t, err)
		require.Equal(t, []string{idFor(gvkVM, "vms", "pos-1"), idFor(gvkVM, "vms", "pos-2")}, failedIDs(applied.Failed))
		want := map[string]string{
			"pos-1": `VirtualMachine in version "v1" cannot be handled as a VirtualMachine: strict decoding error: unknown field "spec.template.spec.domain.turbo"`,
			"pos-2": `failed to create typed patch object (vms/pos-2; kubevirt.io/v1, Kind=VirtualMachine): .spec.template.spec.domain.turbo: field not declared in schema`,
		}
		for _, f := range applied.Failed {
			assert.Equal(t, want[f.Item.ID.Name], f.Err.Error())
		}
		assert.Nil(t, getLive(t, other, gvkVM, "vms", "pos-1"), "nothing written")

		p, err := rc.Observe(ctx, desiredOf(t, vc))
		require.NoError(t, err)
		var out strings.Builder
		err = livediff.Write(ctx, rc, p.Changes(), &out)
		require.Error(t, err, "diff:\n%s", out.String())
		sort.Slice(applied.Failed, func(i, j int) bool { return applied.Failed[i].Item.ID.String() < applied.Failed[j].Item.ID.String() })
		assert.Equal(t, "the server refused 2 objects, as an apply would: "+applied.Failed[0].Error()+"\n"+applied.Failed[1].Error(), err.Error())
		assert.Empty(t, out.String())
	})
}

// denyBlocked installs a ValidatingAdmissionPolicy (and its binding) refusing VMs labelled blocked,
// and waits until the server enforces it.
func denyBlocked(t *testing.T, c client.Client) {
	t.Helper()
	fail := admissionregistrationv1.Fail
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "deny-blocked-vms"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: &fail,
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{"kubevirt.io"}, APIVersions: []string{"*"}, Resources: []string{"virtualmachines"}},
				},
			}}},
			Validations: []admissionregistrationv1.Validation{{
				Expression: `!has(object.metadata.labels) || !('blocked' in object.metadata.labels)`,
				Message:    "VMs labelled blocked are refused",
			}},
		},
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "deny-blocked-vms"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        policy.Name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
		},
	}
	require.NoError(t, c.Create(t.Context(), policy))
	require.NoError(t, c.Create(t.Context(), binding))
	probe := &unstructured.Unstructured{}
	probe.SetGroupVersionKind(gvkVM)
	probe.SetNamespace("default")
	probe.SetName("policy-probe")
	probe.SetLabels(map[string]string{"blocked": "yes"})
	require.NoError(t, unstructured.SetNestedMap(probe.Object, map[string]any{"spec": map[string]any{"domain": map[string]any{"devices": map[string]any{}}}}, "spec", "template"))
	require.Eventually(t, func() bool {
		err := c.Create(t.Context(), probe.DeepCopy(), client.DryRunAll)
		return err != nil && strings.Contains(err.Error(), "VMs labelled blocked are refused")
	}, 30*time.Second, 100*time.Millisecond, "the server enforces the policy")
}
