package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/reconciler/fleet"
)

// progress shows a live line per cluster on a terminal, and plain lines otherwise.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	order []string
	last  map[string]fleet.Outcome
	drawn int
	start time.Time
	// header is printed once, before the first line.
	header string
}

// printHeader prints the header if nothing has yet.
func (p *progress) printHeader() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.headerLocked()
}

func (p *progress) headerLocked() {
	if p.header != "" {
		io.WriteString(p.w, p.header)
		p.header = ""
	}
}

func newProgress(w io.Writer) *progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return &progress{w: w, tty: tty, last: map[string]fleet.Outcome{}, start: time.Now()}
}

func (p *progress) update(o fleet.Outcome) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.headerLocked()
	if _, ok := p.last[o.Cluster]; !ok {
		p.order = append(p.order, o.Cluster)
	}
	p.last[o.Cluster] = o
	if !p.tty {
		fmt.Fprintf(p.w, "%6.1fs  %-20s %-11s %s\n", time.Since(p.start).Seconds(), diag.Name(o.Cluster), o.State, oneLine(o.Message))
		return
	}
	if p.drawn > 0 {
		fmt.Fprintf(p.w, "\x1b[%dA", p.drawn)
	}
	for _, name := range p.order {
		l := p.last[name]
		fmt.Fprintf(p.w, "\x1b[2K%-20s %-8s %-11s %s\n", diag.Name(name), l.Wave, l.State, oneLine(l.Message))
	}
	p.drawn = len(p.order)
}

// oneLine fits a message on one line of the table, quoted if it still holds anything unprintable.
func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 120 {
		s = strings.ToValidUTF8(s[:117], "") + "..."
	}
	return diag.Name(s)
}

// printOutcomes writes the summary table.
func printOutcomes(w io.Writer, outs []fleet.Outcome) {
	sort.SliceStable(outs, func(i, j int) bool { return outs[i].Cluster < outs[j].Cluster })
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLUSTER\tWAVE\tSTATE\tTOOK\tDETAIL")
	for _, o := range outs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", diag.Name(o.Cluster), o.Wave, o.State, o.Took.Round(time.Millisecond), oneLine(o.Message))
	}
	tw.Flush()
}
