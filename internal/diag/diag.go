// Package diag carries what validation finds: errors and warnings, each with the rule it breaks, the
// path of the value, and the file positions a person wrote. It prints them in the format of `cue vet`.
package diag

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Severity says whether a finding fails validation.
type Severity int

const (
	// Error fails validation.
	Error Severity = iota
	// Warning is printed and does not fail.
	Warning
)

// Position is a place in a file, lines and columns counted from 1. File is relative to the fleet root
// where possible.
type Position struct {
	File string
	Line int
	Col  int
}

// String writes file:line:col, the file as Name prints it.
func (p Position) String() string {
	if p.Line == 0 {
		return Name(p.File)
	}
	return fmt.Sprintf("%s:%d:%d", Name(p.File), p.Line, p.Col)
}

// Name returns a name read from the repository or from a cluster (a file or folder, a cluster named
// after its folder) fit to print: unchanged when it is valid UTF-8 of printable characters only and
// does not begin with a double quote; otherwise quoted as a Go string, as CUE paths quote a label from
// a YAML key. Escape sequences, CR, newlines and other control or invisible characters so never reach
// a terminal, and a file name can never forge a line of output. Every output naming such a thing goes
// through it.
func Name(s string) string {
	if Printable(s) && !strings.HasPrefix(s, `"`) {
		return s
	}
	return strconv.Quote(s)
}

// Printable reports whether s is valid UTF-8 of printable characters (letters, marks, numbers,
// punctuation, symbols and the ASCII space; unicode.IsPrint) only.
func Printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// FileError is err without the path an *os.PathError or *os.LinkError carries, for a message that
// names the file itself (with Name).
func FileError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}

// Diagnostic is one finding.
type Diagnostic struct {
	Severity Severity
	// Rule names the check, such as "mac-unique" or "schema".
	Rule string
	// Cluster is the cluster the finding belongs to, empty for fleet-wide ones.
	Cluster string
	// Path is the CUE-style path of the value, such as `vms."web-1".spec.running`.
	Path string
	// Message says what is wrong, for a person.
	Message string
	// Positions are where the value was written; for a conflict, every side of it.
	Positions []Position
	// Dropped, on a findings-cap line (rule findings-cap), counts the findings it stands for.
	Dropped Counts
}

// Counts are numbers of errors and warnings.
type Counts struct{ Errors, Warnings int }

func (c *Counts) add(o Counts) { c.Errors += o.Errors; c.Warnings += o.Warnings }

func (d Diagnostic) Error() string {
	var b strings.Builder
	d.write(&b)
	return strings.TrimRight(b.String(), "\n")
}

func (d Diagnostic) write(b *strings.Builder) {
	if d.Severity == Warning {
		b.WriteString("warning: ")
	}
	if d.Path != "" {
		b.WriteString(d.Path)
		b.WriteString(": ")
	}
	// A message is ours, but may carry a name from elsewhere (a CUE or API server error): one that
	// holds anything unprintable is quoted whole, so it stays on its line.
	if Printable(d.Message) {
		b.WriteString(d.Message)
	} else {
		b.WriteString(strconv.Quote(d.Message))
	}
	if d.Rule != "" {
		fmt.Fprintf(b, " (rule %s)", d.Rule)
	}
	b.WriteString(":\n")
	for _, p := range d.Positions {
		b.WriteString("    ")
		b.WriteString(displayPath(p))
		b.WriteString("\n")
	}
}

// displayPath writes a relative file as ./file, as cue vet does (inside the quotes of a quoted name).
func displayPath(p Position) string {
	if p.File != "" && !filepath.IsAbs(p.File) && !strings.HasPrefix(p.File, ".") {
		p.File = "./" + p.File
	}
	return p.String()
}

// List is a set of findings.
type List []Diagnostic

// Add appends a finding.
func (l *List) Add(d Diagnostic) { *l = append(*l, d) }

// Errorf adds an error.
func (l *List) Errorf(rule, path string, pos []Position, format string, args ...any) {
	l.Add(Diagnostic{Severity: Error, Rule: rule, Path: path, Message: fmt.Sprintf(format, args...), Positions: pos})
}

// Warnf adds a warning.
func (l *List) Warnf(rule, path string, pos []Position, format string, args ...any) {
	l.Add(Diagnostic{Severity: Warning, Rule: rule, Path: path, Message: fmt.Sprintf(format, args...), Positions: pos})
}

// Errors returns only the errors.
func (l List) Errors() List { return l.filter(Error) }

// Warnings returns only the warnings.
func (l List) Warnings() List { return l.filter(Warning) }

func (l List) filter(s Severity) List {
	var out List
	for _, d := range l {
		if d.Severity == s {
			out = append(out, d)
		}
	}
	return out
}

// HasErrors reports whether any finding is an error.
func (l List) HasErrors() bool {
	for _, d := range l {
		if d.Severity == Error {
			return true
		}
	}
	return false
}

// ForCluster sets the cluster of every finding that has none.
func (l List) ForCluster(name string) List {
	for i := range l {
		if l[i].Cluster == "" {
			l[i].Cluster = name
		}
	}
	return l
}

// Sort orders findings by first position, then path and message, so that output is stable. A file's
// findings-cap line comes after the file's findings, the run's last of all.
func (l List) Sort() {
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i], l[j]
		if ra, rb := a.isRunCap(), b.isRunCap(); ra || rb {
			return rb && !ra
		}
		pa, pb := first(a), first(b)
		if pa.File != pb.File {
			return pa.File < pb.File
		}
		if ca, cb := a.Rule == RuleCap, b.Rule == RuleCap; ca != cb {
			return cb
		}
		if pa.Line != pb.Line {
			return pa.Line < pb.Line
		}
		if pa.Col != pb.Col {
			return pa.Col < pb.Col
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return a.Message < b.Message
	})
}

// Dedup drops findings that are identical to an earlier one (the same shared definition reported by
// several clusters).
func (l List) Dedup() List {
	seen := make(map[string]bool, len(l))
	out := l[:0:0]
	for _, d := range l {
		k := d.Error()
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, d)
	}
	return out
}

func first(d Diagnostic) Position {
	if len(d.Positions) == 0 {
		return Position{}
	}
	return d.Positions[0]
}

// Print writes every finding in the format of `cue vet`.
func (l List) Print(w io.Writer) error {
	var b strings.Builder
	for _, d := range l {
		d.write(&b)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
