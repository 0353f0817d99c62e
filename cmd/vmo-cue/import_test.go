package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// built runs build and indexes the objects by "Kind namespace/name".
func built(t *testing.T, dir, cluster string) map[string]map[string]any {
	t.Helper()
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, run([]string{"build", dir, "--cluster", cluster, "-o", "json"}, &stdout, &stderr), stderr.String())
	var list struct{ Items []map[string]any }
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &list))
	out := map[string]map[string]any{}
	for _, o := range list.Items {
		md := o["metadata"].(map[string]any)
		ns, _ := md["namespace"].(string)
		out[o["kind"].(string)+" "+ns+"/"+md["name"].(string)] = o
	}
	return out
}

func dig(o map[string]any, path ...string) any {
	var x any = o
	for _, p := range path {
		m, ok := x.(map[string]any)
		if !ok {
			return nil
		}
		x = m[p]
	}
	return x
}

func strs(x any) []string {
	var out []string
	for _, e := range x.([]any) {
		out = append(out, e.(string))
	}
	sort.Strings(out)
	return out
}

func container(o map[string]any) map[string]any {
	cs := dig(o, "spec", "template", "spec", "containers").([]any)
	return cs[0].(map[string]any)
}

func TestImportPalette(t *testing.T) {
	dir := t.TempDir()
	copyDir(t, filepath.Join("..", "..", "testdata", "vet", "base"), dir)
	values := func(name string) string { return filepath.Join("..", "..", "testdata", "palette", name) }
	tests := []struct {
		file, cluster string
		want          []string // on stderr
		check         func(t *testing.T, objs map[string]map[string]any)
	}{
		{file: "vmo-values.yaml", cluster: "imported",
			want: []string{
				`not carried over: vmo-values.yaml:101: charts.virtual-machine-orchestrator.kubevirt.kubevirtResource.additionalFeatureGates.* = "NoSuchGate": no equivalent: KubeVirt v1.5 has no feature gate "NoSuchGate"`,
				`not carried over: vmo-values.yaml:43: charts.virtual-machine-orchestrator.vlanFiltering.image.pullPolicy = "IfNotPresent": Helm-only`,
				`not carried over: vmo-values.yaml:82: charts.virtual-machine-orchestrator.kubevirt.service.type = "LoadBalancer": Helm-only`,
				`not carried over: vmo-values.yaml:105: charts.virtual-machine-orchestrator.kubevirt.kubevirtResource.config.additionalConfig.vmStateStorageClass = "ceph-filesystem": no equivalent: vmo-cue's model has no such setting`,
				`not carried over: vmo-values.yaml:7: pack.content.images.*.image = 2 values (also at line 8): no equivalent: outside charts.virtual-machine-orchestrator`,
			},
			check: func(t *testing.T, objs map[string]map[string]any) {
				kv := objs["KubeVirt kubevirt/kubevirt"]
				// The pack's list less what is GA in v1.5 (always on) and the unknown NoSuchGate.
				assert.Equal(t, []string{"CPUManager", "ExpandDisks", "HotplugVolumes", "Sidecar", "Snapshot", "VMExport"},
					strs(dig(kv, "spec", "configuration", "developerConfiguration", "featureGates")))
				assert.Equal(t, "LiveMigrate", dig(kv, "spec", "configuration", "evictionStrategy"))
				assert.Equal(t, "LiveUpdate", dig(kv, "spec", "configuration", "vmRolloutStrategy"))
				assert.Equal(t, float64(800), dig(kv, "spec", "configuration", "migrations", "completionTimeoutPerGiB"))
				assert.Equal(t, "512Mi", dig(kv, "spec", "configuration", "migrations", "bandwidthPerMigration"))
				assert.Equal(t, float64(5), dig(kv, "spec", "workloadUpdateStrategy", "batchEvictionSize"))
				op := objs["Deployment kubevirt/virt-operator"]
				assert.Equal(t, "registry.example.com/mirror/virt-operator:v1.5.2", container(op)["image"])
				assert.Equal(t, float64(3), dig(op, "spec", "replicas"))
				assert.Equal(t, []string{"HonorWaitForFirstConsumer"}, strs(dig(objs["CDI /cdi"], "spec", "config", "featureGates")))
				assert.Equal(t, "quay.io/kubevirt/cdi-operator:v1.62.0", container(objs["Deployment cdi/cdi-operator"])["image"])
				assert.Contains(t, dig(objs["NetworkAttachmentDefinition default/vlan-120"], "spec", "config"), `"vlan":120`)
				cron := objs["CronJob kube-system/descheduler"]
				require.NotNil(t, cron)
				assert.Equal(t, "*/30 * * * *", dig(cron, "spec", "schedule"))
				assert.Equal(t, float64(2), dig(objs["Deployment kube-system/snapshot-controller"], "spec", "replicas"))
				assert.Equal(t, "rbd.csi.ceph.com", objs["VolumeSnapshotClass /ceph-block-snapshots"]["driver"])
				assert.Equal(t, map[string]any{"bridgeIF": "br0", "allowedVlans": "120,130-132", "allowVlansOnSelf": "true", "allowedVlansOnSelf": "1"},
					objs["ConfigMap kube-system/vlan-filtering"]["data"])
				assert.Equal(t, "registry.example.com/mirror/vlan-filtering/ubuntu:latest", container(objs["DaemonSet kube-system/vlan-filtering"])["image"])
				dash := findKind(objs, "Deployment", "dashboard")
				require.NotNil(t, dash)
				assert.Equal(t, "registry.example.com/mirror/spectro-vm-dashboard:4.7.1", container(dash)["image"])
			}},
		{file: "vmo-values-placeholders.yaml", cluster: "placeholders",
			want: []string{
				`not carried over: vmo-values-placeholders.yaml:15: charts.virtual-machine-orchestrator.kubevirt.image.tag = "${KUBEVIRT_VERSION}": placeholder: Palette fills it in at deploy time`,
				`not carried over: vmo-values-placeholders.yaml:20: charts.virtual-machine-orchestrator.kubevirt.kubevirtResource.additionalFeatureGates.* = "${EXTRA_GATE}": placeholder`,
				`not carried over: vmo-values-placeholders.yaml:22: charts.virtual-machine-orchestrator.kubevirt.kubevirtResource.config.evictionStrategy = "{{.spectro.var.eviction_strategy}}": placeholder`,
				`not carried over: vmo-values-placeholders.yaml:14: charts.virtual-machine-orchestrator.kubevirt.image.repository = "quay.io/kubevirt/virt-operator": placeholder: the image's tag is a placeholder`,
			},
			check: func(t *testing.T, objs map[string]map[string]any) {
				kv := objs["KubeVirt kubevirt/kubevirt"]
				assert.Equal(t, []string{"Snapshot"}, strs(dig(kv, "spec", "configuration", "developerConfiguration", "featureGates")),
					"the pack's list only (LiveMigration is GA): vmo-cue's other default gates off")
				assert.Nil(t, findKind(objs, "CronJob", "descheduler"), "descheduler.enabled: false")
			}},
		{file: "vmo-values-snapshot-off.yaml", cluster: "no-snapshots",
			check: func(t *testing.T, objs map[string]map[string]any) {
				assert.Nil(t, objs["Deployment kube-system/snapshot-controller"], "the snapshot controller is off")
				assert.NotNil(t, objs["CustomResourceDefinition /volumesnapshots.snapshot.storage.k8s.io"], "the VolumeSnapshot API stays")
				assert.Nil(t, findKind(objs, "VolumeSnapshotClass", ""), "create: false: no class")
				assert.NotNil(t, objs["KubeVirt kubevirt/kubevirt"])
			}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run([]string{"import", "palette", values(tt.file), "--cluster", tt.cluster, "--kind", "edge", "-o", dir}, &stdout, &stderr)
			t.Log(stderr.String())
			require.Equal(t, 0, code)
			for _, w := range tt.want {
				assert.Contains(t, stderr.String(), w)
			}
			written, err := os.ReadFile(filepath.Join(dir, "clusters", tt.cluster, "cluster.cue"))
			require.NoError(t, err)
			for _, w := range tt.want {
				assert.Contains(t, string(written), strings.TrimPrefix(w, "not carried over: "), "listed in the file too")
			}
			stderr.Reset()
			require.Equal(t, 0, run([]string{"vet", dir}, &stdout, &stderr), "the imported cluster vets:\n%s", stderr.String())
			tt.check(t, built(t, dir, tt.cluster))

			// Never overwritten.
			assert.Equal(t, 2, run([]string{"import", "palette", values(tt.file), "--cluster", tt.cluster, "-o", dir}, &stdout, &stderr))
		})
	}
}

func findKind(objs map[string]map[string]any, kind, nameHas string) map[string]any {
	for k, o := range objs {
		if strings.HasPrefix(k, kind+" ") && strings.Contains(k, nameHas) {
			return o
		}
	}
	return nil
}

func TestImportPaletteCarriesEveryValue(t *testing.T) {
	// Every scalar of the full values file is either named in a "from" comment or listed as not
	// carried over: count them.
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "palette", "vmo-values.yaml"))
	require.NoError(t, err)
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, run([]string{"import", "palette", filepath.Join("..", "..", "testdata", "palette", "vmo-values.yaml"), "--cluster", "all", "-o", dir}, &stdout, &stderr))
	written, err := os.ReadFile(filepath.Join(dir, "clusters", "all", "cluster.cue"))
	require.NoError(t, err)
	for i, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") || strings.HasSuffix(trimmed, ":") ||
			strings.HasSuffix(trimmed, "{}") || strings.HasSuffix(trimmed, "[]") {
			continue // comments, keys of mappings and empty values hold no value
		}
		ref := "vmo-values.yaml:" + strconv.Itoa(i+1)
		also := regexp.MustCompile(`also at lines? [0-9, ]*\b` + strconv.Itoa(i+1) + `\b`)
		assert.True(t, strings.Contains(string(written), ref+")") || strings.Contains(string(written), ref+":") || also.MatchString(string(written)),
			"line %d (%s): neither carried over nor listed", i+1, trimmed)
	}
}

func TestImportPaletteRefuses(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--cluster", "Bad_Name"}, "vmo-cue: --cluster Bad_Name: want a DNS-1123 label (lower-case letters, digits, '-')"},
		{[]string{"--cluster", "ok", "--kind", "cloud"}, "vmo-cue: --kind cloud: want edge or datacenter"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		args := append([]string{"import", "palette", filepath.Join("..", "..", "testdata", "palette", "vmo-values.yaml"), "-o", t.TempDir()}, tt.args...)
		assert.Equal(t, 2, run(args, &stdout, &stderr))
		assert.Equal(t, tt.want+"\n", stderr.String())
	}
	other := filepath.Join(t.TempDir(), "values.yaml")
	require.NoError(t, os.WriteFile(other, []byte("replicaCount: 1\n"), 0o644))
	var stdout, stderr bytes.Buffer
	assert.Equal(t, 2, run([]string{"import", "palette", other, "--cluster", "x", "-o", t.TempDir()}, &stdout, &stderr))
	assert.Equal(t, "vmo-cue: values.yaml: no charts.virtual-machine-orchestrator: not the values of Palette's VMO pack\n", stderr.String())
}

func TestImportPaletteTemplate(t *testing.T) {
	dir := t.TempDir()
	copyDir(t, filepath.Join("..", "..", "testdata", "vet", "base"), dir)
	out := filepath.Join(dir, "clusters", "edge-1", "templates.yaml")
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, run([]string{"import", "palette-template", filepath.Join("..", "..", "testdata", "palette", "vmtemplates.yaml"), "-o", out}, &stdout, &stderr))
	assert.Equal(t, `vmtemplates.yaml:9: VmTemplate ubuntu-2404: left out metadata.uid: written by the cluster, never declared
vmtemplates.yaml:11: VmTemplate ubuntu-2404: left out spec.description: template-only: the template's description in Palette's catalogue
vmtemplates.yaml:12: VmTemplate ubuntu-2404: left out spec.displayName: template-only: the template's name in Palette's catalogue
vmtemplates.yaml:13: VmTemplate ubuntu-2404: left out spec.icon: template-only: the template's icon in Palette's catalogue
vmtemplates.yaml:58: VmTemplate fedora-small: left out spec.displayName: template-only: the template's name in Palette's catalogue
vmtemplates.yaml:75: VmTemplate fedora-small: left out status: written by the cluster, never declared
`, stderr.String())
	stderr.Reset()
	require.Equal(t, 0, run([]string{"vet", dir}, &stdout, &stderr), "the imported VMs vet:\n%s", stderr.String())
	objs := built(t, dir, "edge-1")
	vm := objs["VirtualMachine virtual-machines/ubuntu-2404"]
	require.NotNil(t, vm)
	assert.Equal(t, "Halted", dig(vm, "spec", "runStrategy"))
	assert.Equal(t, "ubuntu-2404-root", dig(vm, "spec", "dataVolumeTemplates").([]any)[0].(map[string]any)["metadata"].(map[string]any)["name"])
	assert.Nil(t, dig(vm, "spec", "displayName"))
	assert.NotNil(t, objs["VirtualMachine default/fedora-small"])

	// A file that is not a template, and an existing output.
	assert.Equal(t, 2, run([]string{"import", "palette-template", filepath.Join("..", "..", "testdata", "palette", "vmo-values.yaml")}, &stdout, &stderr))
	assert.Contains(t, stderr.String(), "vmo-cue: vmo-values.yaml:3: <nil> <nil>: not a Palette VM template (apiVersion spectrocloud.com/v1, kind VmTemplate)")
	stderr.Reset()
	assert.Equal(t, 2, run([]string{"import", "palette-template", filepath.Join("..", "..", "testdata", "palette", "vmtemplates.yaml"), "-o", out}, &stdout, &stderr))
	assert.Contains(t, stderr.String(), "file exists")
}
