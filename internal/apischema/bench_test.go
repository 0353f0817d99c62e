package apischema

import (
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"cuelang.org/go/cue"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	kjson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
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
	// trim drops every optional field that the probe's fleet does not use. Not a usable schema (it
	// rejects valid VMs); it shows what the declared-but-absent fields cost.
	trim bool
}{
	{name: "default", opt: defaultCUEOptions},
	{name: "no-null-disjunctions", opt: func() cueOptions { o := defaultCUEOptions; o.nullable = false; return o }()},
	{name: "quantity-top", opt: func() cueOptions { o := defaultCUEOptions; o.quantity, o.intOrString = "_", "_"; return o }()},
	{name: "plain-int", opt: func() cueOptions { o := defaultCUEOptions; o.intBounds = false; return o }()},
	{name: "cheapest", opt: cueOptions{quantity: "_", intOrString: "_"}},
	{name: "inlined", opt: func() cueOptions { o := defaultCUEOptions; o.inline = true; return o }()},
	{name: "trimmed-to-fleet", opt: defaultCUEOptions, trim: true},
}

// shapeFiles generates the files of one shape.
func shapeFiles(b *testing.B, opt cueOptions, trim bool) map[string][]byte {
	cfg := defaultConfig()
	m, err := newModel(cfg)
	require.NoError(b, err)
	if trim {
		var fleet map[string]any
		require.NoError(b, json.Unmarshal(fleetJSON(1), &fleet))
		used := map[*Field]bool{}
		for _, vm := range fleet {
			markUsed(used, m.Defs[cfg.kinds[0].Go], vm)
		}
		for _, d := range m.Defs {
			d.Fields = slices.DeleteFunc(d.Fields, func(f *Field) bool { return !used[f] && !f.Required && f.Const == "" })
		}
	}
	files, err := render(cfg, m, opt)
	require.NoError(b, err)
	return files
}

// markUsed marks the fields of d that JSON value v sets, recursively.
func markUsed(used map[*Field]bool, d *Def, v any) {
	obj, _ := v.(map[string]any)
	for name, x := range obj {
		f := d.Field(name)
		if f == nil {
			continue
		}
		used[f] = true
		switch t := f.Type; {
		case t.Def != nil:
			markUsed(used, t.Def, x)
		case t.Kind == KindList && t.Elem.Def != nil:
			items, _ := x.([]any)
			for _, item := range items {
				markUsed(used, t.Elem.Def, item)
			}
		}
	}
}

// BenchmarkValidateVMs unifies a fleet of VMs with #VirtualMachine in one context and validates it
// (cue.Concrete). Schema loading is outside the timer; the JSON-to-CUE step is inside and also
// reported on its own (compile-ms), next to the unification and validation (validate-ms).
//
//	go test ./internal/apischema -run '^$' -bench ValidateVMs -benchtime 3x
func BenchmarkValidateVMs(b *testing.B) {
	for _, shape := range schemaShapes {
		files := shapeFiles(b, shape.opt, shape.trim)
		for _, n := range []int{1000, 10000} {
			data := fleetJSON(n)
			modes := []string{"one-value"}
			if shape.name == "default" {
				modes = append(modes, "per-vm", "per-vm-parallel")
			}
			for _, mode := range modes {
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
						case "per-vm-parallel":
							// cue.Value is safe for concurrent use from v0.17.0: one context, GOMAXPROCS workers.
							var vms []cue.Value
							it, err := fleet.Fields()
							require.NoError(b, err)
							for it.Next() {
								vms = append(vms, it.Value())
							}
							var g errgroup.Group
							g.SetLimit(runtime.GOMAXPROCS(0))
							for _, v := range vms {
								g.Go(func() error { return vm.Unify(v).Validate(cue.Concrete(true)) })
							}
							require.NoError(b, g.Wait())
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

// BenchmarkValidateVMsOpenAPI is the same fleet checked in Go against the generated VirtualMachine
// CRD, the way the apiserver checks it: JSON decoding, OpenAPI validation (types, required fields,
// quantity syntax) and pruning (unknown fields).
func BenchmarkValidateVMsOpenAPI(b *testing.B) {
	cfg := defaultConfig()
	m, err := newModel(cfg)
	require.NoError(b, err)
	s := structural(b, crd(cfg.kinds[0], m))
	require.Equal(b, "VirtualMachine", cfg.kinds[0].Kind)
	validator := validate.NewSchemaValidator(s.ToKubeOpenAPI(), nil, "", strfmt.Default)
	for _, n := range []int{1000, 10000} {
		var docs [][]byte
		var fleet map[string]json.RawMessage
		require.NoError(b, json.Unmarshal(fleetJSON(n), &fleet))
		for _, raw := range fleet {
			docs = append(docs, raw)
		}
		b.Run(fmt.Sprintf("vms=%d", n), func(b *testing.B) {
			var cpu time.Duration
			for range b.N {
				c0 := cpuTime()
				for _, doc := range docs {
					var obj map[string]any
					require.NoError(b, kjson.Unmarshal(doc, &obj))
					if res := validator.Validate(obj); len(res.Errors) > 0 {
						b.Fatal(res.Errors)
					}
					if unknown := pruning.PruneWithOptions(obj, s, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true}); len(unknown) > 0 {
						b.Fatal(unknown)
					}
				}
				cpu += cpuTime() - c0
			}
			b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms")
		})
	}
}
