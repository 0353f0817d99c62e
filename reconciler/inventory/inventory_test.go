package inventory

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

func TestIDString(t *testing.T) {
	for _, tc := range []struct {
		id       ID
		str, key string
	}{
		{ID{Group: "kubevirt.io", Version: "v1", Kind: "VirtualMachine", Namespace: "shop", Name: "web"},
			"VirtualMachine.kubevirt.io shop/web", "kubevirt.io/VirtualMachine/shop/web"},
		{ID{Version: "v1", Kind: "Namespace", Name: "shop"}, "Namespace shop", "/Namespace//shop"},
		{ID{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole", Name: "kubevirt.io:operator"},
			"ClusterRole.rbac.authorization.k8s.io kubevirt.io:operator", "rbac.authorization.k8s.io/ClusterRole//kubevirt.io:operator"},
		// A name from the cluster with a control byte is quoted, never printed raw.
		{ID{Version: "v1", Kind: "ConfigMap", Namespace: "a", Name: "x\x1b[2Jy"}, `ConfigMap "a/x\x1b[2Jy"`, "/ConfigMap/a/x\x1b[2Jy"},
	} {
		assert.Equal(t, tc.str, tc.id.String())
		assert.Equal(t, tc.key, tc.id.Key())
		other := tc.id
		other.Version = "v1beta1"
		assert.Equal(t, tc.id.Key(), other.Key(), "the key leaves the version out")
	}
}

func TestEncodeDecode(t *testing.T) {
	applied := time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)
	inv := &Inventory{Fleet: "retail", Cluster: "edge-1", Revision: "main@sha1:abc", Applied: applied,
		Entries: []Entry{
			{ID: ID{Group: "kubevirt.io", Version: "v1", Kind: "VirtualMachine", Namespace: "shop", Name: "web"}, DesiredHash: "d1", FieldsHash: "f1", FieldsRef: "r1", UID: "u1",
				MACs: map[string]string{"vlan": "02:00:00:00:01:01"}},
			{ID: ID{Version: "v1", Kind: "Namespace", Name: "shop"}, DesiredHash: "d2", FieldsHash: "f2"},
		},
		FieldSets: map[string]json.RawMessage{"r1": json.RawMessage(`{"f:spec":{}}`)},
	}
	cm, err := encode(inv)
	require.NoError(t, err)
	assert.Equal(t, Namespace, cm.Namespace)
	assert.Equal(t, Name, cm.Name)
	assert.Equal(t, map[string]string{"app.kubernetes.io/managed-by": "vmo-cue", LabelFleet: "retail", LabelCluster: "edge-1"}, cm.Labels)
	assert.Equal(t, map[string]string{"vmo-cue.dev/revision": "main@sha1:abc", "vmo-cue.dev/applied": "2026-12-06T05:00:00Z", "vmo-cue.dev/objects": "2"}, cm.Annotations)
	assert.Equal(t, "/Namespace//shop", inv.Entries[0].Key(), "entries sorted by key")

	got, err := decode(cm)
	require.NoError(t, err)
	assert.Equal(t, inv, got)
	assert.Equal(t, &Identity{Fleet: "retail", Cluster: "edge-1"}, got.Owner())
	assert.Equal(t, "u1", got.Index()["kubevirt.io/VirtualMachine/shop/web"].UID)
	assert.Nil(t, (*Inventory)(nil).Owner())
}

func gz(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, err := w.Write([]byte(s))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return b.Bytes()
}

func TestDecodeCorrupt(t *testing.T) {
	for _, tc := range []struct {
		name string
		data map[string][]byte
		err  string
	}{
		{"no data", nil, "inventory unreadable: vmo-cue-system/vmo-cue-inventory has no inventory.json.gz"},
		{"not gzip", map[string][]byte{dataKey: []byte("{}")}, "inventory unreadable: vmo-cue-system/vmo-cue-inventory: unexpected EOF"},
		{"truncated", map[string][]byte{dataKey: gz(t, `{"cluster":"a"}`)[:20]}, "inventory unreadable: vmo-cue-system/vmo-cue-inventory: unexpected EOF"},
		{"not JSON", map[string][]byte{dataKey: gz(t, "cluster: a")}, "inventory unreadable: vmo-cue-system/vmo-cue-inventory: invalid character 'c' looking for beginning of value"},
		{"wrong shape", map[string][]byte{dataKey: gz(t, `{"entries": {}}`)}, "inventory unreadable: vmo-cue-system/vmo-cue-inventory: json: cannot unmarshal object into Go struct field Inventory.entries of type []inventory.Entry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decode(&corev1.ConfigMap{BinaryData: tc.data})
			assert.EqualError(t, err, tc.err)
			assert.ErrorIs(t, err, ErrCorrupt)
		})
	}
}

func TestIdentityConfigMap(t *testing.T) {
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name string
		data map[string]string
		want Identity
	}{
		{"recorded", map[string]string{"fleet": "retail", "cluster": "edge-1", "since": "2026-01-02T03:04:05Z"}, Identity{Fleet: "retail", Cluster: "edge-1", Since: since}},
		{"no time", map[string]string{"fleet": "retail", "cluster": "edge-1"}, Identity{Fleet: "retail", Cluster: "edge-1"}},
		{"a bad time", map[string]string{"fleet": "retail", "cluster": "edge-1", "since": "yesterday"}, Identity{Fleet: "retail", Cluster: "edge-1"}},
		{"empty: matches nobody", nil, Identity{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, &tc.want, identityOf(&corev1.ConfigMap{Data: tc.data}))
		})
	}
	id := Identity{Fleet: "retail", Cluster: "edge-1", Since: since}
	cm := identityConfigMap(id)
	assert.Equal(t, IdentityName, cm.Name)
	assert.Equal(t, Namespace, cm.Namespace)
	assert.Equal(t, "retail", cm.Labels[LabelFleet])
	assert.Equal(t, "edge-1", cm.Labels[LabelCluster])
	assert.Equal(t, &id, identityOf(cm), "round trip")
	assert.Equal(t, "fleet retail cluster edge-1", id.String())
}
