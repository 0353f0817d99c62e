// Command benchrun measures commands for `make bench` (hack/bench.sh) and reports them against the
// performance targets.
//
//	benchrun run -id ID -label TEXT -out RESULTS.jsonl [-n 5] [-dir DIR] -- COMMAND [ARG...]
//	benchrun report RESULTS.jsonl
//
// run starts COMMAND n times, one after the other, and records each run's wall time and peak RSS (the
// child's Maxrss from getrusage). The first run is whatever the OS cache makes it; all runs count for the
// minimum and the median. A run that exits non-zero fails benchrun (exit 1), with the command's stderr.
// report prints the table, the ratios and PASS/MISS per target; a MISS is not a failure (exit 0).
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Result is one measured command.
type Result struct {
	ID    string   `json:"id"`
	Label string   `json:"label"`
	Dir   string   `json:"dir,omitempty"`
	Args  []string `json:"args"`
	// Wall time, CPU time (user+sys) and peak RSS per run, in seconds and bytes.
	Wall []float64 `json:"wall"`
	CPU  []float64 `json:"cpu"`
	RSS  []int64   `json:"rss"`
	// Load is the 1-minute load average before each run: other work on the machine skews wall time.
	Load []float64 `json:"load"`
}

func (r *Result) First() float64     { return r.Wall[0] }
func (r *Result) Min() float64       { return slices.Min(r.Wall) }
func (r *Result) Median() float64    { return median(r.Wall) }
func (r *Result) PeakRSS() int64     { return slices.Max(r.RSS) }
func (r *Result) MedianCPU() float64 { return median(r.CPU) }

func median(x []float64) float64 {
	if len(x) == 0 {
		return 0
	}
	s := slices.Clone(x)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "run":
		os.Exit(run(os.Args[2:]))
	case "report":
		if len(os.Args) != 3 {
			usage()
		}
		os.Exit(report(os.Args[2]))
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: benchrun run -id ID -label TEXT -out FILE [-n N] [-dir DIR] -- COMMAND [ARG...]\n       benchrun report FILE")
	os.Exit(2)
}

func run(args []string) int {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	id := fs.String("id", "", "measurement id (for report)")
	label := fs.String("label", "", "what is measured")
	out := fs.String("out", "", "JSON-lines file to append the result to")
	n := fs.Int("n", 5, "runs")
	dir := fs.String("dir", "", "working directory of the command")
	fs.Parse(args)
	cmdArgs := fs.Args()
	if *id == "" || *out == "" || len(cmdArgs) == 0 || *n < 1 {
		usage()
	}
	if *label == "" {
		*label = strings.Join(cmdArgs, " ")
	}
	r := Result{ID: *id, Label: *label, Dir: *dir, Args: cmdArgs}
	fmt.Fprintf(os.Stderr, "--> %s: %s (%d runs)\n", *label, strings.Join(cmdArgs, " "), *n)
	for i := 0; i < *n; i++ {
		load := loadavg()
		wall, cpu, rss, err := once(cmdArgs, *dir)
		if err != nil {
			fmt.Fprintf(os.Stderr, "benchrun: %s, run %d: %v\n", *label, i+1, err)
			return 1
		}
		r.Wall = append(r.Wall, wall)
		r.CPU = append(r.CPU, cpu)
		r.RSS = append(r.RSS, rss)
		r.Load = append(r.Load, load)
		fmt.Fprintf(os.Stderr, "    run %d/%d: %7.3f s wall  %7.3f s CPU  %s  (load average %.1f)\n", i+1, *n, wall, cpu, mib(rss), load)
	}
	fmt.Fprintf(os.Stderr, "    wall: first %.3f s, min %.3f s, median %.3f s; median CPU %.3f s; peak RSS %s\n",
		r.First(), r.Min(), r.Median(), r.MedianCPU(), strings.TrimSpace(mib(r.PeakRSS())))
	data, _ := json.Marshal(r)
	f, err := os.OpenFile(*out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchrun: %v\n", err)
		return 1
	}
	defer f.Close()
	if _, err := f.Write(append(data, '\n')); err != nil {
		fmt.Fprintf(os.Stderr, "benchrun: %v\n", err)
		return 1
	}
	return 0
}

// once runs the command and returns its wall time, CPU time and peak RSS; stdout is discarded, stderr
// kept for the error of a failed run.
func once(args []string, dir string) (float64, float64, int64, error) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	cmd.Stdout = io.Discard
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start).Seconds()
	if err != nil {
		msg := stderr.String()
		if len(msg) > 4000 {
			msg = "...\n" + msg[len(msg)-4000:]
		}
		return 0, 0, 0, fmt.Errorf("%w\n%s", err, msg)
	}
	var rss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss * 1024 // kilobytes on Linux
	}
	cpu := (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	return wall, cpu, rss, nil
}

// loadavg returns the 1-minute load average (0 where /proc/loadavg is missing).
func loadavg() float64 {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	var l float64
	fmt.Sscan(string(data), &l)
	return l
}

func mib(b int64) string { return fmt.Sprintf("%7.0f MiB", float64(b)/(1<<20)) }

func report(path string) int {
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchrun: %v\n", err)
		return 1
	}
	defer f.Close()
	byID := map[string]*Result{}
	var order []*Result
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			fmt.Fprintf(os.Stderr, "benchrun: %s: %v\n", path, err)
			return 1
		}
		if len(r.Wall) == 0 {
			continue
		}
		if _, dup := byID[r.ID]; !dup {
			order = append(order, &r)
		}
		byID[r.ID] = &r
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(os.Stderr, "benchrun: %s: %v\n", path, err)
		return 1
	}

	fmt.Printf("\n%-44s %4s %9s %9s %9s %9s %11s %6s\n", "command", "runs", "first s", "min s", "median s", "CPU s", "peak RSS", "load")
	for _, r := range order {
		r = byID[r.ID]
		fmt.Printf("%-44s %4d %9.3f %9.3f %9.3f %9.3f %s %6.1f\n", r.Label, len(r.Wall), r.First(), r.Min(), r.Median(), r.MedianCPU(), mib(r.PeakRSS()), median(r.Load))
	}
	fmt.Printf("(wall: first run, min and median of the runs; CPU: median user+sys; RSS: highest of the runs;\n load: median 1-minute load average before the runs, on %d CPUs: above that, other work skews wall time)\n", runtime.NumCPU())

	type target struct {
		name string
		ok   bool
		have string
	}
	var targets []target
	var info []string
	ratio := func(name, num, den string, want float64, atLeast bool) {
		a, b := byID[num], byID[den]
		if a == nil || b == nil {
			return
		}
		x := a.Median() / b.Median()
		ok := x <= want
		cmp := "<="
		if atLeast {
			ok, cmp = x >= want, ">="
		}
		targets = append(targets, target{fmt.Sprintf("%s (target %s %.0f×)", name, cmp, want), ok, fmt.Sprintf("%.2f×", x)})
	}
	// cpuTarget is ratio on the median CPU time (user+sys), which other work on a loaded machine
	// skews less than wall time.
	cpuTarget := func(name, num, den string, want float64) {
		a, b := byID[num], byID[den]
		if a == nil || b == nil || b.MedianCPU() == 0 {
			return
		}
		x := a.MedianCPU() / b.MedianCPU()
		targets = append(targets, target{fmt.Sprintf("%s, CPU time (target <= %.0f×)", name, want), x <= want, fmt.Sprintf("%.2f×", x)})
	}
	wall := func(id string, max float64) {
		if r := byID[id]; r != nil {
			targets = append(targets, target{fmt.Sprintf("%s, median wall (target <= %.1f s)", r.Label, max), r.Median() <= max, fmt.Sprintf("%.3f s", r.Median())})
		}
	}
	rss := func(id string, max int64) {
		if r := byID[id]; r != nil {
			targets = append(targets, target{fmt.Sprintf("%s, peak RSS (target <= %d MiB)", r.Label, max>>20), r.PeakRSS() <= max, strings.TrimSpace(mib(r.PeakRSS()))})
		}
	}
	const gib = 1 << 30
	cpuRatio := func(name, num, den string) {
		if a, b := byID[num], byID[den]; a != nil && b != nil && b.MedianCPU() > 0 {
			info = append(info, fmt.Sprintf("%s: %.2f× (%.3f s / %.3f s)", name, a.MedianCPU()/b.MedianCPU(), a.MedianCPU(), b.MedianCPU()))
		}
	}
	cpuRatio("cue vet 10k / vmo-cue vet 10k (CUE form), CPU time", "cue-vet-10k", "vet-10k-cue")
	cpuRatio("cue vet 1k / vmo-cue vet 1k (CUE form), CPU time", "cue-vet-1k", "vet-1k-cue")
	cpuRatio("vmo-cue vet 10k / 1k (CUE form), CPU time", "vet-10k-cue", "vet-1k-cue")
	cpuRatio("vmo-cue vet 100k in 100 clusters / 10k (CUE form), CPU time", "vet-100k-100-cue", "vet-10k-cue")
	cpuRatio("vmo-cue vet 100k in 1,000 clusters / 10k (CUE form), CPU time", "vet-100k-1000-cue", "vet-10k-cue")
	cpuRatio("vmo-cue vet 10k YAML / CUE form, CPU time", "vet-10k-yaml", "vet-10k-cue")
	ratio("cue vet 10k / vmo-cue vet 10k (CUE form)", "cue-vet-10k", "vet-10k-cue", 2, true)
	ratio("cue vet 1k / vmo-cue vet 1k (CUE form)", "cue-vet-1k", "vet-1k-cue", 2, true)
	ratio("vmo-cue vet 10k / 1k (CUE form)", "vet-10k-cue", "vet-1k-cue", 12, false)
	ratio("vmo-cue vet 100k in 1,000 clusters / 10k in 100 (CUE form)", "vet-100k-1000-cue", "vet-10k-cue", 11, false)
	cpuTarget("vmo-cue vet 100k in 1,000 clusters / 10k in 100 (CUE form)", "vet-100k-1000-cue", "vet-10k-cue", 11)
	ratio("vmo-cue vet 100k in 100 clusters / 10k in 100 (CUE form)", "vet-100k-100-cue", "vet-10k-cue", 11, false)
	cpuTarget("vmo-cue vet 100k in 100 clusters / 10k in 100 (CUE form)", "vet-100k-100-cue", "vet-10k-cue", 11)
	wall("vet-10k-cue", 1.5)
	wall("vet-10k-yaml", 0.6)
	rss("vet-10k-cue", gib)
	rss("vet-10k-yaml", gib)
	rss("build-10k-cue", gib)
	rss("vet-100k-100-cue", gib*3/2)
	rss("vet-100k-1000-cue", gib*3/2)

	fmt.Printf("\n%-78s %12s  %s\n", "target (medians)", "measured", "")
	for _, t := range targets {
		verdict := "PASS"
		if !t.ok {
			verdict = "MISS"
		}
		fmt.Printf("%-78s %12s  %s\n", t.name, t.have, verdict)
	}
	if len(info) > 0 {
		fmt.Println("\nratios of CPU time (user+sys; less skewed than wall time by other work on the machine):")
		for _, l := range info {
			fmt.Println("  " + l)
		}
	}
	return 0
}
