package validate_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/vmo-cue/vmo-cue/internal/desired"
	"github.com/vmo-cue/vmo-cue/internal/testcluster"
	"github.com/vmo-cue/vmo-cue/internal/testfleet"
	"github.com/vmo-cue/vmo-cue/schemas/crds"
)

// baseVM is a valid VM of every supported KubeVirt release; the cases below change one thing in it.
// Its line numbers are what the findings point at.
const baseVM = `apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: web
  namespace: default
spec:
  runStrategy: Always
  template:
    spec:
      domain:
        cpu: {sockets: 1}
        memory: {guest: 1Gi}
        devices:
          disks:
            - name: root
              disk: {bus: virtio}
          interfaces:
            - name: default
              masquerade: {}
      networks:
        - name: default
          pod: {}
      volumes:
        - name: root
          containerDisk: {image: quay.io/containerdisks/fedora:40}
`

// mutate replaces old (which must occur once) in the base VM.
func mutate(t *testing.T, old, new string) string {
	t.Helper()
	require.Equal(t, 1, strings.Count(baseVM, old), "%q must occur once", old)
	return strings.Replace(baseVM, old, new, 1)
}

// vetVM writes the VM into a copy of testdata/vet/base whose cluster edge-1 declares that KubeVirt
// version, runs the whole of vet on it (desired.Load) and returns its errors as
// "file:line: path: message".
func vetVM(t *testing.T, kubevirt, vm string) []string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, testfleet.CopyDir(filepath.Join("..", "..", "testdata", "vet", "base"), dir))
	require.NoError(t, os.RemoveAll(filepath.Join(dir, "clusters", "dc-1")))
	// The gates the release-specific features need (gatedfeatures.go): this test is about the schema.
	gates := "WorkloadEncryptionSEV: true"
	if strings.HasPrefix(kubevirt, "v1.8") {
		gates += ", PasstBinding: true, ContainerPathVolumes: true"
	}
	cluster := fmt.Sprintf("package fleet\n\ncluster: {\n\tname: \"edge-1\"\n\tkind: \"edge\"\n\tstack: kubevirt: {version: %q, featureGates: {%s}}\n}\n", kubevirt, gates)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "clusters", "edge-1", "cluster.cue"), []byte(cluster), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "clusters", "edge-1", "vms", "web.yaml"), []byte(vm), 0o644))
	r, err := desired.Load(dir, desired.Options{})
	require.NoError(t, err)
	var out []string
	for _, d := range r.All().Errors() {
		pos := ""
		if len(d.Positions) > 0 {
			pos = fmt.Sprintf("%s:%d: ", d.Positions[0].File, d.Positions[0].Line)
		}
		out = append(out, pos+d.Path+": "+d.Message)
	}
	return out
}

var vmResource = schema.GroupVersionResource{Group: "kubevirt.io", Version: "v1", Resource: "virtualmachines"}

// serverRefuses dry-runs the VM's creation with strict field validation, as the reconciler does before
// it writes, and returns the API server's error ("" when it accepts the VM).
func serverRefuses(t *testing.T, client dynamic.Interface, vm string) string {
	t.Helper()
	var obj map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(vm), &obj))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := client.Resource(vmResource).Namespace("default").Create(ctx, &unstructured.Unstructured{Object: obj},
		metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: metav1.FieldValidationStrict})
	if err == nil {
		return ""
	}
	return err.Error()
}

// repeat makes n list items from a format with one %d.
func repeat(n int, format string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, format, i)
	}
	return b.String()
}

// TestRealCRDs holds vet to what the real KubeVirt CRDs refuse: each bad VM is refused by vet, at
// its line and with the rule the CRD has, and by a real API server carrying that release's CRDs (as
// virt-operator creates them); each VM using fields of one release passes vet and the server on that
// release and fails both on an older one.
func TestRealCRDs(t *testing.T) {
	clusters := map[string]string{"kv16": "v1.6.3", "kv17": "v1.7.0", "kv18": "v1.8.1"}
	opts := testcluster.Options{Names: []string{"kv16", "kv17", "kv18"}, ClusterCRDs: map[string][]*apiextensionsv1.CustomResourceDefinition{}}
	for name, version := range clusters {
		list, err := crds.For(crds.Versions{KubeVirt: version})
		require.NoError(t, err)
		for _, c := range list {
			if c.Spec.Names.Kind == "VirtualMachine" { // all this test needs: the start stays short
				opts.ClusterCRDs[name] = append(opts.ClusterCRDs[name], c)
			}
		}
	}
	env := testcluster.StartWith(t, opts)
	clients := map[string]dynamic.Interface{}
	for name := range clusters {
		c, err := dynamic.NewForConfig(env.Cluster(name).Config())
		require.NoError(t, err)
		clients[name] = c
	}
	const file = "clusters/edge-1/vms/web.yaml"

	t.Run("ten violations of the v1.7 CRD", func(t *testing.T) {
		tests := []struct {
			name, vm string
			vet      string // the finding, "line: path: message"
			server   string // a fragment of the API server's refusal
		}{
			{"required field of a volume source", mutate(t, "containerDisk: {image: quay.io/containerdisks/fedora:40}", "containerDisk: {imagePullPolicy: Always}"),
				"25: vms.web.spec.template.spec.volumes.0.containerDisk.image: field is required but not present",
				`spec.template.spec.volumes[0].containerDisk.image: Required value`},
			{"required field of a topology spread constraint", mutate(t, "      networks:\n", "      topologySpreadConstraints:\n        - {topologyKey: zone, whenUnsatisfiable: DoNotSchedule}\n      networks:\n"),
				"21: vms.web.spec.template.spec.topologySpreadConstraints.0.maxSkew: field is required but not present",
				`spec.template.spec.topologySpreadConstraints[0].maxSkew: Required value`},
			{"list-map key given twice", mutate(t, "      networks:\n", "      topologySpreadConstraints:\n        - {maxSkew: 1, topologyKey: zone, whenUnsatisfiable: DoNotSchedule}\n        - {maxSkew: 2, topologyKey: zone, whenUnsatisfiable: DoNotSchedule}\n      networks:\n"),
				`22: vms.web.spec.template.spec.topologySpreadConstraints.1: duplicate entry with key topologyKey="zone",whenUnsatisfiable="DoNotSchedule": item 0 has it too (x-kubernetes-list-type: map)`,
				`Duplicate value: {"topologyKey":"zone","whenUnsatisfiable":"DoNotSchedule"}`},
			{"resource claim named twice", mutate(t, "      networks:\n", "      resourceClaims:\n        - {name: gpu}\n        - {name: gpu}\n      networks:\n"),
				`22: vms.web.spec.template.spec.resourceClaims.1: duplicate entry with key name="gpu": item 0 has it too (x-kubernetes-list-type: map)`,
				`Duplicate value: {"name":"gpu"}`},
			{"enum", mutate(t, "spec:\n  runStrategy: Always\n", "spec:\n  runStrategy: Always\n  dataVolumeTemplates:\n    - metadata: {name: root}\n      spec:\n        contentType: iso\n        source: {blank: {}}\n        storage: {resources: {requests: {storage: 1Gi}}}\n"),
				`11: vms.web.spec.dataVolumeTemplates.0.spec.contentType: invalid value "iso" (must be one of "kubevirt", "archive")`,
				`Unsupported value: "iso"`},
			{"more than 256 volumes", mutate(t, "      volumes:\n        - name: root\n          containerDisk: {image: quay.io/containerdisks/fedora:40}\n",
				"      volumes:\n        - name: root\n          containerDisk: {image: quay.io/containerdisks/fedora:40}\n"+repeat(256, "        - {name: extra-%d, emptyDisk: {capacity: 1Gi}}\n")),
				"23: vms.web.spec.template.spec.volumes: invalid value [...] (does not satisfy list.MaxItems(256)): 257 items",
				`must have at most 256 items`},
			{"quantity syntax", mutate(t, "memory: {guest: 1Gi}", "memory: {guest: 1GB}"),
				`12: vms.web.spec.template.spec.domain.memory.guest: invalid value "1GB" (out of bound =~"^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$")`,
				`spec.template.spec.domain.memory.guest: Invalid value: "1GB"`},
			{"httpGet.protocol, newer than KubeVirt's Kubernetes types", mutate(t, "      networks:\n", "      readinessProbe:\n        httpGet: {port: 80, protocol: HTTP}\n      networks:\n"),
				"21: vms.web.spec.template.spec.readinessProbe.httpGet.protocol: field not allowed",
				`unknown field "spec.template.spec.readinessProbe.httpGet.protocol"`},
			{"downwardAPI.fields[].user, newer than KubeVirt's Kubernetes types", mutate(t, "      volumes:\n", "      volumes:\n        - name: info\n          downwardAPI:\n            fields:\n              - {path: labels, user: {}, fieldRef: {fieldPath: metadata.labels}}\n"),
				"27: vms.web.spec.template.spec.volumes.0.downwardAPI.fields.0.user: field not allowed",
				`unknown field "spec.template.spec.volumes[0].downwardAPI.fields[0].user"`},
			{"a set's value given twice", mutate(t, "      networks:\n", "      accessCredentials:\n        - sshPublicKey:\n            source: {secret: {secretName: keys}}\n            propagationMethod: {qemuGuestAgent: {users: [fedora, fedora]}}\n      networks:\n"),
				`23: vms.web.spec.template.spec.accessCredentials.0.sshPublicKey.propagationMethod.qemuGuestAgent.users.1: duplicate entry with value "fedora": item 0 has it too (x-kubernetes-list-type: set)`,
				`Duplicate value: "fedora"`},
		}
		require.Len(t, tests, 10)
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				assert.Equal(t, []string{file + ":" + tc.vet}, vetVM(t, "v1.7.0", tc.vm))
				assert.Contains(t, serverRefuses(t, clients["kv17"], tc.vm), tc.server)
			})
		}
		// The base VM itself is fine everywhere.
		for name, version := range clusters {
			assert.Empty(t, vetVM(t, version, baseVM), version)
			assert.Empty(t, serverRefuses(t, clients[name], baseVM), version)
		}
	})

	t.Run("fields of one release", func(t *testing.T) {
		passt := mutate(t, "              masquerade: {}", "              passtBinding: {}")
		containerPath := mutate(t, "      volumes:\n", "      volumes:\n        - name: certs\n          containerPath: {path: /etc/pki}\n")
		snp := mutate(t, "        memory: {guest: 1Gi}\n", "        memory: {guest: 1Gi}\n        launchSecurity: {snp: {}}\n")
		relative := mutate(t, "      volumes:\n", "      volumes:\n        - name: certs\n          containerPath: {path: etc/pki}\n")
		tests := []struct {
			name, vm, cluster string
			vet, server       string // "" when both accept it
		}{
			{"passtBinding on v1.8", passt, "kv18", "", ""},
			{"passtBinding on v1.7", passt, "kv17", "19: vms.web.spec.template.spec.domain.devices.interfaces.0.passtBinding: field not allowed",
				`unknown field "spec.template.spec.domain.devices.interfaces[0].passtBinding"`},
			{"passtBinding on v1.6", passt, "kv16", "19: vms.web.spec.template.spec.domain.devices.interfaces.0.passtBinding: field not allowed",
				`unknown field "spec.template.spec.domain.devices.interfaces[0].passtBinding"`},
			{"containerPath on v1.8", containerPath, "kv18", "", ""},
			{"containerPath on v1.6", containerPath, "kv16", "25: vms.web.spec.template.spec.volumes.0.containerPath: field not allowed",
				`unknown field "spec.template.spec.volumes[0].containerPath"`},
			{"a relative containerPath on v1.8", relative, "kv18",
				`25: vms.web.spec.template.spec.volumes.0.containerPath.path: path must be absolute (start with '/') (rule "self.startsWith('/')")`,
				`path must be absolute`},
			{"launchSecurity.snp on v1.7", snp, "kv17", "", ""},
			{"launchSecurity.snp on v1.6", snp, "kv16", "13: vms.web.spec.template.spec.domain.launchSecurity.snp: field not allowed",
				`unknown field "spec.template.spec.domain.launchSecurity.snp"`},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				var want []string
				if tc.vet != "" {
					want = []string{file + ":" + tc.vet}
				}
				assert.Equal(t, want, vetVM(t, clusters[tc.cluster], tc.vm))
				got := serverRefuses(t, clients[tc.cluster], tc.vm)
				if tc.server == "" {
					assert.Empty(t, got)
				} else {
					assert.Contains(t, got, tc.server)
				}
			})
		}
	})
}
