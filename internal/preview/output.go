package preview

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/vmo-cue/vmo-cue/internal/diag"
)

// MaxMarkdown bounds the markdown report (GitHub refuses a comment over 65,536 characters): diffs
// past it are left out, saying how many, and the table, the untouched clusters and the vet result are
// always there.
const MaxMarkdown = 60000

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func (r *Report) header() string {
	rev := func(v Revision) string {
		s := short(v.Commit)
		if v.Rev != "" && v.Rev != v.Commit {
			s += " (" + diag.Name(v.Rev) + ")"
		}
		return s
	}
	return rev(r.From) + " → " + rev(r.To)
}

func (c Cluster) summary() string {
	var parts []string
	for _, a := range []Action{Create, Change, Remove} {
		if n := c.Count(a); n > 0 {
			parts = append(parts, fmt.Sprintf("%d to %s", n, a))
		}
	}
	s := strings.Join(parts, ", ")
	switch c.State {
	case Added:
		s = "added to the fleet: " + s
	case Removed, Invalid:
		s = c.Note
	}
	if c.Note != "" && c.State == Changed {
		s += " (" + c.Note + ")"
	}
	return s
}

// WriteText writes the report for a terminal: per cluster touched its objects with their diffs, the
// clusters not touched, and the new revision's vet result.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "vmo-cue diff %s\n", r.header())
	for _, c := range r.Clusters {
		fmt.Fprintf(&b, "\ncluster %s: %s\n", diag.Name(c.Name), c.summary())
		for _, o := range c.Objects {
			fmt.Fprintf(&b, "# %s %s\n%s", o.Action, o.ID, o.Diff)
		}
	}
	if len(r.Clusters) == 0 {
		b.WriteString("\nno cluster changes\n")
	}
	if len(r.Untouched) > 0 {
		fmt.Fprintf(&b, "\nnot touched (%d): %s\n", len(r.Untouched), names(r.Untouched))
	}
	fmt.Fprintf(&b, "\nvet %s: %s\n%s", short(r.To.Commit), r.Vet.Summary(), r.Vet.Text)
	_, err := io.WriteString(w, b.String())
	return err
}

func names(l []string) string {
	out := make([]string, len(l))
	for i, n := range l {
		out[i] = diag.Name(n)
	}
	return strings.Join(out, ", ")
}

// WriteMarkdown writes the report as a pull-request comment: a table of the clusters touched, each
// cluster's diffs in a collapsed section, the clusters not touched and the vet result, within
// MaxMarkdown characters.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var head, tail strings.Builder
	status := "✅ vet ok"
	if !r.Vet.Valid {
		status = "❌ vet: " + diag.Plural(r.Vet.Errors, "error")
	}
	fmt.Fprintf(&head, "### vmo-cue diff %s\n\n", mdText(r.header()))
	fmt.Fprintf(&head, "**%s touched**, %d not touched · %s\n\n", diag.Plural(len(r.Clusters), "cluster"), len(r.Untouched), status)
	if len(r.Clusters) > 0 {
		head.WriteString("| cluster | state | create | change | remove |\n|---|---|---:|---:|---:|\n")
		for _, c := range r.Clusters {
			fmt.Fprintf(&head, "| %s | %s | %d | %d | %d |\n", mdText(diag.Name(c.Name)), c.State, c.Count(Create), c.Count(Change), c.Count(Remove))
		}
		head.WriteString("\n")
	}
	if len(r.Untouched) > 0 {
		fmt.Fprintf(&tail, "<details><summary>Not touched: %s</summary>\n\n%s\n\n</details>\n\n", diag.Plural(len(r.Untouched), "cluster"), mdText(names(r.Untouched)))
	}
	fmt.Fprintf(&tail, "#### vet `%s`: %s\n\n", short(r.To.Commit), mdText(r.Vet.Summary()))
	if r.Vet.Text != "" {
		tail.WriteString(fence(r.Vet.Text, ""))
	}
	budget := MaxMarkdown - head.Len() - tail.Len()
	var body strings.Builder
	left := 0
	for _, c := range r.Clusters {
		var sec strings.Builder
		fmt.Fprintf(&sec, "<details><summary><b>%s</b>: %s</summary>\n\n", mdText(diag.Name(c.Name)), mdText(c.summary()))
		for _, o := range c.Objects {
			fmt.Fprintf(&sec, "%s %s\n\n", o.Action, mdText(o.ID.String()))
			sec.WriteString(fence(o.Diff, "diff"))
		}
		sec.WriteString("</details>\n\n")
		if len(c.Objects) == 0 || body.Len()+sec.Len() > budget-200 {
			if len(c.Objects) > 0 {
				left++
			}
			continue
		}
		body.WriteString(sec.String())
	}
	if left > 0 {
		fmt.Fprintf(&body, "_The diffs of %d more clusters are left out (comment size): run `vmo-cue diff --from %s --to %s`._\n\n",
			left, mdText(short(r.From.Commit)), mdText(short(r.To.Commit)))
	}
	_, err := io.WriteString(w, head.String()+body.String()+tail.String())
	return err
}

// fence puts text in a fenced code block whose fence no line of the text can close.
func fence(text, lang string) string {
	longest := 0
	run := 0
	for _, r := range text {
		if r == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	f := strings.Repeat("`", max(3, longest+1))
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	return f + lang + "\n" + text + f + "\n\n"
}

// mdText escapes what markdown or HTML would interpret in a line of text (names come from the
// repository).
func mdText(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "`", "\\`", "*", `\*`, "_", `\_`, "|", `\|`, "<", "&lt;", ">", "&gt;", "[", `\[`, "]", `\]`, "&", "&amp;")
	return r.Replace(s)
}
