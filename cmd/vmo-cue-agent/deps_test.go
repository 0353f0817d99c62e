package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAgentLinksNothingHeavy: the agent's binary stays small (its idle RSS is mostly the pages of the
// packages it links; BenchmarkAgentRSS in internal/agent): no CUE (the worker evaluates), no kubectl
// or cli-runtime (fluxcd/pkg/ssa, kstatus's poller), no API server packages (reconciler/crcheck).
func TestAgentLinksNothingHeavy(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, heavy := range []string{"cuelang.org/go/", "k8s.io/kubectl/", "k8s.io/cli-runtime/", "k8s.io/apiserver/",
		"k8s.io/apiextensions-apiserver/pkg/apiserver", "github.com/fluxcd/pkg/ssa", "sigs.k8s.io/kustomize/api"} {
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, heavy) {
				t.Errorf("vmo-cue-agent links %s (%s...)", dep, heavy)
				break
			}
		}
	}
}
