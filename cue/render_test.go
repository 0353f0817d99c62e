package render_test

import (
	"encoding/json"
	"strings"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/load"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// object is a rendered object as Go reads it.
type object = map[string]any

// clusterScoped are the kinds rendered without a namespace.
var clusterScoped = map[string]bool{
	"Namespace": true, "PriorityClass": true, "ClusterRole": true, "ClusterRoleBinding": true,
	"CDI": true, "VolumeSnapshotClass": true,
}

// loadPackages loads the render package and the schemas package (for Defaults) from this tree.
func loadPackages(t *testing.T) (renderDef, defaults cue.Value) {
	t.Helper()
	ctx := cuecontext.New()
	insts := load.Instances([]string{".", "../schemas"}, &load.Config{Dir: "."})
	require.Len(t, insts, 2)
	vals, err := ctx.BuildInstances(insts)
	require.NoError(t, err)
	renderDef = vals[0].LookupPath(cue.ParsePath("#Render"))
	require.NoError(t, renderDef.Err())
	defaults = vals[1].LookupPath(cue.ParsePath("Defaults"))
	require.NoError(t, defaults.Err())
	return renderDef, defaults
}

// defaultStack returns schemas.Defaults as plain Go data (decoded as the Go side decodes it), ready
// to be changed by a test case the way a fleet's or a cluster's settings would change it.
func defaultStack(t *testing.T, defaults cue.Value) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, defaults.Decode(&m))
	// The Go side gives every enabled component its operator image (from schemas.Images); do the same.
	for comp, c := range m {
		if cm, ok := c.(map[string]any); ok && comp != "volumeSnapshotController" {
			op, _ := cm["operator"].(map[string]any)
			if op == nil {
				op = map[string]any{}
				cm["operator"] = op
			}
			op["image"] = "registry.example/" + strings.ToLower(comp) + ":v1"
		}
	}
	return m
}

// render fills #Render as the Go side does (the stack as plain Go data) and returns its objects.
func render(t *testing.T, def cue.Value, stack map[string]any, kubevirtGates, cdiGates []string) []object {
	t.Helper()
	v := def.
		FillPath(cue.ParsePath("cluster"), map[string]any{
			"name": "edge-1", "kind": "edge", "labels": map[string]string{"site": "lab"},
		}).
		FillPath(cue.ParsePath("stack"), stack).
		FillPath(cue.ParsePath("kubevirtGates"), kubevirtGates).
		FillPath(cue.ParsePath("cdiGates"), cdiGates)
	require.NoError(t, v.Validate(cue.Concrete(true)), "validate #Render")
	b, err := v.LookupPath(cue.ParsePath("objects")).MarshalJSON()
	require.NoError(t, err)
	var objs []object
	require.NoError(t, json.Unmarshal(b, &objs))
	return objs
}

func find(objs []object, kind, name string) object {
	for _, o := range objs {
		if o["kind"] == kind && meta(o)["name"] == name {
			return o
		}
	}
	return nil
}

func ofKind(objs []object, kind string) []object {
	var out []object
	for _, o := range objs {
		if o["kind"] == kind {
			out = append(out, o)
		}
	}
	return out
}

func meta(o object) map[string]any { m, _ := o["metadata"].(map[string]any); return m }

// path walks nested maps.
func path(o object, keys ...string) any {
	var cur any = o
	for _, k := range keys {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

func set(m map[string]any, value any, keys ...string) {
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[keys[len(keys)-1]] = value
}

func TestRender(t *testing.T) {
	def, defaults := loadPackages(t)

	tests := []struct {
		name          string
		change        func(stack map[string]any)
		kubevirtGates []string
		cdiGates      []string
		check         func(t *testing.T, objs []object)
	}{
		{
			name:          "defaults",
			kubevirtGates: []string{"Snapshot", "HotplugVolumes", "ExpandDisks"},
			cdiGates:      []string{"HonorWaitForFirstConsumer"},
			check: func(t *testing.T, objs []object) {
				assert.Len(t, objs, 40)
				kv := find(objs, "KubeVirt", "kubevirt")
				require.NotNil(t, kv)
				assert.Equal(t, "kubevirt.io/v1", kv["apiVersion"])
				assert.Equal(t, "kubevirt", meta(kv)["namespace"])
				assert.Equal(t, []any{"Snapshot", "HotplugVolumes", "ExpandDisks"},
					path(kv, "spec", "configuration", "developerConfiguration", "featureGates"))
				assert.Equal(t, "LiveMigrate", path(kv, "spec", "configuration", "evictionStrategy"))
				assert.Equal(t, "LiveUpdate", path(kv, "spec", "configuration", "vmRolloutStrategy"))
				assert.Equal(t, []any{"LiveMigrate"}, path(kv, "spec", "workloadUpdateStrategy", "workloadUpdateMethods"))
				assert.EqualValues(t, 5, path(kv, "spec", "configuration", "migrations", "parallelMigrationsPerCluster"))
				assert.EqualValues(t, 4, path(kv, "spec", "configuration", "liveUpdateConfiguration", "maxHotplugRatio"))
				// unset optional fields are not rendered
				assert.Nil(t, path(kv, "spec", "configuration", "migrations", "bandwidthPerMigration"))
				assert.Nil(t, path(kv, "spec", "workloadUpdateStrategy", "batchEvictionSize"))

				cdi := find(objs, "CDI", "cdi")
				require.NotNil(t, cdi)
				assert.Equal(t, []any{"HonorWaitForFirstConsumer"}, path(cdi, "spec", "config", "featureGates"))
				assert.Equal(t, "0.055", path(cdi, "spec", "config", "filesystemOverhead", "global"))

				op := find(objs, "Deployment", "virt-operator")
				require.NotNil(t, op)
				assert.EqualValues(t, 2, path(op, "spec", "replicas"))
				ns := find(objs, "Namespace", "kubevirt")
				require.NotNil(t, ns)
				assert.Equal(t, "privileged", path(ns, "metadata", "labels", "pod-security.kubernetes.io/enforce"))
				assert.Equal(t, "", path(ns, "metadata", "labels", "kubevirt.io"))

				assert.NotNil(t, find(objs, "Deployment", "snapshot-controller"))
				assert.NotNil(t, find(objs, "DaemonSet", "kube-multus-ds"))
				assert.NotNil(t, find(objs, "CronJob", "descheduler"))
				assert.NotNil(t, find(objs, "Service", "vm-dashboard"))
				assert.Empty(t, ofKind(objs, "NetworkAttachmentDefinition"))
				assert.Empty(t, ofKind(objs, "VolumeSnapshotClass"))
				assert.Empty(t, ofKind(objs, "CustomResourceDefinition"))

				pol, _ := path(find(objs, "ConfigMap", "descheduler-policy"), "data", "policy.yaml").(string)
				assert.Contains(t, pol, "kind: DeschedulerPolicy")
				assert.Contains(t, pol, "node.kubernetes.io/unschedulable")
				assert.Contains(t, pol, "LowNodeUtilization")
				assert.Contains(t, pol, "evictLocalStoragePods: true")
				assert.NotContains(t, pol, "virt-launcher", "evictVMs is on by default")
			},
		},
		{
			name: "snapshot controller off keeps the VolumeSnapshotClasses",
			change: func(s map[string]any) {
				set(s, false, "snapshotController", "enabled")
				set(s, map[string]any{
					"csi-rbd": map[string]any{"driver": "rbd.csi.ceph.com", "default": true, "parameters": map[string]any{"clusterID": "c1"}},
					"local":   map[string]any{"driver": "lvm.csi.example.com", "deletionPolicy": "Retain"},
				}, "volumeSnapshotController", "classes")
			},
			check: func(t *testing.T, objs []object) {
				assert.Nil(t, find(objs, "Deployment", "snapshot-controller"))
				assert.Nil(t, find(objs, "ServiceAccount", "snapshot-controller"))
				require.Len(t, ofKind(objs, "VolumeSnapshotClass"), 2)
				rbd := find(objs, "VolumeSnapshotClass", "csi-rbd")
				require.NotNil(t, rbd)
				assert.Equal(t, "snapshot.storage.k8s.io/v1", rbd["apiVersion"])
				assert.Equal(t, "rbd.csi.ceph.com", rbd["driver"])
				assert.Equal(t, "Delete", rbd["deletionPolicy"])
				assert.Equal(t, "true", path(rbd, "metadata", "annotations", "snapshot.storage.kubernetes.io/is-default-class"))
				assert.Equal(t, map[string]any{"clusterID": "c1"}, rbd["parameters"])
				local := find(objs, "VolumeSnapshotClass", "local")
				require.NotNil(t, local)
				assert.Equal(t, "Retain", local["deletionPolicy"])
				assert.Nil(t, path(local, "metadata", "annotations"))
			},
		},
		{
			name: "multus VLAN network",
			change: func(s map[string]any) {
				set(s, map[string]any{
					"vlan100": map[string]any{"vlan": 100},
					"storage": map[string]any{"vlan": 200, "namespace": "vms", "bridge": "br1", "mtu": 9000,
						"ipam": map[string]any{"type": "whereabouts", "range": "10.0.0.0/24"}},
				}, "multus", "networks")
			},
			check: func(t *testing.T, objs []object) {
				nads := ofKind(objs, "NetworkAttachmentDefinition")
				require.Len(t, nads, 2)
				// NADs come after the DaemonSet
				dsAt, nadAt := -1, -1
				for i, o := range objs {
					if o["kind"] == "DaemonSet" {
						dsAt = i
					}
					if o["kind"] == "NetworkAttachmentDefinition" && nadAt < 0 {
						nadAt = i
					}
				}
				assert.Less(t, dsAt, nadAt)

				nad := find(objs, "NetworkAttachmentDefinition", "vlan100")
				require.NotNil(t, nad)
				assert.Equal(t, "k8s.cni.cncf.io/v1", nad["apiVersion"])
				assert.Equal(t, "default", meta(nad)["namespace"])
				cfg, ok := path(nad, "spec", "config").(string)
				require.True(t, ok, "spec.config is a JSON string")
				assert.Contains(t, cfg, `"vlan":100`)
				assert.Contains(t, cfg, `"type":"bridge"`)
				assert.Equal(t, `{"cniVersion":"0.3.1","name":"vlan100","type":"bridge","bridge":"br0","vlan":100}`, cfg)

				st := find(objs, "NetworkAttachmentDefinition", "storage")
				require.NotNil(t, st)
				assert.Equal(t, "vms", meta(st)["namespace"])
				var c map[string]any
				require.NoError(t, json.Unmarshal([]byte(path(st, "spec", "config").(string)), &c))
				assert.Equal(t, "br1", c["bridge"])
				assert.EqualValues(t, 200, c["vlan"])
				assert.EqualValues(t, 9000, c["mtu"])
				assert.Equal(t, "whereabouts", path(c, "ipam", "type"))
			},
		},
		{
			name: "optional KubeVirt settings",
			change: func(s map[string]any) {
				set(s, "64Mi", "kubevirt", "migrations", "bandwidthPerMigration")
				set(s, true, "kubevirt", "migrations", "unsafeMigrationOverride")
				set(s, 8, "kubevirt", "liveUpdate", "maxCpuSockets")
				set(s, "128Gi", "kubevirt", "liveUpdate", "maxGuest")
				set(s, map[string]any{"batchEvictionSize": 10, "batchEvictionInterval": "1m0s"}, "kubevirt", "workloadUpdate")
				set(s, map[string]any{"ceph-rbd": "0.1"}, "cdi", "filesystemOverhead", "storageClass")
				set(s, 3, "kubevirt", "operator", "replicas")
			},
			kubevirtGates: []string{},
			check: func(t *testing.T, objs []object) {
				kv := find(objs, "KubeVirt", "kubevirt")
				require.NotNil(t, kv)
				assert.Equal(t, []any{}, path(kv, "spec", "configuration", "developerConfiguration", "featureGates"))
				assert.Equal(t, "64Mi", path(kv, "spec", "configuration", "migrations", "bandwidthPerMigration"))
				assert.Equal(t, true, path(kv, "spec", "configuration", "migrations", "unsafeMigrationOverride"))
				assert.EqualValues(t, 8, path(kv, "spec", "configuration", "liveUpdateConfiguration", "maxCpuSockets"))
				assert.Equal(t, "128Gi", path(kv, "spec", "configuration", "liveUpdateConfiguration", "maxGuest"))
				assert.EqualValues(t, 10, path(kv, "spec", "workloadUpdateStrategy", "batchEvictionSize"))
				assert.Equal(t, "1m0s", path(kv, "spec", "workloadUpdateStrategy", "batchEvictionInterval"))
				assert.EqualValues(t, 3, path(find(objs, "Deployment", "virt-operator"), "spec", "replicas"))
				assert.Equal(t, "0.1", path(find(objs, "CDI", "cdi"), "spec", "config", "filesystemOverhead", "storageClass", "ceph-rbd"))
			},
		},
		{
			name: "descheduler without VMs and without the taint plugin",
			change: func(s map[string]any) {
				set(s, false, "descheduler", "policy", "evictVMs")
				set(s, false, "descheduler", "policy", "removePodsViolatingNodeTaints")
				set(s, "0 * * * *", "descheduler", "schedule")
			},
			check: func(t *testing.T, objs []object) {
				cj := find(objs, "CronJob", "descheduler")
				require.NotNil(t, cj)
				assert.Equal(t, "0 * * * *", path(cj, "spec", "schedule"))
				pol, _ := path(find(objs, "ConfigMap", "descheduler-policy"), "data", "policy.yaml").(string)
				assert.Contains(t, pol, "virt-launcher")
				assert.NotContains(t, pol, "RemovePodsViolatingNodeTaints")
				assert.Contains(t, pol, "LowNodeUtilization")
			},
		},
		{
			name: "everything off",
			change: func(s map[string]any) {
				for _, c := range []string{"kubevirt", "cdi", "multus", "descheduler", "snapshotController", "volumeSnapshotController", "dashboard"} {
					set(s, false, c, "enabled")
				}
			},
			check: func(t *testing.T, objs []object) {
				assert.Empty(t, objs)
			},
		},
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stack := defaultStack(t, defaults)
			if tc.change != nil {
				tc.change(stack)
			}
			kvGates, cdiGates := tc.kubevirtGates, tc.cdiGates
			if kvGates == nil {
				kvGates = []string{"Snapshot"}
			}
			if cdiGates == nil {
				cdiGates = []string{"HonorWaitForFirstConsumer"}
			}
			objs := render(t, def, stack, kvGates, cdiGates)

			// invariants of every object
			for i, o := range objs {
				md := meta(o)
				require.NotNil(t, md, "object %d has metadata", i)
				name, _ := md["name"].(string)
				assert.NotEmpty(t, o["apiVersion"], "object %d (%v) apiVersion", i, name)
				assert.NotEmpty(t, o["kind"], "object %d (%v) kind", i, name)
				assert.NotEmpty(t, name, "object %d (%v) metadata.name", i, o["kind"])
				labels, _ := md["labels"].(map[string]any)
				assert.NotContains(t, labels, "app.kubernetes.io/managed-by", "%v %v: vmo-cue's marks are vmo-cue.dev/ labels", o["kind"], name)
				assert.Equal(t, "vmo", labels["app.kubernetes.io/part-of"], "%v %v", o["kind"], name)
				assert.NotEmpty(t, labels["vmo-cue.dev/component"], "%v %v", o["kind"], name)
				assert.Equal(t, "edge-1", labels["vmo-cue.dev/cluster"], "%v %v", o["kind"], name)
				kind, _ := o["kind"].(string)
				if clusterScoped[kind] {
					assert.NotContains(t, md, "namespace", "%v %v is cluster-scoped", kind, name)
				} else {
					assert.NotEmpty(t, md["namespace"], "%v %v is namespaced", kind, name)
				}
			}
			tc.check(t, objs)
		})
	}
}

// TestComponentLabel checks that each object carries the key of the component it belongs to.
func TestComponentLabel(t *testing.T) {
	def, defaults := loadPackages(t)
	objs := render(t, def, defaultStack(t, defaults), []string{}, []string{})
	tests := []struct{ kind, name, component string }{
		{"Namespace", "kubevirt", "kubevirt"},
		{"KubeVirt", "kubevirt", "kubevirt"},
		{"CDI", "cdi", "cdi"},
		{"DaemonSet", "kube-multus-ds", "multus"},
		{"CronJob", "descheduler", "descheduler"},
		{"Deployment", "snapshot-controller", "snapshotController"},
		{"Deployment", "vm-dashboard", "dashboard"},
	}
	for _, tc := range tests {
		t.Run(tc.kind+"/"+tc.name, func(t *testing.T) {
			o := find(objs, tc.kind, tc.name)
			require.NotNil(t, o)
			assert.Equal(t, tc.component, path(o, "metadata", "labels", "vmo-cue.dev/component"))
		})
	}
}
