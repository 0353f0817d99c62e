package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/genfleet"
)

// parsed is what the parser route of readVMs gives a source: each top-level field's value as data.
func parsed(t testing.TB, src string) []any {
	af, err := parser.ParseFile("f.cue", src)
	require.NoError(t, err)
	var out []any
	for _, d := range af.Decls {
		if f, ok := d.(*ast.Field); ok {
			v, ok := dataValue(f.Value)
			require.True(t, ok, "the parser's tree is not data: %q", src)
			out = append(out, v)
		}
	}
	return out
}

// scanData reads what the parser reads, to the value, and refuses what is not plain data.
func TestScanData(t *testing.T) {
	for _, c := range []struct {
		src string
		ok  bool
	}{
		{"package fleet\n", true},
		{"// c\n\npackage fleet // c\n\nvms: a: {}\n", true},
		{"package fleet\nvms: a: spec: {x: 1, \"y-z\": [1, 2.5, -3, -4.5e-3, 1E+3, true, false, null, \"s\", {}, []],}\n", true},
		{"package fleet\nvms: {\n\ta: {\n\t\tb: \"x\"\n\t\tc: [\n\t\t\t1,\n\t\t\t2\n\t\t]\n\t}\n}\ncluster: {name: \"a\"}, x: 1\n", true},
		{"package fleet\nvms: a: b: \"esc \\\" \\n \\u00e9 \\t\" // comment\nvms: \"q\" : 1\n", true},
		{"package fleet\nvms: a: b: \"\"\"\n\t\tline \\u00e9\n\t\t  two\n\t\t\"\"\"\n", true},
		{"package fleet\nvms: a: b: [0x10, 1_000, 2Ki, 1.5e3, -0, 12345678901234567890123, #\"raw \\n\"#]\n", true},
		{"package fleet\nvms: a: \"\u00e9\": 1\n", true},
		{"package fleet\nvms: a:\n\t1\n", true},
		{"package fleet\nvms: a: [ // c\n1, // d\n]\n", true},
		{"package fleet\nvms: a: 1 ,b: 2\n", true},
		{"package foo\n", false},
		{"package fleet\nimport \"strings\"\n", false},
		{"package fleet\nvms: a: b: c\n", false},
		{"package fleet\nvms: a: _b: 1\n", false},
		{"package fleet\nvms: a: #b: 1\n", false},
		{"package fleet\nvms: a: b?: 1\n", false},
		{"package fleet\nvms: a: b!: 1\n", false},
		{"package fleet\nvms: a: b: 1 @x()\n", false},
		{"package fleet\nvms: a: b: 1 | 2\n", false},
		{"package fleet\nvms: a: b: 1 & 2\n", false},
		{"package fleet\nvms: a: b: 'x'\n", false},
		{"package fleet\nvms: a: b: \"\\(x)\"\n", false},
		{"package fleet\nvms: a: b: [1, ...]\n", false},
		{"package fleet\nvms: a: b: {c: 1 d: 2}\n", false},
		{"package fleet\nvms: a: {b: 1, b: 1}\n", false},
		{"package fleet\nvms: a: [b: 1]\n", false},
		{"package fleet\nvms: a: if: 1\n", false},
		{"package fleet\nvms: a: true: 1\n", false},
		{"package fleet\nvms: (a): 1\n", false},
		{"package fleet\nvms: [string]: 1\n", false},
		{"package fleet\nX=vms: a: 1\n", false},
		{"package fleet\nlet x = 1\n", false},
		{"package fleet\n{a: 1}\n", false},
		{"package fleet\nvms: a: {b: 1\n", false},
		{"package fleet\nvms: a: - \"x\"\n", false},
	} {
		decls, ok := scanData("f.cue", []byte(c.src))
		if !assert.Equal(t, c.ok, ok, "%q", c.src) || !ok {
			continue
		}
		want := parsed(t, c.src)
		require.Len(t, decls, len(want), "%q", c.src)
		for i, d := range decls {
			assert.Equal(t, want[i], d.value, "%q: field %d", c.src, i)
			// Blanking out a field leaves a file the parser reads.
			src := []byte(c.src)
			for j := d.start; j < d.end; j++ {
				if src[j] != '\n' {
					src[j] = ' '
				}
			}
			_, err := parser.ParseFile("f.cue", src)
			assert.NoError(t, err, "%q without field %d: %q", c.src, i, src)
		}
	}
}

// cpuTime is the process's CPU time (user and system): the machines benchmarks run on are shared.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkReadVMs measures the fast path's reader of a cluster's VM files against the CUE parser
// (syntax tree, resolved, then converted by dataValue) on the files of a generated 1,000-VM fleet, and
// prints the ratio. The parser's extra time, times ten, is what `vet` of the 10k fleet would add.
func BenchmarkReadVMs(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "fleet")
	_, err := genfleet.Generate(dir, genfleet.Options{Clusters: 10, VMs: 1000, Form: genfleet.FormCUE, Seed: 3})
	require.NoError(b, err)
	paths, err := filepath.Glob(filepath.Join(dir, "clusters", "*", "vms.cue"))
	require.NoError(b, err)
	var files [][]byte
	for _, p := range paths {
		data, err := os.ReadFile(p)
		require.NoError(b, err)
		files = append(files, data)
	}
	per := map[string]time.Duration{}
	for _, c := range []struct {
		name string
		read func(src []byte) bool
	}{
		{"scanData", func(src []byte) bool { _, ok := scanData("f.cue", src); return ok }},
		{"parser", func(src []byte) bool {
			af, err := parser.ParseFile("f.cue", src)
			if err != nil {
				return false
			}
			for _, d := range af.Decls {
				if f, ok := d.(*ast.Field); ok {
					if _, ok := dataValue(f.Value); !ok {
						return false
					}
				}
			}
			return true
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			start := cpuTime()
			for b.Loop() {
				for _, f := range files {
					if !c.read(f) {
						b.Fatal("not read as data")
					}
				}
			}
			per[c.name] = (cpuTime() - start) / time.Duration(b.N)
			b.ReportMetric(float64(per[c.name].Microseconds())/1000, "cpu-ms/op")
		})
	}
	if per["scanData"] > 0 && per["parser"] > 0 {
		fmt.Printf("BenchmarkReadVMs: 1,000 VMs, CPU time: scanData %v, parser %v: the parser takes %.2f× the reader's\n",
			per["scanData"], per["parser"], float64(per["parser"])/float64(per["scanData"]))
	}
}
