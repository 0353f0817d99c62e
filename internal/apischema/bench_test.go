package apischema

import (
	"encoding/json"
	"fmt"
	"syscall"
	"testing"
	"time"

	"cuelang.org/go/cue"
	"github.com/stretchr/testify/require"
)

// fleetJSON is n small but realistic VMs keyed by name: two interfaces (masquerade, and bridge on a
// Multus network with a fixed MAC), two disks, a DataVolume template, labels and resources.
func fleetJSON(n int) []byte {
	vms := make(map[string]any, n)
	for i := range n {
		name := fmt.Sprintf("vm-%05d", i)
		vms[name] = map[string]any{
			"apiVersion": "kubevirt.io/v1",
			"kind":       "VirtualMachine",
			"metadata":   map[string]any{"name": name, "namespace": "vms", "labels": map[string]any{"app": "web", "tier": fmt.Sprint(i % 3)}},
			"spec": map[string]any{
				"runStrategy": "Always",
				"dataVolumeTemplates": []any{map[string]any{
					"metadata": map[string]any{"name": name + "-root"},
					"spec": map[string]any{
						"source": map[string]any{"registry": map[string]any{"url": "docker://quay.io/containerdisks/fedora:40"}},
						"storage": map[string]any{
							"accessModes":      []any{"ReadWriteOnce"},
							"storageClassName": "ceph-block",
							"resources":        map[string]any{"requests": map[string]any{"storage": "20Gi"}},
						},
					},
				}},
				"template": map[string]any{
					"metadata": map[string]any{"labels": map[string]any{"app": "web"}},
					"spec": map[string]any{
						"domain": map[string]any{
							"cpu":       map[string]any{"sockets": 2, "cores": 1, "threads": 1},
							"memory":    map[string]any{"guest": "4Gi"},
							"resources": map[string]any{"requests": map[string]any{"memory": "4Gi", "cpu": "500m"}},
							"devices": map[string]any{
								"disks": []any{
									map[string]any{"name": "root", "disk": map[string]any{"bus": "virtio"}},
									map[string]any{"name": "cloudinit", "disk": map[string]any{"bus": "virtio"}},
								},
								"interfaces": []any{
									map[string]any{"name": "default", "masquerade": map[string]any{}},
									map[string]any{"name": "vlan10", "bridge": map[string]any{}, "macAddress": fmt.Sprintf("02:00:00:%02x:%02x:%02x", i>>16&0xff, i>>8&0xff, i&0xff)},
								},
							},
						},
						"networks": []any{
							map[string]any{"name": "default", "pod": map[string]any{}},
							map[string]any{"name": "vlan10", "multus": map[string]any{"networkName": "vms/vlan10"}},
						},
						"volumes": []any{
							map[string]any{"name": "root", "dataVolume": map[string]any{"name": name + "-root"}},
							map[string]any{"name": "cloudinit", "cloudInitNoCloud": map[string]any{"userData": "#cloud-config\nhostname: " + name + "\n"}},
						},
					},
				},
			},
		}
	}
	b, err := json.Marshal(vms)
	if err != nil {
		panic(err)
	}
	return b
}

// schemaShapes are the CUE shapes the probe compares; "default" is what is checked in.
var schemaShapes = []struct {
	name string
	opt  cueOptions
}{
	{"default", defaultCUEOptions},
	{"no-null-disjunctions", func() cueOptions { o := defaultCUEOptions; o.nullable = false; return o }()},
	{"quantity-top", func() cueOptions { o := defaultCUEOptions; o.quantity, o.intOrString = "_", "_"; return o }()},
	{"plain-int", func() cueOptions { o := defaultCUEOptions; o.intBounds = false; return o }()},
	{"cheapest", cueOptions{quantity: "_", intOrString: "_"}},
	{"inlined", func() cueOptions { o := defaultCUEOptions; o.inline = true; return o }()},
}

// BenchmarkValidateVMs unifies a fleet of VMs with #VirtualMachine in one context and validates it
// (cue.Concrete). Schema loading is outside the timer; the JSON-to-CUE step is inside and also
// reported on its own (compile-ms), next to the unification and validation (validate-ms).
//
//	go test ./internal/apischema -run '^$' -bench ValidateVMs -benchtime 3x
func BenchmarkValidateVMs(b *testing.B) {
	for _, shape := range schemaShapes {
		files, err := generate(defaultConfig(), shape.opt)
		require.NoError(b, err)
		for _, n := range []int{1000, 10000} {
			data := fleetJSON(n)
			for _, mode := range []string{"one-value", "per-vm"} {
				b.Run(fmt.Sprintf("shape=%s/vms=%d/%s", shape.name, n, mode), func(b *testing.B) {
					var compile, validate, cpu time.Duration
					for range b.N {
						b.StopTimer()
						ctx := newCUEContext()
						kubevirt := loadCUE(b, ctx, files, "schemas/kubevirt")
						vm := kubevirt.LookupPath(cue.ParsePath("#VirtualMachine"))
						b.StartTimer()
						c0 := cpuTime()
						t0 := time.Now()
						fleet := ctx.CompileBytes(data)
						require.NoError(b, fleet.Err())
						t1 := time.Now()
						switch mode {
						case "one-value":
							schema := ctx.CompileString("[string]: #VirtualMachine", cue.Scope(kubevirt))
							require.NoError(b, schema.Unify(fleet).Validate(cue.Concrete(true)))
						case "per-vm":
							it, err := fleet.Fields()
							require.NoError(b, err)
							for it.Next() {
								require.NoError(b, vm.Unify(it.Value()).Validate(cue.Concrete(true)))
							}
						}
						compile += t1.Sub(t0)
						validate += time.Since(t1)
						cpu += cpuTime() - c0
					}
					b.ReportMetric(float64(compile.Milliseconds())/float64(b.N), "compile-ms")
					b.ReportMetric(float64(validate.Milliseconds())/float64(b.N), "validate-ms")
					b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms")
				})
			}
		}
	}
}

// cpuTime is the CPU time of the process (all threads, the garbage collector's too): on a shared
// machine it says more than the wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkLoadSchemas is the fixed cost: loading and building the generated kubevirt package (which
// imports cdi).
func BenchmarkLoadSchemas(b *testing.B) {
	files := generatedFiles(b)
	for range b.N {
		ctx := newCUEContext()
		v := loadCUE(b, ctx, files, "schemas/kubevirt")
		require.NoError(b, v.LookupPath(cue.ParsePath("#VirtualMachine")).Err())
	}
}
