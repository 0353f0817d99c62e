package diag

import (
	"fmt"
	"slices"
)

// Findings shown at most: per file, and per run (a command's whole output). Past either, a line with
// rule findings-cap says how many more there were. A careless or hostile commit can otherwise produce
// a million findings (a YAML file of empty documents), which nobody reads and which cost gigabytes.
const (
	MaxPerFile = 100
	MaxPerRun  = 1000
)

// RuleCap is the rule of the lines that stand for dropped findings.
const RuleCap = "findings-cap"

// isRunCap reports whether d stands for findings dropped by the per-run cap (a cap line without a file).
func (d Diagnostic) isRunCap() bool { return d.Rule == RuleCap && first(d).File == "" }

// count is what d stands for: itself, or the findings a cap line dropped.
func (d Diagnostic) count() Counts {
	switch {
	case d.Rule == RuleCap:
		return d.Dropped
	case d.Severity == Error:
		return Counts{Errors: 1}
	default:
		return Counts{Warnings: 1}
	}
}

// Count counts errors and warnings, the dropped ones that cap lines stand for included.
func (l List) Count() Counts {
	var c Counts
	for _, d := range l {
		c.add(d.count())
	}
	return c
}

// CapFiles keeps the first perFile findings of each file (by first position; findings without a
// file are not capped here) and replaces the rest with one findings-cap line per file. It sorts the
// list. Cap lines already in the list are merged, so capping again changes nothing.
func (l List) CapFiles(perFile int) List { return l.capped(perFile, -1) }

// Cap caps per file as CapFiles does, then keeps the first perRun findings of the whole list and
// replaces the rest with one findings-cap line, last.
func (l List) Cap(perFile, perRun int) List { return l.capped(perFile, perRun) }

func (l List) capped(perFile, perRun int) List {
	l.Sort()
	shown := map[string]int{}
	dropped := map[string]*Counts{}
	var run Counts
	total := 0
	out := make(List, 0, min(len(l), max(perRun, 0)+16))
	drop := func(file string, c Counts) {
		if dropped[file] == nil {
			dropped[file] = &Counts{}
		}
		dropped[file].add(c)
	}
	for _, d := range l {
		file := first(d).File
		switch {
		case d.isRunCap() && perRun < 0:
			out = append(out, d) // CapFiles keeps the run's cap line as it is
		case d.isRunCap():
			run.add(d.Dropped)
		case d.Rule == RuleCap:
			drop(file, d.Dropped)
		case file != "" && shown[file] >= perFile:
			drop(file, d.count())
		case perRun >= 0 && total >= perRun:
			run.add(d.count())
		default:
			shown[file]++
			total++
			out = append(out, d)
		}
	}
	files := make([]string, 0, len(dropped))
	for f := range dropped {
		files = append(files, f)
	}
	slices.Sort(files)
	for _, f := range files {
		if shown[f] == 0 && perRun >= 0 {
			run.add(*dropped[f]) // every finding of the file went to the run's cap
			continue
		}
		out = append(out, capLine(*dropped[f], fmt.Sprintf("more findings in this file dropped: at most %d are shown per file", perFile), []Position{{File: f}}))
	}
	if run.Errors+run.Warnings > 0 {
		out = append(out, capLine(run, fmt.Sprintf("more findings dropped: at most %d are shown per run", perRun), nil))
	}
	out.Sort()
	return out
}

// capLine is an error when it stands for an error, else a warning.
func capLine(c Counts, what string, pos []Position) Diagnostic {
	sev := Warning
	if c.Errors > 0 {
		sev = Error
	}
	return Diagnostic{Severity: sev, Rule: RuleCap, Message: fmt.Sprintf("%d %s", c.Errors+c.Warnings, what), Positions: pos, Dropped: c}
}

// Bounder keeps a list that grows finding by finding within the caps as it grows, so that a flood of
// findings never holds more than a few runs' worth in memory: call Bound after adding.
type Bounder struct{ next int }

// Bound dedups and caps l per file when it has doubled since the last time (CapFiles).
func (b *Bounder) Bound(l List) List {
	if len(l) < max(b.next, 4*MaxPerRun) {
		return l
	}
	l = l.Dedup().CapFiles(MaxPerFile)
	b.next = 2 * len(l)
	return l
}
