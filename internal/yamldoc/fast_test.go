package yamldoc

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/genfleet"
)

// sameAsV3 asserts that the fast reader reads data (if it does: want says whether it must) into
// exactly the documents yaml.v3 and the converter give.
func sameAsV3(t *testing.T, name string, data []byte, want bool) {
	t.Helper()
	fast, ok := fastDecode(name, data, &lazyFile{data: data})
	slow, problems := decodeV3(name, data, &lazyFile{data: data})
	if want {
		require.True(t, ok, "%s: the fast reader gave up:\n%s", name, data)
	}
	if !ok {
		return
	}
	require.Empty(t, problems, "%s: the fast reader read a file yaml.v3 refuses:\n%s", name, data)
	require.Len(t, fast, len(slow), name)
	for i := range slow {
		assert.Equal(t, slow[i].Index, fast[i].Index, "%s: document %d", name, i)
		assert.Equal(t, slow[i].Value, fast[i].Value, "%s: document %d", name, i)
	}
}

// TestFastDecodeAsV3: what the fast reader reads, it reads as yaml.v3 does; what it is unsure of, it
// leaves to yaml.v3 (gives up).
func TestFastDecodeAsV3(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		fast bool // the fast reader reads it
	}{
		{"block", "a: 1\nb: x\nc:\n  d: true\n  e: null\n", true},
		{"sequences", "l:\n- a\n- 2\nm:\n  - {x: 1, y: [a, 'b c', \"d\\n\"]}\n  - k: v\n    w: [ ]\n  -\n    z: 1\n  - []\n", true},
		{"comments", "# head\na: b # tail\n\n  # indented\nc: 'it''s' # x\nd: \"q\" \ne: # nothing\n", true},
		{"literal", "s: |\n  line 1\n\n    more\n  # not a comment\nt: |-\n  x\n  y\n\nu: 1\n", true},
		{"literal in a sequence", "l:\n  - |\n    a\n  - b\n", true},
		{"documents", "---\na: 1\n---\nb: 2\n---\n", true},
		{"strings", "a: 16Gi\nb: v1.6.3\nc: -x\nd: docker://q.io/f:41\ne: a#b\nf: \"02:76:00:00:00:77\"\ng: kubevirt.io/vm\nh: ~\ni: -12\nj: 0\n", true},
		{"keys", "\"quoted key\": 1\n'single': 2\nkubevirt.io/vm: x\n1: one\n", true},
		{"sequence at the key's indent", "a:\n- 1\n- 2\nb: 3\n", true},
		{"empty values", "a:\nb: {}\nc: []\n", true},
		{"empty entries", "l:\n  - # nothing\n  - a\n  -\n  - b\n  -\n", true},
		{"escapes and quotes", `a: 'it''s'
b: "x\"y\\z\t"
c: ''
d: ""
e: {'k''': "v\n", "": 'a\b'}
`, true},

		{"float", "a: 1.5\n", false},
		{"inf", "a: .inf\n", false},
		{"octal", "a: 0755\n", false},
		{"hex", "a: 0x1F\n", false},
		{"date", "a: 2024-01-01\n", false},
		{"yes", "a: yes\n", false},
		{"anchor", "a: &x 1\nb: *x\n", false},
		{"tag", "a: !!str 1\n", false},
		{"merge", "a: {x: 1}\n<<: {y: 2}\n", false},
		{"duplicate", "a: 1\na: 2\n", false},
		{"folded", "a: >\n  x\n  y\n", false},
		{"keep", "a: |+\n  x\n\n", false},
		{"multi-line plain", "a: x\n  y\n", false},
		{"multi-line quoted", "a: \"x\n  y\"\n", false},
		{"multi-line flow", "a: {x: 1,\n  y: 2}\n", false},
		{"unicode escape", "a: \"\\u00e9\"\n", false},
		{"tab", "a:\n\tb: 1\n", false},
		{"crlf", "a: 1\r\n", false},
		{"scalar document", "just text\n", false},
		{"syntax error", "a: b: c\n", false},
		{"bad indentation", "a:\n    b: 1\n  c: 2\n", false},
		{"empty document in the middle", "a: 1\n---\n---\nb: 2\n", false},
		{"directive", "%YAML 1.2\n---\na: 1\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sameAsV3(t, tc.name, []byte(tc.yaml), tc.fast)
			if !tc.fast {
				_, ok := fastDecode(tc.name, []byte(tc.yaml), &lazyFile{})
				assert.False(t, ok, "the fast reader read it")
			}
		})
	}
}

// TestFastDecodeFleets: the generated fleets' VMs and every YAML file of the repository's test data
// and examples read the same either way; the generated ones all by the fast reader.
func TestFastDecodeFleets(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fleet")
	_, err := genfleet.Generate(dir, genfleet.Options{Clusters: 2, VMs: 40, Form: genfleet.FormYAML, Seed: 3})
	require.NoError(t, err)
	n := 0
	for _, root := range []string{dir, filepath.Join("..", "..", "testdata"), filepath.Join("..", "..", "fleet"), filepath.Join("..", "..", "examples")} {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !(strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
				return nil
			}
			data, err := os.ReadFile(p)
			require.NoError(t, err)
			sameAsV3(t, p, data, strings.HasPrefix(p, dir))
			n++
			return nil
		})
	}
	assert.Greater(t, n, 8)
}
