package validate

import (
	"slices"
	"strconv"
)

// gatedFeature is a VM feature that KubeVirt refuses unless its cluster enables a feature gate: the
// one table of them, per KubeVirt minor. Each row names the check in KubeVirt's own source (file and
// expression, in kubevirt.io/kubevirt at the release of each minor: v1.4.0, v1.5.0, v1.6.0, v1.7.0,
// v1.8.1); TestGatedFeaturesAgreeWithKubeVirt finds each expression there, resolves the config method
// it calls to the gate's name, and fails on a gate check in those files that the table neither models
// nor lists in notModelled. Whether the gate must be listed comes from the gate table of the minor
// (schemas/gates.cue): a gate that is GA there needs nothing, a Discontinued one refuses the feature.
type gatedFeature struct {
	// what the VM uses, as a finding names it.
	what string
	gate string
	// alt is a gate that also allows the feature (an older name), when that minor still honours it.
	alt string
	// minors are the KubeVirt minors whose admission (or, where source says so, virt-controller)
	// refuses the feature without the gate.
	minors []string
	// source is the file of kubevirt.io/kubevirt holding the check, and check the expression.
	source, check string
	// hint says what to use instead, for a gate that is Discontinued.
	hint string
	// uses finds the places in a VM that use the feature (paths inside the VM object).
	uses func(vm *vmView) [][]string
}

const (
	vmiAdmitter = "pkg/virt-api/webhooks/validating-webhook/admitters/vmi-create-admitter.go"
	vmAdmitter  = "pkg/virt-api/webhooks/validating-webhook/admitters/vms-admitter.go"
)

var allMinors = []string{"v1.4", "v1.5", "v1.6", "v1.7", "v1.8"}

var gatedFeatures = []gatedFeature{
	{what: "a hostDisk volume", gate: "HostDisk", minors: allMinors,
		source: vmiAdmitter, check: "!config.HostDiskEnabled()",
		uses: volumesWith("hostDisk")},
	// GPUs themselves are GA (gate GPU) in every supported version; from a resource claim, see below.
	{what: "hostDevices", gate: "HostDevices", minors: allMinors,
		source: vmiAdmitter, check: "spec.Domain.Devices.HostDevices != nil && !config.HostDevicesPassthroughEnabled()",
		uses: present(tmplSpec("domain", "devices", "hostDevices"))},
	{what: "a GPU from a resource claim (DRA)", gate: "GPUsWithDRA", minors: []string{"v1.6", "v1.7", "v1.8"},
		source: "pkg/dra/admitter/dra_admitter.go", check: "len(draGPUs) > 0 && !checker.GPUsWithDRAGateEnabled()",
		uses: claimed("gpus")},
	{what: "a host device from a resource claim (DRA)", gate: "HostDevicesWithDRA", minors: []string{"v1.8"},
		source: "pkg/dra/admitter/dra_admitter.go", check: "len(draHDs) > 0 && !checker.HostDevicesWithDRAEnabled()",
		uses: claimed("hostDevices")},
	{what: "a sidecar hook (annotation hooks.kubevirt.io/hookSidecars)", gate: "Sidecar", minors: allMinors,
		source: vmiAdmitter, check: `annotations[hooks.HookSidecarListAnnotationName] != "" && !config.SidecarEnabled()`,
		uses: annotation("hooks.kubevirt.io/hookSidecars")},
	{what: "Ignition data (annotation kubevirt.io/ignitiondata)", gate: "ExperimentalIgnitionSupport", minors: allMinors,
		source: vmiAdmitter, check: `annotations[v1.IgnitionAnnotation] != "" && !config.IgnitionEnabled()`,
		uses: annotation("kubevirt.io/ignitiondata")},
	{what: "a downwardMetrics volume", gate: "DownwardMetrics", minors: allMinors,
		source: vmiAdmitter, check: "volume.DownwardMetrics != nil && !config.DownwardMetricsEnabled()",
		uses: volumesWith("downwardMetrics")},
	{what: "the downwardMetrics device", gate: "DownwardMetrics", minors: allMinors,
		source: vmiAdmitter, check: "downwardmetrics.HasDevice(spec) && !config.DownwardMetricsEnabled()",
		uses: present(tmplSpec("domain", "devices", "downwardMetrics"))},
	{what: "virtiofs on a configMap, secret, serviceAccount or downwardAPI volume", gate: "EnableVirtioFsConfigVolumes",
		alt: "ExperimentalVirtiofsSupport", minors: []string{"v1.5", "v1.6", "v1.7"},
		source: vmiAdmitter, check: "utils.IsConfigVolume(volume) && (!config.VirtiofsConfigVolumesEnabled() && !config.OldVirtiofsEnabled())",
		uses: virtiofsOn("configMap", "secret", "serviceAccount", "downwardAPI")},
	{what: "virtiofs on a persistentVolumeClaim or dataVolume", gate: "EnableVirtioFsStorageVolumes",
		alt: "ExperimentalVirtiofsSupport", minors: []string{"v1.5", "v1.6", "v1.7"},
		source: vmiAdmitter, check: "utils.IsStorageVolume(volume) && (!config.VirtiofsStorageEnabled() && !config.OldVirtiofsEnabled())",
		uses: virtiofsOn("persistentVolumeClaim", "dataVolume")},
	{what: "virtiofs on a persistentVolumeClaim or dataVolume", gate: "EnableVirtioFsStorageVolumes", minors: []string{"v1.8"},
		source: vmiAdmitter, check: "storagetypes.IsStorageVolume(volume) && (!config.VirtiofsStorageEnabled())",
		uses: virtiofsOn("persistentVolumeClaim", "dataVolume")},
	{what: "a LUN disk with reservation", gate: "PersistentReservation", minors: allMinors,
		source: vmiAdmitter, check: "!config.PersistentReservationEnabled()",
		uses: listWhere(tmplSpec("domain", "devices", "disks"), func(d map[string]any) []string {
			if getBool(d, "lun", "reservation") {
				return []string{"lun", "reservation"}
			}
			return nil
		})},
	{what: "autoattachVSOCK", gate: "VSOCK", minors: allMinors,
		source: vmiAdmitter, check: "!config.VSOCKEnabled()",
		uses: isTrue(tmplSpec("domain", "devices", "autoattachVSOCK"))},
	{what: "a persistent TPM", gate: "VMPersistentState", minors: []string{"v1.4", "v1.5"},
		source: vmiAdmitter, check: "!config.VMPersistentStateEnabled()",
		uses: isTrue(tmplSpec("domain", "devices", "tpm", "persistent"))},
	{what: "a persistent EFI", gate: "VMPersistentState", minors: []string{"v1.4", "v1.5"},
		source: vmiAdmitter, check: "!config.VMPersistentStateEnabled()",
		uses: isTrue(tmplSpec("domain", "firmware", "bootloader", "efi", "persistent"))},
	{what: "launchSecurity", gate: "WorkloadEncryptionSEV", minors: []string{"v1.4", "v1.5"},
		source: vmiAdmitter, check: "launchSecurity != nil && !config.WorkloadEncryptionSEVEnabled()",
		uses: present(tmplSpec("domain", "launchSecurity"))},
	{what: "SEV launch security", gate: "WorkloadEncryptionSEV", minors: []string{"v1.6"},
		source: vmiAdmitter, check: "!config.WorkloadEncryptionSEVEnabled() && launchSecurity.SEV != nil",
		uses: present(tmplSpec("domain", "launchSecurity", "sev"))},
	{what: "SEV launch security", gate: "WorkloadEncryptionSEV", minors: []string{"v1.7", "v1.8"},
		source: "pkg/virt-api/webhooks/amd64.go", check: "(launchSecurity.SEV != nil || launchSecurity.SNP != nil) && !config.WorkloadEncryptionSEVEnabled()",
		uses: anyOf(present(tmplSpec("domain", "launchSecurity", "sev")), present(tmplSpec("domain", "launchSecurity", "snp")))},
	{what: "TDX launch security", gate: "WorkloadEncryptionTDX", minors: []string{"v1.7", "v1.8"},
		source: "pkg/virt-api/webhooks/amd64.go", check: "launchSecurity.TDX != nil && !config.WorkloadEncryptionTDXEnabled()",
		uses: present(tmplSpec("domain", "launchSecurity", "tdx"))},
	{what: "a video device", gate: "VideoConfig", minors: []string{"v1.6", "v1.7", "v1.8"},
		source: vmiAdmitter, check: "!config.VideoConfigEnabled()",
		uses: present(tmplSpec("domain", "devices", "video"))},
	{what: "panicDevices", gate: "PanicDevices", minors: []string{"v1.6", "v1.7", "v1.8"},
		source: vmiAdmitter, check: "spec.Domain.Devices.PanicDevices != nil && !config.PanicDevicesEnabled()",
		uses: present(tmplSpec("domain", "devices", "panicDevices"))},
	{what: "an empty CD-ROM (a cdrom disk without a volume)", gate: "DeclarativeHotplugVolumes", minors: []string{"v1.6", "v1.7", "v1.8"},
		source: vmiAdmitter, check: "} else if !config.DeclarativeHotplugVolumesEnabled() {",
		uses: emptyCDROMs},
	{what: "the passt interface binding", gate: "Passt", minors: []string{"v1.4", "v1.5", "v1.6", "v1.7"},
		source: "pkg/network/admitter/passt.go", check: "iface.InterfaceBindingMethod.DeprecatedPasst != nil && !config.PasstEnabled()",
		hint: "use the passt network binding plugin (binding: {name: passt}, registered in the KubeVirt configuration)",
		uses: interfacesWith("passt")},
	{what: "the macvtap interface binding", gate: "Macvtap", minors: []string{"v1.4", "v1.5", "v1.6", "v1.7"},
		source: "pkg/network/admitter/macvtap.go", check: "iface.InterfaceBindingMethod.DeprecatedMacvtap != nil && !config.MacvtapEnabled()",
		hint: "use the macvtap network binding plugin (binding: {name: macvtap}, registered in the KubeVirt configuration)",
		uses: interfacesWith("macvtap")},
	{what: "a network binding plugin", gate: "NetworkBindingPlugins", minors: []string{"v1.4"},
		source: "pkg/network/admitter/binding.go", check: "iface.Binding != nil && !config.NetworkBindingPlugingsEnabled()",
		uses: interfacesWith("binding")},
	{what: "the passt core binding (passtBinding)", gate: "PasstBinding", minors: []string{"v1.8"},
		source: "pkg/network/admitter/passt.go", check: "iface.PasstBinding != nil && !config.PasstBindingEnabled()",
		uses: interfacesWith("passtBinding")},
	{what: "memory.reservedOverhead", gate: "ReservedOverheadMemlock", minors: []string{"v1.8"},
		source: vmiAdmitter, check: "spec.Domain.Memory.ReservedOverhead != nil && !config.ReservedOverheadMemlockEnabled()",
		uses: present(tmplSpec("domain", "memory", "reservedOverhead"))},
	{what: "rebootPolicy", gate: "RebootPolicy", minors: []string{"v1.8"},
		source: vmiAdmitter, check: "!config.RebootPolicyEnabled()",
		uses: present(tmplSpec("domain", "rebootPolicy"))},
	{what: "utilityVolumes", gate: "UtilityVolumes", minors: []string{"v1.8"},
		source: "pkg/storage/admitters/storagehotplug.go", check: "len(spec.UtilityVolumes) > 0 && !config.UtilityVolumesEnabled()",
		uses: nonEmptyList(tmplSpec("utilityVolumes"))},
	// virt-controller, not the webhook: the VMI of such a VM fails to start.
	{what: "a containerPath volume", gate: "ContainerPathVolumes", minors: []string{"v1.8"},
		source: "pkg/virt-controller/watch/vmi/lifecycle.go", check: "len(containerPathVolumes) > 0 && !c.clusterConfig.ContainerPathVolumesEnabled()",
		uses: volumesWith("containerPath")},
	{what: "updateVolumesStrategy", gate: "VolumesUpdateStrategy", minors: []string{"v1.4"},
		source: vmAdmitter, check: "spec.UpdateVolumesStrategy != nil && !config.VolumesUpdateStrategyEnabled()",
		uses: present([]string{"spec", "updateVolumesStrategy"})},
	{what: "updateVolumesStrategy: Migration", gate: "VolumeMigration", minors: []string{"v1.4"},
		source: vmAdmitter, check: "*spec.UpdateVolumesStrategy == v1.UpdateVolumesStrategyMigration && !config.VolumeMigrationEnabled()",
		uses: equals([]string{"spec", "updateVolumesStrategy"}, "Migration")},
	{what: "runStrategy: WaitAsReceiver", gate: "DecentralizedLiveMigration", minors: []string{"v1.6", "v1.7", "v1.8"},
		source: vmAdmitter, check: "if config.DecentralizedLiveMigrationEnabled() {",
		uses: equals([]string{"spec", "runStrategy"}, "WaitAsReceiver")},
}

// notModelled are the gate checks of those files that the table leaves out, and why.
var notModelled = map[string]string{
	"IsBridgeInterfaceOnPodNetworkEnabled": "a KubeVirt setting (network.permitBridgeInterfaceOnPodNetwork, on by default), not a gate",
	"IsSlirpInterfaceEnabled":              "a KubeVirt setting (network.permitSlirpInterface), not a gate; slirp is deprecated",
	"NUMAEnabled":                          "NUMA is GA in every supported version",
	"MultiArchitectureEnabled":             "depends on the architecture virt-api runs on, which the fleet does not declare",
	"SecureExecutionEnabled":               "s390x only",
	"NodeRestrictionEnabled":               "about virt-handler's requests, not VMs",
	"SnapshotEnabled":                      "VirtualMachineSnapshots and restores, not VMs",
	"VMExportEnabled":                      "VirtualMachineExports, not VMs",
	"IncrementalBackupEnabled":             "backups, not VMs",
	"MigrationPriorityQueueEnabled":        "migrations, not VMs",
	"DeclarativeHotplugVolumesEnabled":     "storagehotplug.go: a change to a running VM's volumes, not its declaration",
	"OldVirtiofsEnabled":                   "the alternative gate of the virtiofs rows",
	"VmiMemoryOverheadReportEnabled":       "virt-controller (lifecycle.go) reports memory overhead with it; it refuses nothing",
}

// tmplSpec is a path inside the VM's template spec.
func tmplSpec(path ...string) []string {
	return append([]string{"spec", "template", "spec"}, path...)
}

// present: the field is there (an empty list or struct included: KubeVirt tests for nil).
func present(path []string) func(*vmView) [][]string {
	ap := anchor(path)
	return func(vm *vmView) [][]string {
		if v := vm.at(ap); v != nil {
			return [][]string{path}
		}
		return nil
	}
}

func isTrue(path []string) func(*vmView) [][]string {
	ap := anchor(path)
	return func(vm *vmView) [][]string {
		if b, _ := vm.at(ap).(bool); b {
			return [][]string{path}
		}
		return nil
	}
}

func equals(path []string, value string) func(*vmView) [][]string {
	ap := anchor(path)
	return func(vm *vmView) [][]string {
		if s, _ := vm.at(ap).(string); s == value {
			return [][]string{path}
		}
		return nil
	}
}

func nonEmptyList(path []string) func(*vmView) [][]string {
	ap := anchor(path)
	return func(vm *vmView) [][]string {
		if l, _ := vm.at(ap).([]any); len(l) > 0 {
			return [][]string{path}
		}
		return nil
	}
}

func anyOf(fs ...func(*vmView) [][]string) func(*vmView) [][]string {
	return func(vm *vmView) [][]string {
		var out [][]string
		for _, f := range fs {
			out = append(out, f(vm)...)
		}
		return out
	}
}

// annotation: the VM's template carries a non-empty annotation (the VMI's annotations come from it).
func annotation(name string) func(*vmView) [][]string {
	path := []string{"spec", "template", "metadata", "annotations", name}
	ap := anchor(path)
	return func(vm *vmView) [][]string {
		if s, _ := vm.at(ap).(string); s != "" {
			return [][]string{path}
		}
		return nil
	}
}

// listWhere returns, for each element of the list at path, the path inside it that f names.
func listWhere(path []string, f func(map[string]any) []string) func(*vmView) [][]string {
	ap := anchor(path)
	return func(vm *vmView) [][]string {
		l, _ := vm.at(ap).([]any)
		var out [][]string
		for i, x := range l {
			m, _ := x.(map[string]any)
			if in := f(m); in != nil {
				out = append(out, append(append(append([]string(nil), path...), strconv.Itoa(i)), in...))
			}
		}
		return out
	}
}

func volumesWith(source string) func(*vmView) [][]string {
	return listWhere(volumesPath, func(v map[string]any) []string {
		if _, ok := v[source]; ok && v[source] != nil {
			return []string{source}
		}
		return nil
	})
}

func interfacesWith(binding string) func(*vmView) [][]string {
	return listWhere(tmplSpec("domain", "devices", "interfaces"), func(i map[string]any) []string {
		if _, ok := i[binding]; ok && i[binding] != nil {
			return []string{binding}
		}
		return nil
	})
}

// claimed finds the devices of a list (gpus, hostDevices) that come from a resource claim.
func claimed(list string) func(*vmView) [][]string {
	return listWhere(tmplSpec("domain", "devices", list), func(d map[string]any) []string {
		for _, k := range []string{"claimName", "requestName"} {
			if d[k] != nil {
				return []string{k}
			}
		}
		return nil
	})
}

var (
	volumesPath       = tmplSpec("volumes")
	filesystemsPath   = tmplSpec("domain", "devices", "filesystems")
	disksPath         = tmplSpec("domain", "devices", "disks")
	volumesAnchor     = anchor(volumesPath)
	filesystemsAnchor = anchor(filesystemsPath)
)

// volume returns the VM's volume of a name (nil if none). VMs have few volumes: a scan, no map.
func volume(vm *vmView, name string) map[string]any {
	l, _ := vm.at(volumesAnchor).([]any)
	for _, x := range l {
		if v, _ := x.(map[string]any); v != nil && v["name"] == name {
			return v
		}
	}
	return nil
}

// virtiofsOn finds virtiofs filesystems whose volume has one of the sources.
func virtiofsOn(sources ...string) func(*vmView) [][]string {
	return func(vm *vmView) [][]string {
		if l, _ := vm.at(filesystemsAnchor).([]any); len(l) == 0 {
			return nil
		}
		return listWhere(filesystemsPath, func(fs map[string]any) []string {
			name, _ := fs["name"].(string)
			vol := volume(vm, name)
			for _, s := range sources {
				if vol[s] != nil {
					return []string{"name"}
				}
			}
			return nil
		})(vm)
	}
}

// emptyCDROMs finds cdrom disks without a volume of their name.
var emptyCDROMs = func(vm *vmView) [][]string {
	return listWhere(disksPath, func(d map[string]any) []string {
		name, _ := d["name"].(string)
		if d["cdrom"] != nil && volume(vm, name) == nil {
			return []string{"cdrom"}
		}
		return nil
	})(vm)
}

// vmView holds the maps of a VM that the rows look into, found once per VM: the object, its spec,
// template, template spec, domain and devices. A row's path is anchored at the deepest of them it
// starts with (anchor, once per row), so that checking 30 rows costs a lookup or two each.
type vmView struct {
	bases [len(basePaths)]map[string]any
}

var basePaths = [...][]string{nil, {"spec"}, {"spec", "template"}, {"spec", "template", "spec"},
	{"spec", "template", "spec", "domain"}, {"spec", "template", "spec", "domain", "devices"}}

// anchored is a path as its base map and the rest.
type anchored struct {
	base int
	rel  []string
}

func anchor(path []string) anchored {
	for b := len(basePaths) - 1; b > 0; b-- {
		if bp := basePaths[b]; len(path) > len(bp) && slices.Equal(path[:len(bp)], bp) {
			return anchored{b, path[len(bp):]}
		}
	}
	return anchored{0, path}
}

func newView(obj map[string]any) *vmView {
	v := &vmView{}
	v.bases[0] = obj
	for b := 1; b < len(basePaths); b++ {
		v.bases[b], _ = v.bases[b-1][basePaths[b][b-1]].(map[string]any)
	}
	return v
}

func (v *vmView) at(p anchored) any {
	m := v.bases[p.base]
	if m == nil {
		return nil
	}
	return get(m, p.rel...)
}
