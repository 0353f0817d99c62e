package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// buildBase runs vmo-cue build on the base fleet with extra files and returns the objects.
func buildCase(t *testing.T, files map[string]string, cluster string) (int, []map[string]any, string) {
	c := badCase{Files: map[string][]byte{}, BigFiles: map[string]int{}}
	for k, v := range files {
		c.Files[k] = []byte(v)
	}
	dir := setUp(t, c)
	var stdout, stderr bytes.Buffer
	code := run([]string{"build", dir, "--cluster", cluster, "-o", "json"}, &stdout, &stderr)
	if code != 0 {
		return code, nil, stderr.String()
	}
	var list struct{ Items []map[string]any }
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &list))
	return code, list.Items, stderr.String()
}

func kinds(objs []map[string]any) map[string]int {
	out := map[string]int{}
	for _, o := range objs {
		out[o["kind"].(string)]++
	}
	return out
}

func find(objs []map[string]any, kind, name string) map[string]any {
	for _, o := range objs {
		md, _ := o["metadata"].(map[string]any)
		if o["kind"] == kind && md["name"] == name {
			return o
		}
	}
	return nil
}

func TestBuildRendersStackAndVMs(t *testing.T) {
	code, objs, stderr := buildCase(t, nil, "edge-1")
	require.Equal(t, 0, code, stderr)
	k := kinds(objs)
	assert.Equal(t, 1, k["VirtualMachine"])
	assert.Equal(t, 1, k["KubeVirt"])
	assert.Equal(t, 1, k["CDI"])
	assert.Equal(t, 1, k["NetworkAttachmentDefinition"])
	assert.GreaterOrEqual(t, k["CustomResourceDefinition"], 6)
	assert.Equal(t, "CustomResourceDefinition", objs[0]["kind"], "CRDs come first")
	assert.Equal(t, "VirtualMachine", objs[len(objs)-1]["kind"], "VMs come last")

	kv := find(objs, "KubeVirt", "kubevirt")
	require.NotNil(t, kv)
	gates, _ := yamlPath(kv, "spec", "configuration", "developerConfiguration", "featureGates").([]any)
	assert.ElementsMatch(t, []any{"ExpandDisks", "HotplugVolumes", "Snapshot", "VMExport"}, gates,
		"GA gates of v1.6 (LiveMigration, HotplugNICs, VMLiveUpdateFeatures) are not rendered")
	assert.Equal(t, "LiveUpdate", yamlPath(kv, "spec", "configuration", "vmRolloutStrategy"))

	nad := find(objs, "NetworkAttachmentDefinition", "vlan-100")
	require.NotNil(t, nad)
	assert.Contains(t, yamlPath(nad, "spec", "config"), `"vlan":100`)
}

func TestBuildAssignsStableMACs(t *testing.T) {
	vm := strings.Replace(string(mustRead(t, "../../testdata/vet/base/clusters/edge-1/vms/web.yaml")),
		"              macAddress: \"02:00:00:00:01:01\"\n", "", 1)
	files := map[string]string{"clusters/edge-1/vms/web.yaml": vm}
	_, objs1, _ := buildCase(t, files, "edge-1")
	_, objs2, _ := buildCase(t, files, "edge-1")
	mac1 := yamlPath(find(objs1, "VirtualMachine", "web"), "spec", "template", "spec", "domain", "devices", "interfaces", "0", "macAddress")
	mac2 := yamlPath(find(objs2, "VirtualMachine", "web"), "spec", "template", "spec", "domain", "devices", "interfaces", "0", "macAddress")
	require.NotEmpty(t, mac1)
	assert.Equal(t, mac1, mac2, "the derived MAC is the same on every run")
	assert.Regexp(t, `^0[26ae]:`, mac1)
}

func TestBuildSnapshotControllerOff(t *testing.T) {
	files := map[string]string{"clusters/edge-1/backup.cue": "package fleet\n\ncluster: stack: snapshotController: enabled: false\n" +
		"cluster: stack: volumeSnapshotController: classes: rbd: {driver: \"rbd.csi.ceph.com\"}\n"}
	code, objs, stderr := buildCase(t, files, "edge-1")
	require.Equal(t, 0, code, stderr)
	assert.Nil(t, find(objs, "Deployment", "snapshot-controller"))
	assert.NotNil(t, find(objs, "VolumeSnapshotClass", "rbd"))
	assert.NotNil(t, find(objs, "CustomResourceDefinition", "volumesnapshots.snapshot.storage.k8s.io"))
}

func TestBuildRefusesInvalidCluster(t *testing.T) {
	files := map[string]string{"clusters/edge-1/gates.cue": "package fleet\n\ncluster: stack: kubevirt: featureGates: Bogus: true\n"}
	code, objs, stderr := buildCase(t, files, "edge-1")
	assert.Equal(t, 1, code)
	assert.Empty(t, objs)
	assert.Contains(t, stderr, `unknown feature gate "Bogus"`)
	assert.Contains(t, stderr, "cluster edge-1 does not validate: nothing rendered")

	// The other cluster still builds.
	code, _, stderr = buildCase(t, files, "dc-1")
	assert.Equal(t, 0, code, stderr)
}

func TestBuildYAMLStream(t *testing.T) {
	c := badCase{Files: map[string][]byte{}}
	dir := setUp(t, c)
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, run([]string{"build", dir, "--cluster", "dc-1"}, &stdout, &stderr), stderr.String())
	docs := strings.Split(stdout.String(), "\n---\n")
	assert.Greater(t, len(docs), 30)
	var last map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(docs[len(docs)-1]), &last))
	assert.Equal(t, "VirtualMachine", last["kind"])
	assert.Equal(t, "db", yamlPath(last, "metadata", "name"))
	assert.Equal(t, "default", yamlPath(last, "metadata", "namespace"))
}

func TestBuildUsageErrors(t *testing.T) {
	var stdout, stderr bytes.Buffer
	assert.Equal(t, 2, run([]string{"build", "../../testdata/vet/base"}, &stdout, &stderr))
	assert.Contains(t, stderr.String(), "--cluster is required")
	stderr.Reset()
	assert.Equal(t, 2, run([]string{"build", "../../testdata/vet/base", "--cluster", "nope"}, &stdout, &stderr))
	assert.Contains(t, stderr.String(), `cluster "nope": not in the fleet`)
	stderr.Reset()
	assert.Equal(t, 2, run([]string{"vet", "/does/not/exist"}, &stdout, &stderr))
	assert.Contains(t, stderr.String(), "/does/not/exist")
}

func yamlPath(v any, path ...string) any {
	for _, p := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			i := 0
			for _, c := range p {
				i = i*10 + int(c-'0')
			}
			if i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func mustRead(t *testing.T, p string) []byte {
	data, err := os.ReadFile(filepath.FromSlash(p))
	require.NoError(t, err)
	return data
}
