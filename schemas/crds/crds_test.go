package crds

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestKubeVirtSet(t *testing.T) {
	for _, tc := range []struct{ version, want, err string }{
		{version: "v1.7.0", want: "kubevirt/v1.7"},
		{version: "v1.8", want: "kubevirt/v1.8"},
		{version: "1.4.2", want: "kubevirt/v1.4"},
		{version: "v1.6.0-rc.1", want: "kubevirt/v1.6"},
		{version: "v1.3.0", err: "no CRDs of KubeVirt v1.3.0: vmo-cue carries those of v1.4, v1.5, v1.6, v1.7, v1.8"},
		{version: "latest", err: "no CRDs of KubeVirt latest: vmo-cue carries those of v1.4, v1.5, v1.6, v1.7, v1.8"},
	} {
		got, err := KubeVirtSet(tc.version)
		if tc.err != "" {
			require.EqualError(t, err, tc.err, tc.version)
			continue
		}
		require.NoError(t, err, tc.version)
		assert.Equal(t, tc.want, got, tc.version)
	}
}

func TestCDISet(t *testing.T) {
	// One CDI set is carried: every version maps to it, the unparsable too.
	for _, v := range []string{"v1.61.0", "v1.63.1", "v1.58", "latest"} {
		assert.Equal(t, "cdi/v1.61", CDISet(v), v)
	}
}
