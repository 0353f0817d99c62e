package validate

import "github.com/vmo-cue/vmo-cue/schemas/crds"

// Releases are the KubeVirt and CDI releases whose CRDs the cluster's objects are checked against:
// its stack's declared versions. A KubeVirt version vmo-cue carries no CRDs of (reported by the gate
// check as unsupported) is checked against the newest carried, so that its VMs are still checked.
func (c *Cluster) Releases() crds.Versions {
	v := crds.Versions{KubeVirt: c.Settings.Stack.KubeVirt.Version, CDI: c.Settings.Stack.CDI.Version}
	if _, err := crds.KubeVirtSet(v.KubeVirt); err != nil {
		v.KubeVirt = crds.Default.KubeVirt
	}
	return v
}
