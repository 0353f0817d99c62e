package diag

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// findings makes n errors in file, on lines 1..n (a warning every warnEvery-th if warnEvery > 0).
func findings(file string, n, warnEvery int) List {
	var l List
	for i := 1; i <= n; i++ {
		d := Diagnostic{Severity: Error, Rule: "schema", Path: fmt.Sprintf("x%d", i), Message: "field not allowed",
			Positions: []Position{{File: file, Line: i, Col: 1}}}
		if warnEvery > 0 && i%warnEvery == 0 {
			d.Severity = Warning
		}
		l = append(l, d)
	}
	return l
}

func printed(l List) string {
	var b strings.Builder
	_ = l.Print(&b)
	return b.String()
}

func TestCap(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      List
		perRun  int // -1: CapFiles
		shown   int // findings shown, cap lines excluded
		caps    []string
		counted Counts
	}{
		{"under the caps: unchanged", append(findings("a.yaml", 3, 0), findings("b.yaml", 2, 0)...), 1000, 5, nil, Counts{Errors: 5}},
		{"one file over: its first 100 and one line", findings("a.yaml", 250, 0), 1000, 100,
			[]string{"150 more findings in this file dropped: at most 100 are shown per file (rule findings-cap):\n    ./a.yaml\n"}, Counts{Errors: 250}},
		{"warnings only dropped: the line is a warning", append(findings("a.yaml", 100, 0), Diagnostic{Severity: Warning, Rule: "gate", Message: "GA",
			Positions: []Position{{File: "a.yaml", Line: 500}}}), 1000, 100,
			[]string{"warning: 1 more findings in this file dropped: at most 100 are shown per file (rule findings-cap):\n    ./a.yaml\n"}, Counts{Errors: 100, Warnings: 1}},
		{"the run over: files past it are dropped whole, into the run's line", func() List {
			var l List
			for f := 0; f < 12; f++ {
				l = append(l, findings(fmt.Sprintf("f%02d.yaml", f), 150, 10)...)
			}
			return l
		}(), 1000, 1000,
			[]string{"./f00.yaml\n", "./f09.yaml\n", "300 more findings dropped: at most 1000 are shown per run (rule findings-cap):\n"},
			Counts{Errors: 12 * 135, Warnings: 12 * 15}},
		{"CapFiles leaves the run alone", func() List {
			var l List
			for f := 0; f < 12; f++ {
				l = append(l, findings(fmt.Sprintf("f%02d.yaml", f), 150, 0)...)
			}
			return l
		}(), -1, 1200, []string{"50 more findings in this file dropped: at most 100 are shown per file (rule findings-cap):\n    ./f11.yaml\n"},
			Counts{Errors: 1800}},
		{"findings without a file are capped by the run only", findings("", 150, 0), 1000, 150, nil, Counts{Errors: 150}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.in.Count()
			var got List
			if tc.perRun < 0 {
				got = tc.in.CapFiles(MaxPerFile)
			} else {
				got = tc.in.Cap(MaxPerFile, tc.perRun)
			}
			shown := 0
			for _, d := range got {
				if d.Rule != RuleCap {
					shown++
				}
			}
			assert.Equal(t, tc.shown, shown)
			assert.Equal(t, want, got.Count(), "the counts include what was dropped")
			assert.Equal(t, tc.counted, got.Count())
			out := printed(got)
			for _, c := range tc.caps {
				assert.Contains(t, out, c)
			}
			if len(tc.caps) == 0 {
				assert.NotContains(t, out, RuleCap)
			}
			again := got.Dedup().CapFiles(MaxPerFile)
			if tc.perRun >= 0 {
				again = got.Dedup().Cap(MaxPerFile, tc.perRun)
			}
			assert.True(t, out == printed(again), "capping again changes nothing")
		})
	}
}

func TestCapLinesComeLast(t *testing.T) {
	l := append(findings("b.yaml", 1, 0), findings("a.yaml", 150, 0)...)
	l = append(l, findings("", 1, 0)...)
	got := l.Cap(MaxPerFile, MaxPerRun)
	require.Len(t, got, 103)
	assert.Empty(t, got[0].Positions[0].File, "a finding without a file comes first")
	assert.Equal(t, []Position{{File: "a.yaml"}}, got[101].Positions, "a file's cap line follows its findings")
	assert.Equal(t, "b.yaml", got[102].Positions[0].File, "then the next file")

	got = l.Cap(MaxPerFile, 50)
	require.Len(t, got, 51)
	assert.Equal(t, "102 more findings dropped: at most 50 are shown per run", got[50].Message, "the run's line is last")
}

func TestBounderKeepsAFloodSmall(t *testing.T) {
	var b Bounder
	var l List
	for i := 1; i <= 200_000; i++ {
		l = append(l, Diagnostic{Severity: Error, Rule: "vm-kind", Path: fmt.Sprintf("vms.x%d", i), Message: "not a VirtualMachine",
			Positions: []Position{{File: fmt.Sprintf("f%d.yaml", i%3), Line: i}}})
		l = b.Bound(l)
		require.Less(t, len(l), 8*MaxPerRun)
	}
	assert.Equal(t, Counts{Errors: 200_000}, l.Count())
	assert.Len(t, l.CapFiles(MaxPerFile), 3*MaxPerFile+3)
}
