package validate

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/version"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/engine"
	"github.com/vmo-cue/vmo-cue/internal/macs"
	"github.com/vmo-cue/vmo-cue/internal/settings"
)

// resolveSettings layers the cluster's settings over the fleet's defaults and the stack's defaults,
// and checks what types cannot: versions, gates, CPU hotplug and component dependencies.
func resolveSettings(c *Cluster, f *engine.Fleet, b *engine.Builtin) {
	merged, pos := engine.Merge(engine.NewLayer(b.SettingsDefaults), f.Defaults, c.Decl)
	c.Merged = merged
	c.settingPos = pos
	// Once resolved (images, derived VLANs, gates), the settings are decoded into their types; a value
	// of another type than the schema's is left out (CUE reports it).
	defer func() { c.Settings, _ = settings.Decode(merged, pos) }()
	c.Stack, _ = merged["stack"].(map[string]any)
	c.Namespace, _ = merged["namespace"].(string)
	c.L2Domain, _ = merged["l2Domain"].(string)
	c.MACPolicy = macPolicy(c, merged, b)
	if !c.Declared {
		return
	}
	resolveImages(c, b)
	checkKubeVirt(c, b)
	checkCDI(c, b)
	checkNetworkNamespaces(c)
	resolveVLANFiltering(c) // vlanfilter.go
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
		if p, ok := c.settingPos(path[:i]...); ok {
			return []diag.Position{p}
		}
	}
	return []diag.Position{c.DeclPos}
}

func pathOf(path []string) string { return engine.PathString(append([]string{"cluster"}, path...)...) }

func (c *Cluster) userSet(path ...string) bool {
	p, ok := c.settingPos(path...)
	return ok && p.File != ""
}

// get, getBool and getStr read a field of nested maps: nil, false or "" where it is absent or of
// another type.
func get(m map[string]any, path ...string) any {
	v, _, _ := unstructured.NestedFieldNoCopy(m, path...)
	return v
}

func getBool(m map[string]any, path ...string) bool {
	b, _, _ := unstructured.NestedBool(m, path...)
	return b
}

func getStr(m map[string]any, path ...string) string {
	s, _, _ := unstructured.NestedString(m, path...)
	return s
}

// minorOf returns the minor of a version ("v1.7" of "v1.7.0", "v1.7" or "v1.7.0-rc.1"); a version
// that is no "v"-prefixed major.minor is returned as it is (no table knows it).
func minorOf(v string) string {
	if !strings.HasPrefix(v, "v") {
		return v
	}
	p, err := version.ParseGeneric(v)
	if err != nil {
		return v
	}
	return fmt.Sprintf("v%d.%d", p.Major(), p.Minor())
}

// minorLess orders minors ("v1.9" before "v1.10"); one that does not parse counts as v0.0.
func minorLess(a, b string) bool {
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
	sort.Slice(ks, func(i, j int) bool { return minorLess(ks[i], ks[j]) })
	return strings.Join(ks, ", ")
}

func checkKubeVirt(c *Cluster, b *engine.Builtin) {
	kv, _ := c.Stack["kubevirt"].(map[string]any)
	if kv == nil || !getBool(kv, "enabled") {
		return
	}
	version := getStr(kv, "version")
	minor := minorOf(version)
	table, ok := b.KubeVirtGates[minor]
	if !ok {
		c.errorAt("kubevirt-version", []string{"stack", "kubevirt", "version"},
			"KubeVirt %s is not supported: the feature gate table knows %s", version, knownMinors(b.KubeVirtGates))
		return
	}
	gates, _ := kv["featureGates"].(map[string]any)
	if getBool(kv, "cpuHotplug") {
		checkCPUHotplug(c, kv, minor)
		if minorLess(minor, "v1.5") {
			if gates == nil {
				gates = map[string]any{}
			}
			gates["VMLiveUpdateFeatures"] = true
		}
	}
	c.KubeVirtGates = checkGates(c, gates, table, []string{"stack", "kubevirt", "featureGates"}, "KubeVirt "+version)
	c.kubevirt = &kubevirtInfo{version: version, minor: minor, gates: table}
}

func checkCPUHotplug(c *Cluster, kv map[string]any, minor string) {
	if s := getStr(kv, "vmRolloutStrategy"); s != "LiveUpdate" {
		c.errorAt("cpu-hotplug", []string{"stack", "kubevirt", "vmRolloutStrategy"},
			"cpuHotplug needs vmRolloutStrategy LiveUpdate, not %s (set cpuHotplug: false to use %s)", s, s)
	}
	methods, _ := kv["workloadUpdateMethods"].([]any)
	for _, m := range methods {
		if m == "LiveMigrate" {
			return
		}
	}
	c.errorAt("cpu-hotplug", []string{"stack", "kubevirt", "workloadUpdateMethods"},
		"cpuHotplug needs LiveMigrate among workloadUpdateMethods (a hotplugged VM is live-migrated to apply the change)")
}

func checkCDI(c *Cluster, b *engine.Builtin) {
	cdi, _ := c.Stack["cdi"].(map[string]any)
	if cdi == nil || !getBool(cdi, "enabled") {
		return
	}
	version := getStr(cdi, "version")
	gates, _ := cdi["featureGates"].(map[string]any)
	table, ok := b.CDIGates[minorOf(version)]
	if !ok {
		c.warnAt("cdi-version", []string{"stack", "cdi", "version"},
			"CDI %s is not in the feature gate table (%s): its gates are rendered unchecked", version, knownMinors(b.CDIGates))
		for name, on := range gates {
			if on == true {
				c.CDIGates = append(c.CDIGates, name)
			}
		}
		sort.Strings(c.CDIGates)
		return
	}
	c.CDIGates = checkGates(c, gates, table, []string{"stack", "cdi", "featureGates"}, "CDI "+version)
}

// checkGates checks gate names against a version's table and returns the gates to render.
func checkGates(c *Cluster, gates map[string]any, table map[string]engine.GateState, at []string, product string) []string {
	names := make([]string, 0, len(gates))
	for name := range gates {
		names = append(names, name)
	}
	sort.Strings(names)
	var render []string
	for _, name := range names {
		on, _ := gates[name].(bool)
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
			if on {
				if user {
					c.warnAt("feature-gate", path, "feature gate %q is deprecated in %s%s", name, product, replacedBy(st))
				}
				render = append(render, name)
			}
		default:
			if on {
				render = append(render, name)
			}
		}
	}
	return render
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
func macPolicy(c *Cluster, merged map[string]any, b *engine.Builtin) macs.Policy {
	mac, _ := get(merged, "policy", "mac").(map[string]any)
	if getStr(mac, "allow") == "locallyAdministered" {
		return macs.Policy{LocallyAdministered: true}
	}
	list, _ := mac["prefixes"].([]any)
	if len(list) == 0 {
		list, _ = get(b.SettingsDefaults, "policy", "mac", "prefixes").([]any)
	}
	var p macs.Policy
	for i, x := range list {
		s, _ := x.(string)
		pre, err := macs.ParsePrefix(s)
		if err != nil {
			c.errorAt("mac-policy", []string{"policy", "mac", "prefixes", strconv.Itoa(i)}, "%v", err)
			continue
		}
		p.Prefixes = append(p.Prefixes, pre)
	}
	return p
}

// resolveImages sets each enabled component's operator image from its version, unless a layer set
// the image itself; a set image whose tag does not carry the version earns a warning.
func resolveImages(c *Cluster, b *engine.Builtin) {
	for comp, img := range b.Images {
		m, _ := c.Stack[comp].(map[string]any)
		if m == nil || !getBool(m, "enabled") {
			continue
		}
		version := getStr(m, "version")
		tag := strings.ReplaceAll(strings.ReplaceAll(img.Tag, "{version}", version), "{semver}", strings.TrimPrefix(version, "v"))
		op, _ := m["operator"].(map[string]any)
		if op == nil {
			op = map[string]any{}
			m["operator"] = op
		}
		if set := getStr(op, "image"); set != "" {
			if version != "" && !strings.Contains(set, strings.TrimPrefix(version, "v")) {
				c.warnAt("image-version", []string{"stack", comp, "operator", "image"},
					"operator image %s does not carry version %s: the image is what runs", set, version)
			}
			continue
		}
		op["image"] = img.Repository + ":" + tag
	}
}
