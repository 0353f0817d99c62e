package engine

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// FuzzFastPathEquivalent generates fleets (several clusters and files, VMs with MACs, some written in
// forms only the general path reads: conflicts, references, comprehensions, definitions, fields written
// twice, ...) and requires both paths to give the same findings (text and positions), the same VMs in
// the same order, and the same positions for every value. A cluster written as plain data, each VM
// once, must take the fast path. The seed corpus runs in `go test`.
func FuzzFastPathEquivalent(f *testing.F) {
	for seed := range uint64(12) {
		f.Add(seed, uint8(seed*3))
	}
	f.Fuzz(func(t *testing.T, seed uint64, shape uint8) {
		files, plain := fuzzFleet(seed, shape)
		dir := writeFleet(t, t.TempDir(), "", files)
		took := assertEquivalent(t, dir, true)
		t.Logf("plain %v, took the fast path %v", plain, took)
		for c, p := range plain {
			if p && !took[c] {
				t.Errorf("cluster %s is plain data, each VM once, but took the general path", c)
			}
		}
		if t.Failed() {
			for name, data := range files {
				t.Logf("%s:\n%s", name, data)
			}
		}
	})
}

// unusual are forms only the general path reads, each a VM's fields (or a file's declarations, for
// those starting with "\n") and whether CUE reports a conflict.
var unusual = []string{
	"spec: {running: true, running: false}",
	"spec: {running: true, running: true}",
	"spec: template: spec: domain: cpu: cores: _cores",
	"#extra: 1",
	"_hidden: 1",
	"metadata: name: \"other-name\"",
	"specs: {}",
	"apiVersion: 1",
	"spec: running?: true",
	"spec: running!: true",
	"metadata: labels: app: \"\\(_cores)\"",
	"spec: template: spec: domain: cpu: cores: 1 + 1",
	"spec: x: 'bytes'",
	"spec: {running: true, ...}",
	"spec: l: [1, ...]",
	"spec: >1",
	"spec: {{running: true}}",
	"X=spec: running: true",
	"spec: running: true @attr()",
	"\nvms: {for k in [\"gen-a\", \"gen-b\"] {(k): spec: running: true}}",
	"\nvms: [string]: spec: running: true",
	"\n_n: len(vms)",
	"\nvms: (\"dyn\"): {}",
}

// fuzzFleet writes a fleet of one or two clusters; plain says which clusters hold only plain data,
// each VM written once.
func fuzzFleet(seed uint64, shape uint8) (map[string][]byte, map[string]bool) {
	rng := rand.New(rand.NewPCG(seed, uint64(shape)))
	root := rootCanonical
	if shape&1 == 1 {
		root = rootBare
	}
	files := map[string][]byte{"fleet.cue": []byte(root + "\n_cores: 2\n")}
	plain := map[string]bool{}
	keys := []string{"web", "db", "cache", "api-1", "0", "with space", "Upper_Key", "zz"}
	for ci := range 1 + rng.IntN(2) {
		cluster := string(rune('a' + ci))
		dir := "clusters/" + cluster + "/"
		files[dir+"cluster.cue"] = fmt.Appendf(nil, "package fleet\n\ncluster: {name: %q, kind: \"edge\"}\n", cluster)
		nfiles := 1 + rng.IntN(3)
		bodies := make([]strings.Builder, nfiles)
		for i := range bodies {
			bodies[i].WriteString("package fleet\n\n")
		}
		plain[cluster] = true
		for _, key := range keys {
			if rng.IntN(3) == 0 {
				continue
			}
			b := &bodies[rng.IntN(nfiles)]
			fmt.Fprintf(b, "vms: %q: {\n%s}\n", key, fuzzVM(rng, key, shape))
			// Written once more: the same data, or a conflict.
			if shape&4 == 4 && rng.IntN(4) == 0 {
				plain[cluster] = false
				fmt.Fprintf(&bodies[rng.IntN(nfiles)], "vms: %q: spec: running: %v\n", key, rng.IntN(2) == 0)
			}
			if shape&2 == 2 && rng.IntN(4) == 0 {
				plain[cluster] = false
				u := unusual[rng.IntN(len(unusual))]
				if strings.HasPrefix(u, "\n") {
					b.WriteString(u + "\n")
				} else {
					fmt.Fprintf(b, "vms: %q: %s\n", key, u)
				}
			}
		}
		for i := range bodies {
			files[fmt.Sprintf("%svms-%d.cue", dir, i)] = []byte(bodies[i].String())
		}
	}
	return files, plain
}

// fuzzVM writes a VM's fields: a namespace, interfaces with MACs (some shared), and literals of every
// form the fast path reads.
func fuzzVM(rng *rand.Rand, key string, shape uint8) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, "\t"+format+"\n", args...) }
	if rng.IntN(2) == 0 {
		w("apiVersion: \"kubevirt.io/v1\"")
		w("kind: \"VirtualMachine\"")
	}
	switch rng.IntN(4) {
	case 0:
		w("metadata: {namespace: %q, name: %q}", []string{"shop", "ops", "zz"}[rng.IntN(3)], key)
	case 1:
		w("metadata: namespace: %q", []string{"shop", "ops"}[rng.IntN(2)])
	case 2:
		w("metadata: labels: {app: %q, \"kubevirt.io/domain\": %q}", key, key)
	}
	if rng.IntN(4) == 0 {
		return b.String()
	}
	w("spec: {")
	w("\trunStrategy: %q", []string{"Always", "Halted"}[rng.IntN(2)])
	nums := []string{"1", "2", "0x2", "1_0", "2Ki", "1.5e3", "-0", "-1.25", "1.0", "12345678901234567890"}
	strs := []string{`"plain"`, `"esc \" \\ \t \u00e9"`, `#"raw "q" \n"#`, "\"\"\"\n\t\t\tmulti\n\t\t\t  line\n\t\t\t\"\"\"", `""`}
	var ifs, nets []string
	for i := range rng.IntN(3) {
		ifs = append(ifs, fmt.Sprintf("{name: \"v%d\", bridge: {}, macAddress: \"02:00:00:00:00:%02x\"}", i, rng.IntN(4)))
		nets = append(nets, fmt.Sprintf("{name: \"v%d\", multus: networkName: \"vlan-%d\"}", i, i))
	}
	w("\ttemplate: {")
	w("\t\tmetadata: annotations: note: %s", strs[rng.IntN(len(strs))])
	w("\t\tspec: {")
	w("\t\t\tdomain: {cpu: {sockets: %s, cores: %s}, devices: interfaces: [%s]}", nums[rng.IntN(len(nums))],
		nums[rng.IntN(len(nums))], strings.Join(ifs, ", "))
	w("\t\t\tnetworks: [%s]", strings.Join(nets, ",\n\t\t\t\t"))
	w("\t\t}")
	w("\t}")
	w("\tflags: [true, false, null, [], {}]")
	w("}")
	return b.String()
}
