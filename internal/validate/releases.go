package validate

import "github.com/vmo-cue/vmo-cue/schemas/crds"

// Releases are the KubeVirt and CDI releases whose CRDs the cluster's objects are checked against:
// its stack's declared versions. A KubeVirt version vmo-cue carries no CRDs of (reported by the gate
// check as unsupported) is checked against the newest carried, so that its VMs are still checked.
func (c *Cluster) Releases() crds.Versions {
	kv, _ := c.Stack["kubevirt"].(map[string]any)
	cdi, _ := c.Stack["cdi"].(map[string]any)
	v := crds.Versions{KubeVirt: getStr(kv, "version"), CDI: getStr(cdi, "version")}
	if _, err := crds.KubeVirtSet(v.KubeVirt); err != nil {
		v.KubeVirt = crds.Default.KubeVirt
	}
	return v
}
