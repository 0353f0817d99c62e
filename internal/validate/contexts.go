package validate

import (
	"fmt"

	"github.com/vmo-cue/vmo-cue/internal/diag"
)

// checkContexts refuses two clusters that reach the same kubeconfig context (a cluster's declared
// `context`, else its name): one API server would get both clusters' objects, each apply taking
// over, and pruning, what the other applied. The finding points at both declarations.
func checkContexts(clusters []*Cluster) {
	first := map[string]*Cluster{}
	for _, c := range clusters { // sorted by name
		if !c.Declared {
			continue
		}
		prev, dup := first[c.Context]
		if !dup {
			first[c.Context] = c
			continue
		}
		d := diag.Diagnostic{Severity: diag.Error, Rule: "cluster-context", Path: "cluster.context",
			Positions: []diag.Position{contextPos(prev), contextPos(c)},
			Message: fmt.Sprintf("clusters %s and %s both use kubeconfig context %q: one API server would get both clusters' objects; give each cluster its own context",
				prev.Name, c.Name, c.Context)}
		prev.Diags.Add(d)
		c.Diags.Add(d)
	}
}

// contextPos is where a cluster's context was set: its `context` field, else its `name` (the context
// it falls back to), else the declaration.
func contextPos(c *Cluster) diag.Position {
	for _, f := range []string{"context", "name"} {
		if p, ok := c.Decl.Pos(f); ok {
			return p
		}
	}
	return c.DeclPos
}
