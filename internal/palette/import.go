package palette

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/engine"
)

// Result is an imported cluster.
type Result struct {
	// CUE is clusters/NAME/cluster.cue.
	CUE []byte
	// NotCarried lists every value of the input not carried over, with the reason.
	NotCarried []Item
}

// Options name the cluster imported.
type Options struct {
	Cluster string
	// Kind is "edge" or "datacenter".
	Kind string
}

var (
	nameRE    = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	versionRE = regexp.MustCompile(`^v?([0-9]+\.[0-9]+(\.[0-9]+)?)`)
)

// Import turns the values file of Palette's VMO pack into a cluster declaration: every switch, gate,
// version (from the image tags) and setting with an equivalent in vmo-cue's stack, each with a comment
// naming its source line; what has none is in Result.NotCarried and in a comment block at the end.
func Import(file string, data []byte, opts Options) (*Result, error) {
	if !nameRE.MatchString(opts.Cluster) || len(opts.Cluster) > 63 {
		return nil, fmt.Errorf("--cluster %s: want a DNS-1123 label (lower-case letters, digits, '-')", diag.Name(opts.Cluster))
	}
	if opts.Kind != "edge" && opts.Kind != "datacenter" {
		return nil, fmt.Errorf("--kind %s: want edge or datacenter", diag.Name(opts.Kind))
	}
	b, err := engine.LoadBuiltin()
	if err != nil {
		return nil, err
	}
	v, err := readValues(file, data)
	if err != nil {
		return nil, err
	}
	im := &importer{v: v, b: b, t: newTree()}
	c := im.t.at("cluster")
	c.comments = []string{fmt.Sprintf("Imported by `vmo-cue import palette` from %s (Palette's VMO pack values).", file),
		"Settings not written here come from the fleet's defaults, then from vmo-cue's (the stack as the pack ships it)."}
	im.t.set([]string{"cluster", "name"}, str(opts.Cluster))
	im.t.set([]string{"cluster", "kind"}, str(opts.Kind))
	im.dashboard()
	im.kubevirt()
	im.cdi()
	im.multus()
	im.descheduler()
	im.snapshot()
	im.vlanFiltering()
	im.chartLevel()
	notCarried := v.rest()
	var text strings.Builder
	text.WriteString("package fleet\n\n")
	im.t.write(&text, 0)
	if len(notCarried) > 0 {
		text.WriteString("\n// Not carried over from " + oneLine(file) + " (vmo-cue import palette lists these too):\n")
		for _, it := range notCarried {
			text.WriteString("//   " + oneLine(it.String(file)) + "\n")
		}
	}
	out, err := source(text.String())
	if err != nil {
		return nil, err
	}
	return &Result{CUE: out, NotCarried: notCarried}, nil
}

type importer struct {
	v *values
	b *engine.Builtin
	t *tree
	// kubevirtVersion is the version carried over ("" for vmo-cue's default).
	kubevirtVersion string
}

func stack(p ...string) []string { return append([]string{"cluster", "stack"}, p...) }

// enabled carries a component's enabled switch.
func (im *importer) enabled(values []string, comp string) {
	if on, ok := im.v.getBool(append(values, "enabled")); ok {
		im.t.set(stack(comp, "enabled"), boolLit(on), im.v.from(append(values, "enabled")))
	}
}

// image carries a component's image: its tag gives the version; a repository other than the one
// vmo-cue uses pins the image (a mirror such as Palette's registry).
func (im *importer) image(imagePath []string, comp string, tagToVersion func(string) (string, bool)) string {
	repoPath, tagPath := append(slicesClone(imagePath), "repository"), append(slicesClone(imagePath), "tag")
	tag, hasTag := im.v.getString(tagPath)
	if !hasTag {
		if t, ok := im.v.lookup(tagPath); ok {
			if s, _ := t.(string); placeholder(s) {
				im.v.drop(repoPath, Placeholder, "the image's tag is a placeholder: the version and image stay vmo-cue's default")
			}
		}
		return ""
	}
	version, ok := tagToVersion(tag)
	if !ok {
		im.v.unuse(tagPath)
		im.v.drop(tagPath, NoEquivalent, "the tag is not a version vmo-cue can take")
		return ""
	}
	im.t.set(stack(comp, "version"), str(version), im.v.from(tagPath))
	repo, hasRepo := im.v.getString(repoPath)
	if !hasRepo {
		return version
	}
	if def, ok := im.b.Images[comp]; ok && def.Repository == repo {
		im.t.note(stack(comp, "version"), fmt.Sprintf("image %s (%s) is vmo-cue's own for this version", repo, im.v.from(repoPath)))
		return version
	}
	im.t.set(stack(comp, "operator", "image"), str(repo+":"+tag), im.v.from(repoPath)+" and the tag",
		"a pinned image: change its tag with the version")
	return version
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

func semverTag(tag string) (string, bool) {
	m := versionRE.FindStringSubmatch(tag)
	if m == nil {
		return "", false
	}
	return "v" + m[1], true
}

// exactTag accepts a tag that is a version and nothing else ("v1.4.0", "4.6.3").
func exactTag(suffix string) func(string) (string, bool) {
	return func(tag string) (string, bool) {
		t := strings.TrimSuffix(tag, suffix)
		v, ok := semverTag(t)
		if !ok || strings.TrimPrefix(v, "v") != strings.TrimPrefix(t, "v") {
			return "", false
		}
		return v, true
	}
}

func (im *importer) dashboard() {
	im.t.note(stack("dashboard"), "The pack always installs the Spectro VM Dashboard: it has no switch there.")
	im.image(chart("image"), "dashboard", exactTag(""))
}

func (im *importer) kubevirt() {
	kv := chart("kubevirt")
	im.enabled(kv, "kubevirt")
	im.kubevirtVersion = im.image(append(kv, "image"), "kubevirt", exactTag(""))
	im.replicas(append(kv, "replicas"), "kubevirt")
	im.fixed(append(kv, "namespace"), "kubevirt", "vmo-cue renders KubeVirt into the namespace kubevirt", stack("kubevirt"))
	res := append(slicesClone(kv), "kubevirtResource")
	im.fixed(append(res, "name"), "kubevirt", "vmo-cue names the KubeVirt CR kubevirt", stack("kubevirt"))
	if emu, ok := im.v.lookup(append(res, "useEmulation")); ok && emu == false {
		im.v.use(append(res, "useEmulation"))
		im.t.note(stack("kubevirt"), "kubevirtResource.useEmulation: false, as in vmo-cue ("+strings.TrimPrefix(im.v.from(append(res, "useEmulation")), "from ")+")")
	}
	im.kubevirtGates(append(res, "additionalFeatureGates"))
	cfg := append(slicesClone(res), "config")
	for _, f := range []string{"evictionStrategy", "vmRolloutStrategy"} {
		if s, ok := im.v.getString(append(cfg, f)); ok {
			im.t.set(stack("kubevirt", f), str(s), im.v.from(append(cfg, f)))
		}
	}
	add := append(slicesClone(cfg), "additionalConfig")
	for _, f := range []string{"parallelMigrationsPerCluster", "parallelOutboundMigrationsPerNode", "completionTimeoutPerGiB", "progressTimeout"} {
		p := append(slicesClone(add), "migrations", f)
		if n, ok := im.v.getNumber(p); ok {
			im.t.set(stack("kubevirt", "migrations", f), num(n), im.v.from(p))
		}
	}
	for _, f := range []string{"allowAutoConverge", "allowPostCopy", "unsafeMigrationOverride"} {
		p := append(slicesClone(add), "migrations", f)
		if on, ok := im.v.getBool(p); ok {
			im.t.set(stack("kubevirt", "migrations", f), boolLit(on), im.v.from(p))
		}
	}
	if s, ok := im.v.getString(append(slicesClone(add), "migrations", "bandwidthPerMigration")); ok {
		im.t.set(stack("kubevirt", "migrations", "bandwidthPerMigration"), str(s), im.v.from(append(slicesClone(add), "migrations", "bandwidthPerMigration")))
	}
	for _, f := range []string{"maxHotplugRatio", "maxCpuSockets"} {
		p := append(slicesClone(add), "liveUpdateConfiguration", f)
		if n, ok := im.v.getNumber(p); ok {
			im.t.set(stack("kubevirt", "liveUpdate", f), num(n), im.v.from(p))
		}
	}
	if s, ok := im.v.getString(append(slicesClone(add), "liveUpdateConfiguration", "maxGuest")); ok {
		im.t.set(stack("kubevirt", "liveUpdate", "maxGuest"), str(s), im.v.from(append(slicesClone(add), "liveUpdateConfiguration", "maxGuest")))
	}
	wus := append(slicesClone(res), "workloadsUpdateStrategy")
	methods, hasMethods := im.v.getStrings(append(wus, "workloadUpdateMethods"))
	if hasMethods {
		im.t.set(stack("kubevirt", "workloadUpdateMethods"), strList(methods), im.v.from(append(wus, "workloadUpdateMethods"))+` (the pack's "workloadsUpdateStrategy")`)
	}
	if n, ok := im.v.getNumber(append(slicesClone(wus), "batchEvictionSize")); ok {
		im.t.set(stack("kubevirt", "workloadUpdate", "batchEvictionSize"), num(n), im.v.from(append(slicesClone(wus), "batchEvictionSize")))
	}
	if s, ok := im.v.getString(append(slicesClone(wus), "batchEvictionInterval")); ok {
		im.t.set(stack("kubevirt", "workloadUpdate", "batchEvictionInterval"), str(s), im.v.from(append(slicesClone(wus), "batchEvictionInterval")))
	}
	// CPU hotplug is what vmRolloutStrategy LiveUpdate with live migration as the update method
	// gives: vmo-cue's switch for it must agree with what was carried over.
	rollout, _ := im.v.lookup(append(cfg, "vmRolloutStrategy"))
	if rollout != nil || hasMethods {
		on := rollout == "LiveUpdate" && (!hasMethods || slices.Contains(methods, "LiveMigrate"))
		im.t.set(stack("kubevirt", "cpuHotplug"), boolLit(on),
			"derived: CPU hotplug is vmRolloutStrategy LiveUpdate with LiveMigrate as the workload update method")
	}
}

// kubevirtGates carries the pack's gate list: those listed on, vmo-cue's default gates not listed
// off (the pack renders exactly its list); names the version does not know are not carried.
func (im *importer) kubevirtGates(path []string) {
	gates, ok := im.v.getStrings(path)
	if !ok {
		return
	}
	version := im.kubevirtVersion
	if version == "" {
		kv, _ := im.b.Defaults["kubevirt"].(map[string]any)
		version, _ = kv["version"].(string)
	}
	minor := version
	if m := regexp.MustCompile(`^v[0-9]+\.[0-9]+`).FindString(version); m != "" {
		minor = m
	}
	table := im.b.KubeVirtGates[minor]
	listed := map[string]bool{}
	for i, g := range gates {
		_ = i
		listed[g] = true
	}
	raw, _ := im.v.lookup(path)
	for i, x := range raw.([]any) {
		g, _ := x.(string)
		p := append(slicesClone(path), fmt.Sprint(i))
		if _, known := table[g]; table != nil && !known && !placeholder(g) {
			im.v.unuse(p)
			im.v.drop(p, NoEquivalent, fmt.Sprintf("KubeVirt %s has no feature gate %q (vmo-cue's gate table; KubeVirt ignores unknown names)", minor, g))
			continue
		}
		if placeholder(g) {
			continue
		}
		im.t.set(stack("kubevirt", "featureGates", g), "true", im.v.from(p))
	}
	kv, _ := im.b.Defaults["kubevirt"].(map[string]any)
	defGates, _ := kv["featureGates"].(map[string]any)
	for _, g := range sortedKeys(defGates) {
		if on, _ := defGates[g].(bool); on && !listed[g] {
			if table[g].State == "GA" {
				continue // always on in that version: nothing to switch off
			}
			im.t.set(stack("kubevirt", "featureGates", g), "false",
				fmt.Sprintf("not in %s: off, as the pack renders only its list", dotted(path[len(ChartPath):])))
		}
	}
}

func (im *importer) replicas(path []string, comp string) {
	if n, ok := im.v.getNumber(path); ok {
		im.t.set(stack(comp, "operator", "replicas"), num(n), im.v.from(path))
	}
}

// fixed accepts a value that is what vmo-cue does anyway, and reports any other.
func (im *importer) fixed(path []string, want, detail string, at []string) {
	s, ok := im.v.lookup(path)
	if !ok {
		return
	}
	if s == want {
		im.v.use(path)
		im.t.note(at, fmt.Sprintf("%s: %s, as in vmo-cue (%s)", dotted(path[len(ChartPath):]), want, strings.TrimPrefix(im.v.from(path), "from ")))
		return
	}
	im.v.drop(path, NoEquivalent, detail)
}

func (im *importer) cdi() {
	cdi := chart("cdi")
	im.enabled(cdi, "cdi")
	im.image(append(cdi, "image"), "cdi", exactTag(""))
	im.replicas(append(cdi, "replicas"), "cdi")
	res := append(slicesClone(cdi), "cdiResource")
	if gates, ok := im.v.getStrings(append(res, "additionalFeatureGates")); ok {
		for i, g := range gates {
			im.t.set(stack("cdi", "featureGates", g), "true", im.v.from(append(slicesClone(res), "additionalFeatureGates", fmt.Sprint(i))))
		}
	}
	fo := append(slicesClone(res), "additionalConfig", "filesystemOverhead")
	if s, ok := im.v.getString(append(slicesClone(fo), "global")); ok {
		im.t.set(stack("cdi", "filesystemOverhead", "global"), str(s), im.v.from(append(slicesClone(fo), "global")))
	}
	if m, ok := im.v.lookup(append(slicesClone(fo), "storageClass")); ok {
		sc, _ := m.(map[string]any)
		for _, k := range sortedKeys(sc) {
			p := append(slicesClone(fo), "storageClass", k)
			if s, ok := im.v.getString(p); ok {
				im.t.set(stack("cdi", "filesystemOverhead", "storageClass", k), str(s), im.v.from(p))
			}
		}
	}
}

func (im *importer) multus() {
	m := chart("multus")
	im.enabled(m, "multus")
	im.image(append(m, "image"), "multus", exactTag("-thick"))
	nad := append(slicesClone(m), "networkAttachDef")
	create, _ := im.v.lookup(append(slicesClone(nad), "create"))
	if create != true {
		// create: false: the chart makes no network, whatever config says.
		im.v.use(nad)
		return
	}
	im.v.use(append(slicesClone(nad), "create"))
	createFrom := im.v.from(append(slicesClone(nad), "create"))
	cfgPath := append(slicesClone(nad), "config")
	raw, _ := im.v.lookup(cfgPath)
	s, _ := raw.(string)
	var cfg struct {
		Name        string         `json:"name"`
		Type        string         `json:"type"`
		Bridge      string         `json:"bridge"`
		VLAN        *int           `json:"vlan"`
		MTU         int            `json:"mtu"`
		MacSpoofChk *bool          `json:"macspoofchk"`
		IPAM        map[string]any `json:"ipam"`
		Preserve    *bool          `json:"preserveDefaultVlan"`
	}
	if err := json.Unmarshal([]byte(s), &cfg); err != nil || cfg.Type != "bridge" {
		im.v.drop(cfgPath, NoEquivalent, "vmo-cue's Multus networks are bridge CNI VLANs; this config is not one")
		return
	}
	name := cfg.Name
	if !nameRE.MatchString(name) {
		name = "imported"
	}
	n := stack("multus", "networks", name)
	vlan := 0
	if cfg.VLAN != nil {
		vlan = *cfg.VLAN
	}
	im.v.use(cfgPath)
	im.t.set(append(n, "vlan"), fmt.Sprint(vlan), im.v.from(cfgPath)+" (the network the chart creates, "+createFrom+")")
	if cfg.Bridge != "" {
		im.t.set(append(n, "bridge"), str(cfg.Bridge))
	}
	if cfg.MTU > 0 {
		im.t.set(append(n, "mtu"), fmt.Sprint(cfg.MTU))
	}
	if cfg.MacSpoofChk != nil {
		im.t.set(append(n, "macspoofchk"), boolLit(*cfg.MacSpoofChk))
	}
	if cfg.Preserve != nil {
		im.t.set(append(n, "preserveDefaultVlan"), boolLit(*cfg.Preserve))
	}
	if len(cfg.IPAM) > 0 {
		data, _ := json.Marshal(cfg.IPAM)
		im.t.set(append(n, "ipam"), string(data))
	}
}

func (im *importer) descheduler() {
	d := chart("descheduler")
	im.enabled(d, "descheduler")
	im.image(append(d, "image"), "descheduler", exactTag(""))
	im.fixed(append(d, "namespace"), "kube-system", "vmo-cue renders the descheduler into kube-system", stack("descheduler"))
	im.fixed(append(d, "kind"), "CronJob", "vmo-cue runs the descheduler as a CronJob", stack("descheduler"))
	if s, ok := im.v.getString(append(d, "schedule")); ok {
		im.t.set(stack("descheduler", "schedule"), str(s), im.v.from(append(d, "schedule")))
	}
	profiles, _ := im.v.lookup(append(d, "deschedulerPolicy", "profiles"))
	list, _ := profiles.([]any)
	if len(list) != 1 {
		return // none, or several: left for the report
	}
	pr := append(slicesClone(d), "deschedulerPolicy", "profiles", "0")
	enabledIn := func(ext string) ([]string, []string) {
		p := append(slicesClone(pr), "plugins", ext, "enabled")
		l, _ := im.v.getStrings(p)
		return l, p
	}
	deschedule, dp := enabledIn("deschedule")
	balance, bp := enabledIn("balance")
	pol := stack("descheduler", "policy")
	cite := func(list []string, path []string, name string) string {
		if i := slices.Index(list, name); i >= 0 {
			return im.v.from(append(slicesClone(path), fmt.Sprint(i)))
		}
		return "not in " + strings.TrimPrefix(im.v.from(path), "from ")
	}
	im.t.set(append(pol, "removePodsViolatingNodeTaints"), boolLit(slices.Contains(deschedule, "RemovePodsViolatingNodeTaints")), cite(deschedule, dp, "RemovePodsViolatingNodeTaints"))
	im.t.set(append(pol, "lowNodeUtilization", "enabled"), boolLit(slices.Contains(balance, "LowNodeUtilization")), cite(balance, bp, "LowNodeUtilization"))
	// The plugins vmo-cue renders are carried; the others are reported.
	for i, name := range deschedule {
		if name != "RemovePodsViolatingNodeTaints" {
			p := append(slicesClone(dp), fmt.Sprint(i))
			im.v.unuse(p)
			im.v.drop(p, NoEquivalent, "vmo-cue's descheduler policy has RemovePodsViolatingNodeTaints and LowNodeUtilization only")
		}
	}
	for i, name := range balance {
		if name != "LowNodeUtilization" {
			p := append(slicesClone(bp), fmt.Sprint(i))
			im.v.unuse(p)
			im.v.drop(p, NoEquivalent, "vmo-cue's descheduler policy has RemovePodsViolatingNodeTaints and LowNodeUtilization only")
		}
	}
	cfgs, _ := im.v.lookup(append(slicesClone(pr), "pluginConfig"))
	for i, c := range asList(cfgs) {
		cm, _ := c.(map[string]any)
		p := append(slicesClone(pr), "pluginConfig", fmt.Sprint(i))
		switch cm["name"] {
		case "LowNodeUtilization":
			im.v.use(append(slicesClone(p), "name"))
			im.t.note(append(slicesClone(pol), "lowNodeUtilization"), "its thresholds: "+im.v.from(append(slicesClone(p), "name")))
			for _, th := range []string{"thresholds", "targetThresholds"} {
				for _, res := range []string{"cpu", "memory", "pods"} {
					q := append(slicesClone(p), "args", th, res)
					if n, ok := im.v.getNumber(q); ok {
						im.t.set(append(slicesClone(pol), "lowNodeUtilization", th, res), num(n), im.v.from(q))
					}
				}
			}
		case "RemovePodsViolatingNodeTaints":
			im.v.use(append(slicesClone(p), "name"))
			ex, _ := im.v.getStrings(append(slicesClone(p), "args", "excludedTaints"))
			if slices.Equal(ex, []string{"node.kubernetes.io/unschedulable"}) {
				im.t.note(append(slicesClone(pol), "removePodsViolatingNodeTaints"), "its configuration "+im.v.from(append(slicesClone(p), "name"))+
					", excluding "+im.v.from(append(slicesClone(p), "args", "excludedTaints", "0"))+", as vmo-cue does")
			} else {
				im.v.unuse(append(slicesClone(p), "args", "excludedTaints"))
				im.v.unuse(append(slicesClone(p), "name"))
			}
		}
	}
}

func asList(x any) []any { l, _ := x.([]any); return l }

func (im *importer) snapshot() {
	s := chart("snapshot-controller")
	im.enabled(s, "snapshotController")
	im.image(append(s, "image"), "snapshotController", exactTag(""))
	im.replicas(append(s, "replicas"), "snapshotController")
	im.v.drop(append(slicesClone(s), "webhook"), NoEquivalent, "vmo-cue renders no snapshot validation webhook (the v8 snapshot controller validates by CRD rules)")
	vsc := append(slicesClone(s), "volumeSnapshotClass")
	create, _ := im.v.lookup(append(slicesClone(vsc), "create"))
	if create != true {
		if _, ok := im.v.lookup(vsc); ok {
			im.v.use(vsc)
			im.t.note(stack("volumeSnapshotController"), im.v.from(append(slicesClone(vsc), "create"))+": false, no VolumeSnapshotClass (the class's other fields have no effect there)")
		}
		return
	}
	im.v.use(append(slicesClone(vsc), "create"))
	name, ok := im.v.getString(append(slicesClone(vsc), "name"))
	if !ok || !nameRE.MatchString(name) {
		im.v.unuse(append(slicesClone(vsc), "name"))
		im.v.drop(vsc, NoEquivalent, "a VolumeSnapshotClass without a usable name")
		return
	}
	cls := stack("volumeSnapshotController", "classes", name)
	im.t.note(cls, "the class the chart creates: "+im.v.from(append(slicesClone(vsc), "create"))+", name "+im.v.from(append(slicesClone(vsc), "name")))
	if d, ok := im.v.getString(append(slicesClone(vsc), "driver")); ok {
		im.t.set(append(cls, "driver"), str(d), im.v.from(append(slicesClone(vsc), "driver")))
	}
	if d, ok := im.v.getString(append(slicesClone(vsc), "deletionPolicy")); ok {
		im.t.set(append(cls, "deletionPolicy"), str(d), im.v.from(append(slicesClone(vsc), "deletionPolicy")))
	}
	params, _ := im.v.lookup(append(slicesClone(vsc), "params"))
	pm, _ := params.(map[string]any)
	for _, k := range sortedKeys(pm) {
		p := append(slicesClone(vsc), "params", k)
		if val, ok := im.v.getString(p); ok {
			im.t.set(append(cls, "parameters", k), str(val), im.v.from(p))
		}
	}
}

// vlanFiltering: the bridge VLAN filtering DaemonSet, vmo-cue's vlanFiltering component.
func (im *importer) vlanFiltering() {
	vf := chart("vlanFiltering")
	im.enabled(vf, "vlanFiltering")
	im.fixed(append(slicesClone(vf), "namespace"), "kube-system", "vmo-cue renders VLAN filtering into kube-system", stack("vlanFiltering"))
	repo, okRepo := im.v.getString(append(slicesClone(vf), "image", "repository"))
	tag, okTag := im.v.getString(append(slicesClone(vf), "image", "tag"))
	if okRepo && okTag {
		im.t.set(stack("vlanFiltering", "operator", "image"), str(repo+":"+tag), im.v.from(append(slicesClone(vf), "image", "repository"))+", tag "+im.v.from(append(slicesClone(vf), "image", "tag")))
	} else {
		im.v.unuse(append(slicesClone(vf), "image"))
	}
	env := append(slicesClone(vf), "env")
	if b, ok := im.v.getString(append(slicesClone(env), "bridgeIF")); ok {
		im.t.set(stack("vlanFiltering", "bridge"), str(b), im.v.from(append(slicesClone(env), "bridgeIF")))
	}
	im.vlanList(append(slicesClone(env), "allowedVlans"), stack("vlanFiltering", "allowedVlans"),
		"listed, so not derived: leave it out to pass exactly the VLANs of the Multus networks on the bridge")
	if on, ok := im.v.getString(append(slicesClone(env), "allowVlansOnSelf")); ok {
		if on == "true" || on == "false" {
			im.t.set(stack("vlanFiltering", "host", "enabled"), on, im.v.from(append(slicesClone(env), "allowVlansOnSelf")))
		} else {
			im.v.unuse(append(slicesClone(env), "allowVlansOnSelf"))
		}
	}
	im.vlanList(append(slicesClone(env), "allowedVlansOnSelf"), stack("vlanFiltering", "host", "allowedVlans"))
}

var vlanItemRE = regexp.MustCompile(`^([0-9]{1,4})(-([0-9]{1,4}))?$`)

// vlanList carries a VLAN list written as the pack does ("10,20,25-100").
func (im *importer) vlanList(path, to []string, comment ...string) {
	s, ok := im.v.getString(path)
	if !ok {
		return
	}
	var items []string
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		m := vlanItemRE.FindStringSubmatch(part)
		if m == nil {
			im.v.unuse(path)
			im.v.drop(path, NoEquivalent, "not a list of VLAN IDs and ranges (such as 10,20,25-100)")
			return
		}
		if m[2] == "" {
			items = append(items, m[1])
		} else {
			items = append(items, str(part))
		}
	}
	im.t.set(to, "["+strings.Join(items, ", ")+"]", append([]string{im.v.from(path)}, comment...)...)
}

// chartLevel reports the dashboard chart's own settings, which configure the Palette dashboard's
// deployment and Palette's integrations.
func (im *importer) chartLevel() {
	for _, k := range []string{"sampleTemplates", "goldenImagesNamespace", "vmEnabledNamespaces", "grafana", "appConfig"} {
		im.v.drop(chart(k), NoEquivalent, "a setting of Palette's dashboard chart (templates, golden images, namespaces, Grafana): no equivalent in vmo-cue")
	}
}
