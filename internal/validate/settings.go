package validate

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/util/version"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/engine"
	"github.com/vmo-cue/vmo-cue/internal/macs"
	"github.com/vmo-cue/vmo-cue/internal/settings"
)

// checkSettings layers the cluster's settings over the fleet's defaults and the stack's defaults,
// decodes them once into their types, and checks what types cannot: versions, gates, CPU hotplug,
// operator images and component dependencies. It resolves nothing (internal/resolve does).
func checkSettings(c *Cluster, f *engine.Fleet, b *engine.Builtin) {
	merged, pos := engine.Merge(engine.NewLayer(b.SettingsDefaults), f.Defaults, c.Decl)
	// A value of another type than the schema's is left out: CUE reports it (engine).
	c.Settings, _ = settings.Decode(merged, pos)
	c.Namespace = c.Settings.Namespace
	c.L2Domain = c.Settings.L2Domain
	c.MACPolicy = macPolicy(c, b)
	if !c.Declared {
		return
	}
	checkImages(c, b)
	checkKubeVirt(c, b)
	checkCDI(c, b)
	checkNetworkNamespaces(c)
}

func (c *Cluster) errorAt(rule string, path []string, format string, args ...any) {
	c.Diags.Errorf(rule, pathOf(path), c.positions(path), format, args...)
}

func (c *Cluster) warnAt(rule string, path []string, format string, args ...any) {
	c.Diags.Warnf(rule, pathOf(path), c.positions(path), format, args...)
}

// positions finds where a setting was written, falling back to the cluster declaration.
func (c *Cluster) positions(path []string) []diag.Position {
	for i := len(path); i > 0; i-- {
		if p, ok := c.Settings.Pos(path[:i]...); ok {
			return []diag.Position{p}
		}
	}
	return []diag.Position{c.DeclPos}
}

func pathOf(path []string) string { return engine.PathString(append([]string{"cluster"}, path...)...) }

func (c *Cluster) userSet(path ...string) bool {
	p, ok := c.Settings.Pos(path...)
	return ok && p.File != ""
}

// MinorOf returns the minor of a version ("v1.7" of "v1.7.0", "v1.7" or "v1.7.0-rc.1"); a version
// that is no "v"-prefixed major.minor is returned as it is (no table knows it).
func MinorOf(v string) string {
	if !strings.HasPrefix(v, "v") {
		return v
	}
	p, err := version.ParseGeneric(v)
	if err != nil {
		return v
	}
	return fmt.Sprintf("v%d.%d", p.Major(), p.Minor())
}

// MinorLess orders minors ("v1.9" before "v1.10"); one that does not parse counts as v0.0.
func MinorLess(a, b string) bool {
	return parseMinor(a).LessThan(parseMinor(b))
}

func parseMinor(m string) *version.Version {
	v, err := version.ParseGeneric(m)
	if err != nil {
		return version.MajorMinor(0, 0)
	}
	return version.MajorMinor(v.Major(), v.Minor())
}

func knownMinors(t map[string]map[string]engine.GateState) string {
	var ks []string
	for k := range t {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { return MinorLess(ks[i], ks[j]) })
	return strings.Join(ks, ", ")
}

func checkKubeVirt(c *Cluster, b *engine.Builtin) {
	kv := &c.Settings.Stack.KubeVirt
	if !kv.On() {
		return
	}
	version := kv.Version
	minor := MinorOf(version)
	table, ok := b.KubeVirtGates[minor]
	if !ok {
		c.errorAt("kubevirt-version", []string{"stack", "kubevirt", "version"},
			"KubeVirt %s is not supported: the feature gate table knows %s", version, knownMinors(b.KubeVirtGates))
		return
	}
	if kv.CPUHotplug != nil && *kv.CPUHotplug {
		checkCPUHotplug(c, kv) // the gate it needs before v1.5 is resolve's to add
	}
	checkGates(c, kv.FeatureGates, table, []string{"stack", "kubevirt", "featureGates"}, "KubeVirt "+version)
	c.kubevirt = &kubevirtInfo{version: version, minor: minor, gates: table}
}

func checkCPUHotplug(c *Cluster, kv *settings.KubeVirt) {
	if s := kv.VMRolloutStrategy; s != "LiveUpdate" {
		c.errorAt("cpu-hotplug", []string{"stack", "kubevirt", "vmRolloutStrategy"},
			"cpuHotplug needs vmRolloutStrategy LiveUpdate, not %s (set cpuHotplug: false to use %s)", s, s)
	}
	if slices.Contains(kv.WorkloadUpdateMethods, "LiveMigrate") {
		return
	}
	c.errorAt("cpu-hotplug", []string{"stack", "kubevirt", "workloadUpdateMethods"},
		"cpuHotplug needs LiveMigrate among workloadUpdateMethods (a hotplugged VM is live-migrated to apply the change)")
}

func checkCDI(c *Cluster, b *engine.Builtin) {
	cdi := &c.Settings.Stack.CDI
	if !cdi.On() {
		return
	}
	version := cdi.Version
	table, ok := b.CDIGates[MinorOf(version)]
	if !ok {
		c.warnAt("cdi-version", []string{"stack", "cdi", "version"},
			"CDI %s is not in the feature gate table (%s): its gates are rendered unchecked", version, knownMinors(b.CDIGates))
		return
	}
	checkGates(c, cdi.FeatureGates, table, []string{"stack", "cdi", "featureGates"}, "CDI "+version)
}

// checkGates checks gate names against a version's table (which of them render is resolve's, by
// engine.GateState.Rendered).
func checkGates(c *Cluster, gates map[string]bool, table map[string]engine.GateState, at []string, product string) {
	names := make([]string, 0, len(gates))
	for name := range gates {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		on := gates[name]
		path := append(append([]string(nil), at...), name)
		user := c.userSet(path...)
		st, known := table[name]
		switch {
		case !known:
			msg := fmt.Sprintf("unknown feature gate %q for %s", name, product)
			if s := suggest(name, table); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			c.errorAt("feature-gate", path, "%s: the operator would ignore it silently", msg)
		case st.State == "GA":
			if user && on {
				c.warnAt("feature-gate", path, "feature gate %q is GA in %s: always on, not rendered", name, product)
			} else if user && !on {
				c.warnAt("feature-gate", path, "feature gate %q is GA in %s and cannot be switched off", name, product)
			}
		case st.State == "Discontinued":
			if user {
				c.warnAt("feature-gate", path, "feature gate %q is discontinued in %s%s: not rendered", name, product, replacedBy(st))
			}
		case st.State == "Deprecated":
			if on && user {
				c.warnAt("feature-gate", path, "feature gate %q is deprecated in %s%s", name, product, replacedBy(st))
			}
		}
	}
}

func replacedBy(st engine.GateState) string {
	if st.Replacement == "" {
		return ""
	}
	return "; use " + st.Replacement + " instead"
}

// suggest finds the known gate closest to a misspelled one.
func suggest(name string, table map[string]engine.GateState) string {
	best, bestD := "", 4
	for k := range table {
		if d := distance(strings.ToLower(name), strings.ToLower(k)); d < bestD || (d == bestD && k < best) {
			best, bestD = k, d
		}
	}
	return best
}

func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// macPolicy reads the cluster's MAC policy; an empty prefix list means the default policy's
// (policies.DefaultMACPolicy, through SettingsDefaults: the one copy).
func macPolicy(c *Cluster, b *engine.Builtin) macs.Policy {
	mac := c.Settings.Policy.MAC
	if mac.Allow == "locallyAdministered" {
		return macs.Policy{LocallyAdministered: true}
	}
	list := mac.Prefixes
	if len(list) == 0 {
		list = defaultPrefixes(b)
	}
	var p macs.Policy
	for i, s := range list {
		pre, err := macs.ParsePrefix(s)
		if err != nil {
			c.errorAt("mac-policy", []string{"policy", "mac", "prefixes", strconv.Itoa(i)}, "%v", err)
			continue
		}
		p.Prefixes = append(p.Prefixes, pre)
	}
	return p
}

// defaultPrefixes are the MAC prefixes of the built-in defaults (decoded once per Builtin).
func defaultPrefixes(b *engine.Builtin) []string {
	if p, ok := defaultPrefixesOf.Load(b); ok {
		return p.([]string)
	}
	d, _ := settings.Decode(b.SettingsDefaults, nil)
	defaultPrefixesOf.Store(b, d.Policy.MAC.Prefixes)
	return d.Policy.MAC.Prefixes
}

var defaultPrefixesOf sync.Map // *engine.Builtin -> []string

// checkImages warns about an operator image a layer set whose tag does not carry the component's
// version (the image is what runs; an unset image is resolve's to derive from the version).
func checkImages(c *Cluster, b *engine.Builtin) {
	for _, part := range c.Settings.Stack.Parts() {
		if _, known := b.Images[part.Name]; !known || !part.On {
			continue
		}
		set, version := part.Image(), part.Version
		if set != "" && version != "" && !strings.Contains(set, strings.TrimPrefix(version, "v")) {
			c.warnAt("image-version", []string{"stack", part.Name, "operator", "image"},
				"operator image %s does not carry version %s: the image is what runs", set, version)
		}
	}
}

// operatorImage is the image a component's operator will run: the one a layer set, else the one
// its version gives (engine.Image.For, which resolve writes into the stack); "" for a component
// without a built-in image.
func operatorImage(part settings.Part, b *engine.Builtin) string {
	if set := part.Image(); set != "" {
		return set
	}
	if img, known := b.Images[part.Name]; known {
		return img.For(part.Version)
	}
	return ""
}
