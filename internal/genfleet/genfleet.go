// Package genfleet writes synthetic fleet repositories for benchmarks: a self-contained CUE module
// (the vmo-cue module vendored under cue.mod/pkg, as `vmo-cue init` does), clusters with VLAN networks
// and realistic KubeVirt VirtualMachines in CUE or YAML. The output is deterministic for given
// options: the same seed writes the same bytes.
package genfleet

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	vmocue "github.com/vmo-cue/vmo-cue"
)

// Form says where the VMs are written.
type Form string

const (
	// FormCUE writes each cluster's VMs into clusters/<name>/vms.cue as `vms: "<name>": {...}`.
	FormCUE Form = "cue"
	// FormYAML writes them as multi-document KubeVirt YAML under clusters/<name>/vms/.
	FormYAML Form = "yaml"
)

// Options describe the fleet to write.
type Options struct {
	Clusters int
	VMs      int
	Form     Form
	Seed     uint64
	// VMsPerFile is how many VMs one YAML file holds (FormYAML; default 5).
	VMsPerFile int
	// CUEVMsPerFile is how many VMs one CUE file holds at most (FormCUE; default 500, some 750 KB,
	// under the 1 MiB a fleet file may take): a cluster with more has vms-000.cue, vms-001.cue, ...
	CUEVMsPerFile int
	// ModulePath is the fleet's CUE module (default bench.example/fleet@v0).
	ModulePath string
}

// ModuleFile is cue.mod/module.cue of a generated fleet.
func (o Options) moduleFile() string {
	mp := o.ModulePath
	if mp == "" {
		mp = "bench.example/fleet@v0"
	}
	return vmocue.ModuleFile(mp)
}

// Stats tell what was written.
type Stats struct {
	Clusters int
	VMs      int
	Files    int
	Bytes    int64
}

// Generate writes the fleet into dir, which must be empty or not exist.
func Generate(dir string, o Options) (Stats, error) {
	var st Stats
	if o.Clusters <= 0 || o.VMs < 0 {
		return st, fmt.Errorf("need at least one cluster and a non-negative number of VMs")
	}
	if o.Clusters > 10_000 || o.VMs > 1_000_000 {
		return st, fmt.Errorf("at most 10,000 clusters and 1,000,000 VMs")
	}
	if o.Form == "" {
		o.Form = FormCUE
	}
	if o.Form != FormCUE && o.Form != FormYAML {
		return st, fmt.Errorf("form %q: want cue or yaml", o.Form)
	}
	if o.VMsPerFile <= 0 {
		o.VMsPerFile = 5
	}
	if o.CUEVMsPerFile <= 0 {
		o.CUEVMsPerFile = 500
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return st, fmt.Errorf("%s is not empty", dir)
	}
	w := &writer{dir: dir, st: &st}
	w.write("cue.mod/module.cue", []byte(o.moduleFile()))
	if w.err == nil {
		w.err = vendorModule(w)
	}
	w.write("fleet.cue", []byte(fleetFile))

	rng := rand.New(rand.NewPCG(o.Seed, 0x766d6f2d637565)) // "vmo-cue"
	vmIndex := 0
	for ci := 0; ci < o.Clusters && w.err == nil; ci++ {
		c := newCluster(ci, rng)
		w.write(c.dir()+"/cluster.cue", []byte(c.cue()))
		n := o.VMs / o.Clusters
		if ci < o.VMs%o.Clusters {
			n++
		}
		vms := make([]*node, n)
		names := make([]string, n)
		for j := 0; j < n; j++ {
			names[j] = fmt.Sprintf("vm-%05d", vmIndex)
			vms[j] = newVM(names[j], vmIndex, c, rng)
			vmIndex++
		}
		switch o.Form {
		case FormCUE:
			for start := 0; start < n || start == 0; start += o.CUEVMsPerFile {
				end := min(start+o.CUEVMsPerFile, n)
				var b strings.Builder
				b.WriteString("package fleet\n\n")
				for j := start; j < end; j++ {
					if j > start {
						b.WriteByte('\n')
					}
					fmt.Fprintf(&b, "vms: %q: ", names[j])
					vms[j].writeCUE(&b, 0)
					b.WriteByte('\n')
				}
				name := "/vms.cue"
				if n > o.CUEVMsPerFile {
					name = fmt.Sprintf("/vms-%03d.cue", start/o.CUEVMsPerFile)
				}
				w.write(c.dir()+name, []byte(b.String()))
			}
		case FormYAML:
			for start := 0; start < n; start += o.VMsPerFile {
				end := min(start+o.VMsPerFile, n)
				var b strings.Builder
				for j := start; j < end; j++ {
					if j > start {
						b.WriteString("---\n")
					}
					vms[j].writeYAML(&b, 0)
				}
				w.write(fmt.Sprintf("%s/vms/%s.yaml", c.dir(), names[start]), []byte(b.String()))
			}
		}
		st.Clusters++
		st.VMs += n
	}
	return st, w.err
}

type writer struct {
	dir string
	st  *Stats
	err error
}

func (w *writer) write(rel string, data []byte) {
	if w.err != nil {
		return
	}
	p := filepath.Join(w.dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		w.err = err
		return
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		w.err = err
		return
	}
	w.st.Files++
	w.st.Bytes += int64(len(data))
}

// vendorModule copies the embedded vmo-cue CUE module into cue.mod/pkg, as `vmo-cue init` does, so that
// upstream cue loads the fleet too.
func vendorModule(w *writer) error {
	base := "cue.mod/pkg/" + vmocue.ModulePath + "/"
	err := vmocue.WalkCUE(func(p string, data []byte) error {
		w.write(base+p, data)
		return w.err
	})
	if err != nil {
		return fmt.Errorf("vendoring the vmo-cue module: %w", err)
	}
	return nil
}

const fleetFile = `// A generated benchmark fleet (hack/genfleet): settings shared by every cluster under clusters/.
package fleet

import "vmo-cue.dev/vmo/schemas"

// The schemas every cluster folder's declarations are checked against (field by field, as vmo-cue init
// writes them: upstream cue does not close definitions reached through a root embedding).
` + vmocue.SchemaLines + `
fleet: defaults: {
	stack: kubevirt: version: "v1.6.3"
	policy: mac: {allow: "prefixes", prefixes: ["02", "06", "0A", "0E"]}
}
`

type cluster struct {
	index    int
	name     string
	kind     string
	site     string
	vlans    [2]int
	bridge   string
	l2Domain string
	storage  string
}

func (c *cluster) dir() string { return "clusters/" + c.name }

func (c *cluster) net(i int) string { return fmt.Sprintf("vlan-%d", c.vlans[i]) }

func newCluster(i int, rng *rand.Rand) *cluster {
	c := &cluster{index: i, name: fmt.Sprintf("c-%03d", i)}
	base := 100 + 10*rng.IntN(300)
	c.vlans = [2]int{base, base + 1 + rng.IntN(9)}
	if i%2 == 0 {
		c.kind, c.site, c.bridge, c.storage = "edge", fmt.Sprintf("edge-%03d", i), "br0", "local-path"
	} else {
		c.kind, c.site, c.bridge, c.storage = "datacenter", fmt.Sprintf("dc-%d", i%7), "br-vm", "ceph-block"
		// Datacenter clusters of one site share a layer-2 domain: their MACs must be unique across them.
		c.l2Domain = c.site
	}
	return c
}

func (c *cluster) cue() string {
	var b strings.Builder
	b.WriteString("package fleet\n\ncluster: {\n")
	fmt.Fprintf(&b, "\tname: %q\n\tkind: %q\n", c.name, c.kind)
	fmt.Fprintf(&b, "\tlabels: {site: %q, tier: %q}\n", c.site, c.kind)
	if c.l2Domain != "" {
		fmt.Fprintf(&b, "\tl2Domain: %q\n", c.l2Domain)
	}
	for i := range c.vlans {
		fmt.Fprintf(&b, "\tstack: multus: networks: %q: {vlan: %d, bridge: %q}\n", c.net(i), c.vlans[i], c.bridge)
	}
	if c.kind == "edge" {
		b.WriteString("\tstack: descheduler: enabled: false\n")
	}
	b.WriteString("}\n")
	return b.String()
}

var (
	apps     = []string{"web", "api", "db", "cache", "queue", "worker", "proxy", "ldap", "build", "metrics"}
	images   = []string{"fedora:41", "centos-stream:9", "ubuntu:24.04", "debian:12", "opensuse-leap:15.6"}
	runs     = []string{"Always", "Always", "Always", "RerunOnFailure", "Manual", "Halted"}
	memories = []string{"1Gi", "2Gi", "4Gi", "8Gi", "16Gi"}
	sizes    = []string{"10Gi", "20Gi", "40Gi", "80Gi"}
	prefixes = []string{"02", "06", "0A", "0E"}
)

// mac is unique across the whole fleet: the VM's global index is in the last three octets, and the
// first octet cycles through the policy's prefixes.
func mac(index int, rng *rand.Rand) string {
	return fmt.Sprintf("%s:%02x:%02x:%02x:%02x:%02x", prefixes[index%4], 0x10+rng.IntN(0xe0),
		index/4>>16&0xff, index/4>>8&0xff, index/4&0xff, rng.IntN(256))
}

func newVM(name string, index int, c *cluster, rng *rand.Rand) *node {
	app := apps[rng.IntN(len(apps))]
	image := images[rng.IntN(len(images))]
	mem := memories[rng.IntN(len(memories))]
	vlan := rng.IntN(2)
	root := name + "-root"
	userData := fmt.Sprintf("#cloud-config\nhostname: %s\nssh_authorized_keys:\n  - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI%08x ops@example.com\n", name, rng.Uint32())
	labels := obj(
		"app", app,
		"tier", []string{"frontend", "backend", "data"}[rng.IntN(3)],
	)
	return obj(
		"apiVersion", "kubevirt.io/v1",
		"kind", "VirtualMachine",
		"metadata", obj(
			"name", name,
			"labels", labels,
		),
		"spec", obj(
			"runStrategy", runs[rng.IntN(len(runs))],
			"dataVolumeTemplates", list(obj(
				"metadata", obj("name", root),
				"spec", obj(
					"source", obj("registry", obj("url", "docker://quay.io/containerdisks/"+image)),
					"storage", obj(
						"accessModes", list("ReadWriteOnce"),
						"storageClassName", c.storage,
						"resources", obj("requests", obj("storage", sizes[rng.IntN(len(sizes))])),
					),
				),
			)),
			"template", obj(
				"metadata", obj("labels", obj("kubevirt.io/vm", name, "app", app)),
				"spec", obj(
					"domain", obj(
						"cpu", obj("sockets", 1, "cores", 1+rng.IntN(8), "threads", 1),
						"memory", obj("guest", mem),
						"resources", obj("requests", obj("memory", mem)),
						"devices", obj(
							"disks", list(
								obj("name", "root", "disk", obj("bus", "virtio"), "bootOrder", 1),
								obj("name", "cloudinit", "disk", obj("bus", "virtio")),
							),
							"interfaces", list(
								obj("name", "default", "masquerade", obj()),
								obj("name", c.net(vlan), "bridge", obj(), "macAddress", mac(index, rng)),
							),
						),
					),
					"evictionStrategy", "LiveMigrate",
					"terminationGracePeriodSeconds", 180,
					"networks", list(
						obj("name", "default", "pod", obj()),
						obj("name", c.net(vlan), "multus", obj("networkName", c.net(vlan))),
					),
					"volumes", list(
						obj("name", "root", "dataVolume", obj("name", root)),
						obj("name", "cloudinit", "cloudInitNoCloud", obj("userData", userData)),
					),
				),
			),
		),
	)
}
