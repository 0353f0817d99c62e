// Package palette imports what operators bring from Palette: the values file of the VMO pack
// ("virtual-machine-orchestrator", the Helm values under charts.virtual-machine-orchestrator) into a
// vmo-cue cluster declaration, and Palette's VM templates (spectrocloud.com/v1 VmTemplate) into plain
// KubeVirt VirtualMachines. Every value of the input is either carried over, with a comment saying
// where it came from, or listed as not carried with the reason: nothing is dropped silently.
package palette

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/yamldoc"
)

// ChartPath is where the pack's values live in a values file.
var ChartPath = []string{"charts", "virtual-machine-orchestrator"}

// Reasons a value is not carried over.
const (
	// NoEquivalent: vmo-cue's model has no such setting.
	NoEquivalent = "no equivalent"
	// HelmOnly: how the chart deploys its own objects (names, service accounts, pull policies,
	// resources, scheduling, services): vmo-cue renders its own objects.
	HelmOnly = "Helm-only"
	// Placeholder: a template placeholder (${...} or {{ ... }}) Palette fills in at deploy time.
	Placeholder = "placeholder"
)

// Item is one value of the input not carried over.
type Item struct {
	Path   string `json:"path"`
	Line   int    `json:"line"`
	Value  string `json:"value"`
	Reason string `json:"reason"`
	// Detail says why, for a person.
	Detail string `json:"detail"`
	// Count is the number of values folded into this item (list elements), 1 for one value; Also
	// are the lines of the others.
	Count int   `json:"count"`
	Also  []int `json:"also,omitempty"`
}

func (it Item) String(file string) string {
	also := ""
	if len(it.Also) > 0 {
		l := make([]string, len(it.Also))
		for i, n := range it.Also {
			l[i] = strconv.Itoa(n)
		}
		also = " (also at line " + strings.Join(l, ", ") + ")"
		if len(l) > 1 {
			also = " (also at lines " + strings.Join(l, ", ") + ")"
		}
	}
	return fmt.Sprintf("%s:%d: %s = %s%s: %s: %s", diag.Name(file), it.Line, it.Path, oneLine(it.Value), also, it.Reason, it.Detail)
}

// leaf is one scalar of the values file.
type leaf struct {
	path []string
	line int
	val  any
	used bool
}

// values reads a values file and tracks which of its scalars were carried over.
type values struct {
	file     string
	doc      *yamldoc.Doc
	leaves   []*leaf
	byPrefix map[string][]*leaf
	notes    []Item
}

func readValues(file string, data []byte) (*values, error) {
	docs, problems := yamldoc.Decode(file, data)
	if problems.HasErrors() {
		var b strings.Builder
		_ = problems.Print(&b)
		return nil, fmt.Errorf("%s", strings.TrimSpace(b.String()))
	}
	if len(docs) != 1 {
		return nil, fmt.Errorf("%s: want one YAML document (the pack's values), found %d", diag.Name(file), len(docs))
	}
	v := &values{file: file, doc: docs[0], byPrefix: map[string][]*leaf{}}
	if _, ok := v.lookup(ChartPath); !ok {
		return nil, fmt.Errorf("%s: no %s: not the values of Palette's VMO pack", diag.Name(file), strings.Join(ChartPath, "."))
	}
	v.flatten(docs[0].Value, nil)
	return v, nil
}

func (v *values) flatten(x any, path []string) {
	switch t := x.(type) {
	case map[string]any:
		for _, k := range sortedKeys(t) {
			v.flatten(t[k], append(append([]string(nil), path...), k))
		}
		return
	case []any:
		for i, e := range t {
			v.flatten(e, append(append([]string(nil), path...), strconv.Itoa(i)))
		}
		return
	case nil:
		return // sets nothing
	case string:
		if t == "" {
			return
		}
	}
	l := &leaf{path: path, line: v.doc.Pos(path).Line, val: x}
	v.leaves = append(v.leaves, l)
	for i := 0; i <= len(path); i++ {
		k := strings.Join(path[:i], "\x00")
		v.byPrefix[k] = append(v.byPrefix[k], l)
	}
}

func (v *values) lookup(path []string) (any, bool) {
	var x any = v.doc.Value
	for _, p := range path {
		switch t := x.(type) {
		case map[string]any:
			var ok bool
			if x, ok = t[p]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(t) {
				return nil, false
			}
			x = t[i]
		default:
			return nil, false
		}
	}
	return x, true
}

// chart is a path below charts.virtual-machine-orchestrator.
func chart(p ...string) []string { return append(append([]string(nil), ChartPath...), p...) }

func dotted(path []string) string { return strings.Join(path, ".") }

// use marks every scalar under path as carried over.
func (v *values) use(path []string) {
	for _, l := range v.byPrefix[strings.Join(path, "\x00")] {
		l.used = true
	}
}

// from is the comment naming where a value came from.
func (v *values) from(path []string) string {
	return fmt.Sprintf("from %s (%s:%d)", dotted(path[len(ChartPath):]), v.file, v.doc.Pos(path).Line)
}

func placeholder(s string) bool { return strings.Contains(s, "${") || strings.Contains(s, "{{") }

// get returns the value at path and marks it carried over. A placeholder is not a value: it is
// reported and get says there is none, so the setting keeps vmo-cue's default.
func (v *values) get(path []string) (any, bool) {
	x, ok := v.lookup(path)
	if !ok || x == nil {
		return nil, false
	}
	if s, isStr := x.(string); isStr {
		if s == "" {
			return nil, false
		}
		if placeholder(s) {
			return nil, false // left for the report
		}
	}
	v.use(path)
	return x, true
}

func (v *values) getString(path []string) (string, bool) {
	x, ok := v.get(path)
	if !ok {
		return "", false
	}
	switch t := x.(type) {
	case string:
		return t, true
	case float64:
		return num(t), true
	case bool:
		return boolLit(t), true
	}
	v.unuse(path)
	return "", false
}

func (v *values) getBool(path []string) (bool, bool) {
	x, ok := v.lookup(path)
	b, isBool := x.(bool)
	if !ok || !isBool {
		return false, false
	}
	v.use(path)
	return b, true
}

func (v *values) getNumber(path []string) (float64, bool) {
	x, ok := v.lookup(path)
	f, isNum := x.(float64)
	if !ok || !isNum {
		return 0, false
	}
	v.use(path)
	return f, true
}

// getStrings returns a list of strings (placeholders left out, for the report).
func (v *values) getStrings(path []string) ([]string, bool) {
	x, ok := v.lookup(path)
	l, isList := x.([]any)
	if !ok || !isList {
		return nil, false
	}
	var out []string
	for i, e := range l {
		s, isStr := e.(string)
		if !isStr || placeholder(s) {
			continue
		}
		out = append(out, s)
		v.use(append(append([]string(nil), path...), strconv.Itoa(i)))
	}
	return out, true
}

func (v *values) unuse(path []string) {
	for _, l := range v.byPrefix[strings.Join(path, "\x00")] {
		l.used = false
	}
}

// drop reports the scalars under path as not carried over, for the reason given, unless they are.
func (v *values) drop(path []string, reason, detail string) {
	for _, l := range v.byPrefix[strings.Join(path, "\x00")] {
		if !l.used {
			v.notes = append(v.notes, Item{Path: dotted(l.path), Line: l.line, Value: render(l.val), Reason: reason, Detail: detail, Count: 1})
			l.used = true
		}
	}
}

func render(x any) string {
	switch t := x.(type) {
	case string:
		return strconv.Quote(t)
	case float64:
		return num(t)
	}
	return fmt.Sprint(x)
}

// helmOnly are keys of the chart's values that say how Helm deploys its objects.
var helmOnly = map[string]bool{
	"pullPolicy": true, "imagePullPolicy": true, "imagePullSecrets": true, "nameOverride": true, "fullnameOverride": true,
	"serviceAccount": true, "podAnnotations": true, "podLabels": true, "resources": true, "nodeSelector": true,
	"tolerations": true, "affinity": true, "securityContext": true, "podSecurityContext": true, "service": true,
	"ingress": true, "namespaceLabels": true, "commonLabels": true, "livenessProbe": true, "dnsConfig": true,
	"priorityClassName": true, "rbac": true, "serviceMonitor": true, "cronJobApiVersion": true,
	"deschedulerPolicyAPIVersion": true, "command": true, "cmdOptions": true, "ports": true,
	"topologySpreadConstraints": true, "hooksleepTime": true, "cleanup": true, "namespaceOverride": true,
	"leaderElection": true, "extraArgs": true, "replicas": false,
}

// rest reports every scalar not carried over: placeholders as such, Helm-only settings as such, the
// rest as having no equivalent; list elements of one list are folded into one item.
func (v *values) rest() []Item {
	for _, l := range v.leaves {
		if l.used {
			continue
		}
		it := Item{Path: dotted(l.path), Line: l.line, Value: render(l.val), Reason: NoEquivalent, Count: 1,
			Detail: "vmo-cue's model has no such setting"}
		if s, ok := l.val.(string); ok && placeholder(s) {
			it.Reason, it.Detail = Placeholder, "Palette fills it in at deploy time: set the value in the cluster file yourself (vmo-cue's default is used meanwhile)"
		} else if len(l.path) < len(ChartPath) || dotted(l.path[:len(ChartPath)]) != dotted(ChartPath) {
			it.Detail = "outside " + dotted(ChartPath) + ": Palette's pack metadata, not a setting of the stack"
		} else {
			// Keys of the chart's own layout (a component's first levels), not of the custom
			// resources the chart renders.
			top := l.path[len(ChartPath):min(len(l.path), len(ChartPath)+3)]
			for _, p := range top {
				if p == "kubevirtResource" || p == "cdiResource" || p == "deschedulerPolicy" {
					break
				}
				if helmOnly[p] {
					it.Reason, it.Detail = HelmOnly, "how the Helm chart deploys its own objects: vmo-cue renders its own"
					break
				}
			}
		}
		v.notes = append(v.notes, it)
	}
	return fold(v.notes)
}

// fold folds items that differ only by list indexes into one, and orders them by line.
func fold(items []Item) []Item {
	sort.SliceStable(items, func(i, j int) bool { return items[i].Line < items[j].Line })
	var out []Item
	index := map[string]int{}
	for _, it := range items {
		parts := strings.Split(it.Path, ".")
		for i, p := range parts {
			if _, err := strconv.Atoi(p); err == nil {
				parts[i] = "*"
			}
		}
		key := strings.Join(parts, ".") + "\x00" + it.Reason + "\x00" + it.Detail
		if j, ok := index[key]; ok && strings.Contains(key, "*") {
			out[j].Count++
			out[j].Also = append(out[j].Also, it.Line)
			continue
		}
		index[key] = len(out)
		if strings.Contains(key, "*") {
			it.Path = strings.Join(parts, ".")
		}
		out = append(out, it)
	}
	for i := range out {
		if out[i].Count > 1 {
			out[i].Value = fmt.Sprintf("%d values", out[i].Count)
		}
	}
	return out
}
