package yamldoc

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// FuzzFastDecodeAsV3 requires that whatever the fast reader reads, it reads into exactly the
// documents (index and value) yaml.v3 and the converter give, and that Decode then gives yaml.v3's
// positions for every value and key. Inputs are generated manifests (fuzzYAML: nested block and flow
// collections, plain, quoted and escaped scalars, numbers, literal blocks, comments, documents, and
// forms the reader must leave to yaml.v3), and, from the fuzzer, any bytes. The seed corpus runs in
// `go test`.
func FuzzFastDecodeAsV3(f *testing.F) {
	for seed := range uint64(40) {
		f.Add(seed, "")
	}
	for _, s := range []string{
		"a: 'it''s'\nb: \"x\\\"y\"\nc: \"\"\nd: ''\n",
		"k: \"a\\tb\"\nl: ['x''y', \"p\\\\q\"]\n",
		"a: {'k''k': 1, \"q\": [\"\"]}\n",
		"- a: 1\n  b:\n  - 2\n- 3\n",
	} {
		f.Add(uint64(0), s)
	}
	f.Fuzz(func(t *testing.T, seed uint64, raw string) {
		data := []byte(raw)
		if raw == "" {
			data = []byte(fuzzYAML(seed))
		}
		fast, ok := fastDecode("f.yaml", data, &lazyFile{data: data})
		if !ok {
			return
		}
		slow, problems := decodeV3("f.yaml", data, &lazyFile{data: data})
		require.Empty(t, problems, "the fast reader read what yaml.v3 refuses:\n%s", data)
		require.Len(t, fast, len(slow), "documents of:\n%s", data)
		docs, problems := Decode("f.yaml", data)
		require.Empty(t, problems)
		for i := range slow {
			require.Equal(t, slow[i].Index, fast[i].Index, "document %d of:\n%s", i, data)
			require.Equal(t, slow[i].Value, fast[i].Value, "document %d of:\n%s", i, data)
			// Positions come from yaml.v3's tree of the same bytes: every path of the value has the
			// line and column of its node there.
			root := documentRoot(slowTree(t, data, slow[i].Index))
			eachPath(slow[i].Value, nil, func(path []string) {
				n := root
				for _, p := range path {
					n = (&Doc{}).child(n, p)
				}
				assert.Equal(t, n.Line, docs[i].Pos(path).Line, "%v in:\n%s", path, data)
				assert.Equal(t, n.Column, docs[i].Pos(path).Col, "%v in:\n%s", path, data)
			})
		}
	})
}

// slowTree is yaml.v3's node tree of a file's document.
func slowTree(t *testing.T, data []byte, index int) *yaml.Node {
	t.Helper()
	l := &lazyFile{data: data}
	return l.root(index)
}

// eachPath calls f with the path of every value below v (v's own included).
func eachPath(v any, path []string, f func([]string)) {
	f(path)
	switch v := v.(type) {
	case map[string]any:
		for k, c := range v {
			eachPath(c, append(path[:len(path):len(path)], k), f)
		}
	case []any:
		for i, c := range v {
			eachPath(c, append(path[:len(path):len(path)], strconv.Itoa(i)), f)
		}
	}
}

// fuzzYAML writes a manifest from seed: mostly what the fast reader reads, with now and then a form
// it must leave to yaml.v3.
func fuzzYAML(seed uint64) string {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var b strings.Builder
	docs := 1 + rng.IntN(3)
	for d := 0; d < docs; d++ {
		if d > 0 || rng.IntN(4) == 0 {
			b.WriteString("---\n")
		}
		fuzzMapping(&b, rng, 0, 3)
	}
	return b.String()
}

var fuzzKeys = []string{"name", "spec", "metadata", "kubevirt.io/vm", "\"quoted key\"", "'single'", "a b", "x-y", "1", "true"}

// fuzzScalars are one-line values the fast reader reads; fuzzUnusual are values it must leave to
// yaml.v3 (or that yaml.v3 refuses), written now and then.
var fuzzScalars = []string{
	"plain", "16Gi", "v1.6.3", "-x", "docker://q.io/f:41", "a#b", "0", "7", "-12", "1023", "1024",
	"123456789012345678", "~", "null", "true", "False", "\"02:76:00:00:00:77\"",
	"'it''s'", "\"tab\\there\"", "\"q\\\"uote\"", "\"\"", "''", "\"back\\\\slash\"", "'\\n stays'",
	"# a comment only", "x # comment", "{a: 1, b: [x, 'y z', \"w\"]}", "[]", "{}", "[1, [2, {c: d}]]",
	"é ü", "a b  ", "'q' # c", "{'k''k': \"v\", n: ~}",
}

var fuzzUnusual = []string{
	"1234567890123456789", "1.5", "0755", "0x1F", "yes", "2024-01-01", "&a 1", "*a", "!!str 3",
	"\"\\u00e9\"", "{a: 1,}", "'unclosed", "a: b", ".inf", "+1", "-", "- x", ">", "|+", "[a,\n  b]",
}

func fuzzScalar(rng *rand.Rand) string {
	if rng.IntN(25) == 0 {
		return fuzzUnusual[rng.IntN(len(fuzzUnusual))]
	}
	return fuzzScalars[rng.IntN(len(fuzzScalars))]
}

func fuzzMapping(b *strings.Builder, rng *rand.Rand, indent, depth int) {
	keys := rng.Perm(len(fuzzKeys))[:1+rng.IntN(4)]
	if rng.IntN(40) == 0 {
		keys = append(keys, keys[0]) // a duplicate: left to yaml.v3
	}
	for _, k := range keys {
		b.WriteString(strings.Repeat(" ", indent))
		b.WriteString(fuzzKeys[k])
		b.WriteString(":")
		fuzzValue(b, rng, indent, depth)
	}
}

func fuzzValue(b *strings.Builder, rng *rand.Rand, indent, depth int) {
	switch k := rng.IntN(10); {
	case depth > 0 && k < 3:
		b.WriteString("\n")
		fuzzMapping(b, rng, indent+2, depth-1)
	case depth > 0 && k < 5:
		b.WriteString("\n")
		in := indent + 2*rng.IntN(2) // a sequence at the key's indent, or below it
		for i := 1 + rng.IntN(3); i > 0; i-- {
			b.WriteString(strings.Repeat(" ", in) + "-")
			if rng.IntN(2) == 0 {
				b.WriteString(" " + fuzzScalar(rng) + "\n")
			} else {
				b.WriteString(" k: v\n" + strings.Repeat(" ", in+2) + "n:")
				fuzzValue(b, rng, in+2, depth-1)
			}
		}
	case k == 5:
		b.WriteString(" |" + []string{"", "-"}[rng.IntN(2)] + "\n")
		for i := 1 + rng.IntN(3); i > 0; i-- {
			more := 0
			if i > 1 && rng.IntN(4) == 0 {
				more = 2 // more indented than the block's first line
			}
			b.WriteString(strings.Repeat(" ", indent+2+more) + "line # not a comment\n")
			if rng.IntN(3) == 0 {
				b.WriteString("\n")
			}
		}
	default:
		b.WriteString(" " + fuzzScalar(rng) + "\n")
	}
	if rng.IntN(8) == 0 {
		b.WriteString(strings.Repeat(" ", indent) + "# comment\n")
	}
}
