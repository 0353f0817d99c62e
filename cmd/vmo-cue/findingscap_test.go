package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// emptyDocs is a YAML file of n empty documents: each one a finding (not a VirtualMachine).
func emptyDocs(n int) []byte { return bytes.Repeat([]byte("--- {}\n"), n) }

func TestVetCapsFindings(t *testing.T) {
	perRun := map[string][]byte{}
	for i := range 12 {
		perRun[fmt.Sprintf("clusters/edge-1/vms/empty-%02d.yaml", i)] = emptyDocs(150)
	}
	for _, tc := range []struct {
		name  string
		files map[string][]byte
		shown int
		want  []string
	}{
		{"20,000 findings in one file: its first 100", map[string][]byte{"clusters/edge-1/vms/empty.yaml": emptyDocs(20_000)}, 100, []string{
			"19900 more findings in this file dropped: at most 100 are shown per file (rule findings-cap):\n    ./clusters/edge-1/vms/empty.yaml\n",
			"20000 errors, 0 warnings: 1 of 2 clusters invalid\n"}},
		{"1,800 findings in 12 files: 1,000 in all", perRun, 1000, []string{
			"50 more findings in this file dropped: at most 100 are shown per file (rule findings-cap):\n    ./clusters/edge-1/vms/empty-09.yaml\n",
			"300 more findings dropped: at most 1000 are shown per run (rule findings-cap):\n1800 errors, 0 warnings: 1 of 2 clusters invalid\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := setUp(t, badCase{Files: tc.files})
			var stdout, stderr bytes.Buffer
			code := run([]string{"vet", dir}, &stdout, &stderr)
			out := stderr.String()
			assert.Equal(t, exitInvalid, code)
			assert.Equal(t, tc.shown, strings.Count(out, "(rule vm-kind)"), "findings shown")
			for _, w := range tc.want {
				assert.Contains(t, out, w)
			}
			assert.NotContains(t, out, "empty-10.yaml", "files past the run's cap are not shown")
		})
	}
}
