package reconciler_test

// Benchmarks of issue 4 ("Speed"), against real API servers, with about 1,000 objects: the stack and
// 950 VMs in one cluster (internal/genfleet). Figures are reported with b.ReportMetric and b.Logf;
// only correctness is asserted, never time. Clusters are started outside the timer.
//
//	go test ./reconciler/ -run '^$' -bench . -benchtime 1x -v

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxcd/pkg/ssa"
	"golang.org/x/sync/errgroup"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/vmo-cue/vmo-cue/internal/desired"
	"github.com/vmo-cue/vmo-cue/internal/genfleet"
	"github.com/vmo-cue/vmo-cue/internal/testcluster"
	"github.com/vmo-cue/vmo-cue/internal/validate"
	"github.com/vmo-cue/vmo-cue/reconciler"
	"github.com/vmo-cue/vmo-cue/reconciler/inventory"
)

// fluxConcurrency is how many objects Flux's drift detection dry-runs at once (kustomize-controller
// and Timoni run fluxcd/pkg/ssa with a concurrency of 4).
const fluxConcurrency = 4

// benchFleet is a generated one-cluster fleet and its rendered objects.
type benchFleet struct {
	vc    *validate.Cluster
	d     *reconciler.Desired
	objs  []*unstructured.Unstructured
	kinds int
}

func newBenchFleet(b testing.TB) *benchFleet {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "fleet")
	if _, err := genfleet.Generate(dir, genfleet.Options{Clusters: 1, VMs: 950, Form: genfleet.FormYAML, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	r, err := desired.Load(dir, desired.Options{})
	if err != nil {
		b.Fatal(err)
	}
	vc := r.Clusters[0]
	if !vc.Valid() {
		b.Fatalf("generated cluster %s does not validate: %v", vc.Name, vc.Diags)
	}
	d, err := desired.Render(vc)
	if err != nil {
		b.Fatal(err)
	}
	objs := d.Objects
	kinds := map[schema.GroupKind]bool{}
	for _, o := range objs {
		kinds[o.GroupVersionKind().GroupKind()] = true
	}
	return &benchFleet{vc: vc, d: d, objs: objs, kinds: len(kinds)}
}

// writeManifests writes the objects as kubectl reads them from a folder: one file each, in apply
// order (kubectl takes the files of a folder in lexical order).
func (f *benchFleet) writeManifests(b testing.TB) string {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "manifests")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	for i, o := range f.objs {
		data, err := yaml.Marshal(o.Object)
		if err != nil {
			b.Fatal(err)
		}
		name := fmt.Sprintf("%04d-%s-%s.yaml", i, o.GetKind(), o.GetName())
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// countingConfig returns a copy of cfg whose requests are counted in n.
func countingConfig(cfg *rest.Config, n *atomic.Int64) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			n.Add(1)
			return rt.RoundTrip(r)
		})
	})
	return cfg
}

// cliConfig returns cfg as `vmo-cue apply` has it from a kubeconfig: without a client-side rate
// limit of its own (the harness's configurations carry one, QPS 200), so that Connect sets the
// reconciler's (1,000 a second, reconciler/client.go). With the harness's, the limiter, not the API
// server, bounded a first apply of 1,000 objects: ~5 s of writes whatever the server's speed.
func cliConfig(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 0, 0
	return cfg
}

// firstApply applies the fleet to a fresh cluster as `vmo-cue apply` does: connect, reconcile.
func (f *benchFleet) firstApply(b testing.TB, cfg *rest.Config) *reconciler.Result {
	b.Helper()
	rc, err := reconciler.Connect(cliConfig(cfg))
	if err != nil {
		b.Fatal(err)
	}
	res, err := rc.Reconcile(context.Background(), f.d, reconciler.Options{Revision: "bench", PendingTimeout: time.Minute})
	if err != nil {
		b.Fatalf("first apply: %v (%d failed: %v)", err, len(res.Failed), res.Failed)
	}
	if len(res.Pending)+len(res.Failed) > 0 || len(res.Applied) != len(f.objs) {
		b.Fatalf("first apply: %d applied of %d, %d pending, %d failed", len(res.Applied), len(f.objs), len(res.Pending), len(res.Failed))
	}
	return res
}

// delayed puts a DelayProxy in front of the API server of cfg for the rest of the benchmark.
func delayed(b *testing.B, cfg *rest.Config, oneWay time.Duration) *testcluster.DelayProxy {
	b.Helper()
	u, err := url.Parse(cfg.Host)
	if err != nil {
		b.Fatal(err)
	}
	p, err := testcluster.NewDelayProxy(u.Host, oneWay)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	return p
}

// warmUp makes a just-started API server as ready as a long-running one: until a round of dry-run
// creates, one object of each kind, answers at once. (For about two seconds after its CRDs are
// Established, a new API server holds the first creates of their kinds; a benchmark that met that
// on one side and not the other would measure the server's start, not the clients.) Both sides are
// warmed alike, outside the timer.
func warmUp(b testing.TB, cfg *rest.Config, objs []*unstructured.Unstructured) {
	b.Helper()
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		b.Fatal(err)
	}
	samples := map[schema.GroupKind]*unstructured.Unstructured{}
	for _, o := range objs {
		if gk := o.GroupVersionKind().GroupKind(); samples[gk] == nil {
			u := o.DeepCopy()
			if u.GetNamespace() != "" {
				u.SetNamespace("default")
			}
			samples[gk] = u
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		start := time.Now()
		for _, u := range samples {
			if err := c.Create(context.Background(), u.DeepCopy(), client.DryRunAll); err != nil && !apierrors.IsAlreadyExists(err) {
				b.Fatalf("warm-up: dry-run of %s %s: %v", u.GetKind(), u.GetName(), err)
			}
		}
		if time.Since(start) < 500*time.Millisecond || time.Now().After(deadline) {
			return
		}
	}
}

// logInventorySize reports the size of the in-cluster inventory (a ConfigMap: 1 MiB at most).
func logInventorySize(b *testing.B, cfg *rest.Config) {
	b.Helper()
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		b.Fatal(err)
	}
	var cm corev1.ConfigMap
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: inventory.Namespace, Name: inventory.Name}, &cm); err != nil {
		b.Fatal(err)
	}
	inv, err := inventory.Read(context.Background(), c)
	if err != nil {
		b.Fatal(err)
	}
	size := 0
	for _, v := range cm.BinaryData {
		size += len(v)
	}
	b.Logf("inventory: %d entries, %d distinct field sets, %d KiB compressed", len(inv.Entries), len(inv.FieldSets), size/1024)
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// BenchmarkReapplyUnchanged: a re-apply when nothing changed (a new connection each time, as a
// `vmo-cue apply` run), against Flux's drift detection: a server-side dry-run of every object
// (fluxcd/pkg/ssa ResourceManager.Diff, a GET and a dry-run apply each, fluxConcurrency at once).
// Targets: at most kinds+10 requests, at most 0.2× the wall time of the dry-runs.
func BenchmarkReapplyUnchanged(b *testing.B) {
	f := newBenchFleet(b)
	env := testcluster.StartWithCRDs(b, "bench")
	cfg := env.Cluster("bench").Config()
	f.firstApply(b, cfg)
	ctx := context.Background()
	logInventorySize(b, cfg)

	var fluxRequests atomic.Int64
	fluxClient, err := client.New(countingConfig(cfg, &fluxRequests), client.Options{})
	if err != nil {
		b.Fatal(err)
	}
	rm := ssa.NewResourceManager(fluxClient, nil, ssa.Owner{Field: reconciler.FieldManager, Group: "vmo-cue.dev"})

	var ours, flux time.Duration
	var requests, connectRequests int64
	drifted := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StartTimer()
		start := time.Now()
		rc, err := reconciler.Connect(cliConfig(cfg))
		if err != nil {
			b.Fatal(err)
		}
		res, err := rc.Reconcile(ctx, f.d, reconciler.Options{Revision: "bench"})
		ours += time.Since(start)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if !res.InSync() || res.Written {
			b.Fatalf("re-apply of an unchanged cluster: %d applied, %d corrected, written %v", len(res.Applied), len(res.Corrected), res.Written)
		}
		requests += res.Requests
		connectRequests += rc.Requests() - res.Requests

		fluxRequests.Store(0)
		start = time.Now()
		var changed atomic.Int64
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(fluxConcurrency)
		for _, o := range f.objs {
			g.Go(func() error {
				cse, _, _, err := rm.Diff(gctx, o.DeepCopy(), ssa.DefaultDiffOptions())
				if err != nil {
					return fmt.Errorf("%s %s: %w", o.GetKind(), o.GetName(), err)
				}
				if cse.Action != ssa.UnchangedAction {
					changed.Add(1)
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
		flux += time.Since(start)
		drifted += int(changed.Load())
	}
	n := float64(b.N)
	target := int64(f.kinds + 10)
	perOp := requests / int64(b.N)
	b.ReportMetric(ours.Seconds()/n, "vmo-cue-s/op")
	b.ReportMetric(float64(perOp), "vmo-cue-requests/op")
	b.ReportMetric(float64(connectRequests)/n, "connect-requests/op")
	b.ReportMetric(flux.Seconds()/n, "dryrun-all-s/op")
	b.ReportMetric(float64(fluxRequests.Load()), "dryrun-all-requests/op")
	b.ReportMetric(ours.Seconds()/flux.Seconds(), "ratio")
	b.Logf("re-apply of %d unchanged objects (%d kinds): vmo-cue %s, %d requests (target ≤ %d) + %d to connect; dry-run of every object (concurrency %d): %s, %d requests, %d reported changed; ratio %.3f (target ≤ 0.2)",
		len(f.objs), f.kinds, (ours / time.Duration(b.N)).Round(time.Millisecond), perOp, target, connectRequests/int64(b.N),
		fluxConcurrency, (flux / time.Duration(b.N)).Round(time.Millisecond), fluxRequests.Load(), drifted/b.N, ours.Seconds()/flux.Seconds())
	if perOp > target {
		b.Errorf("re-apply made %d requests, more than kinds+10 = %d", perOp, target)
	}
}

// drift is one change made by hand to a live object.
type drift struct {
	kind  string
	apply func(ctx context.Context, c client.Client, u *unstructured.Unstructured) error
	// eligible objects (nil: every object whose deletion or change does not take others with it).
	eligible func(u *unstructured.Unstructured) bool
}

var kindIs = func(kinds ...string) func(u *unstructured.Unstructured) bool {
	return func(u *unstructured.Unstructured) bool {
		for _, k := range kinds {
			if u.GetKind() == k {
				return true
			}
		}
		return false
	}
}

// benchDrifts are the kinds of drift, those with few eligible objects first (the benchmark takes
// them in turn).
func benchDrifts() []drift {
	update := func(ctx context.Context, c client.Client, u *unstructured.Unstructured) error {
		return c.Update(ctx, u, client.FieldOwner("kubectl-edit"))
	}
	return []drift{
		{kind: "feature gate removed", eligible: kindIs("KubeVirt"), apply: func(ctx context.Context, c client.Client, u *unstructured.Unstructured) error {
			path := []string{"spec", "configuration", "developerConfiguration", "featureGates"}
			gates, _, _ := unstructured.NestedStringSlice(u.Object, path...)
			if len(gates) == 0 {
				return fmt.Errorf("KubeVirt CR without feature gates")
			}
			if err := unstructured.SetNestedStringSlice(u.Object, gates[1:], path...); err != nil {
				return err
			}
			return update(ctx, c, u)
		}},
		{kind: "ConfigMap value changed", eligible: kindIs("ConfigMap"), apply: func(ctx context.Context, c client.Client, u *unstructured.Unstructured) error {
			data, _, _ := unstructured.NestedStringMap(u.Object, "data")
			for k := range data {
				data[k] = "changed by hand"
			}
			if err := unstructured.SetNestedStringMap(u.Object, data, "data"); err != nil {
				return err
			}
			return update(ctx, c, u)
		}},
		{kind: "scaled", eligible: func(u *unstructured.Unstructured) bool {
			_, ok, _ := unstructured.NestedFieldNoCopy(u.Object, "spec", "replicas")
			return u.GetKind() == "Deployment" && ok
		}, apply: func(ctx context.Context, c client.Client, u *unstructured.Unstructured) error {
			dep := &appsv1.Deployment{}
			if err := c.Get(ctx, client.ObjectKeyFromObject(u), dep); err != nil {
				return err
			}
			scale := &autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: 7}}
			return c.SubResource("scale").Update(ctx, dep, client.WithSubResourceBody(scale), client.FieldOwner("kubectl-scale"))
		}},
		{kind: "image changed", eligible: kindIs("Deployment", "DaemonSet"), apply: func(ctx context.Context, c client.Client, u *unstructured.Unstructured) error {
			cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
			cs[0].(map[string]any)["image"] = "registry.example.com/patched:hotfix"
			if err := unstructured.SetNestedSlice(u.Object, cs, "spec", "template", "spec", "containers"); err != nil {
				return err
			}
			return update(ctx, c, u)
		}},
		{kind: "VM MAC changed", eligible: func(u *unstructured.Unstructured) bool {
			if u.GetKind() != "VirtualMachine" {
				return false
			}
			ifaces, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "domain", "devices", "interfaces")
			for _, i := range ifaces {
				if m, _ := i.(map[string]any); m["macAddress"] != nil {
					return true
				}
			}
			return false
		}, apply: func(ctx context.Context, c client.Client, u *unstructured.Unstructured) error {
			path := []string{"spec", "template", "spec", "domain", "devices", "interfaces"}
			ifaces, _, _ := unstructured.NestedSlice(u.Object, path...)
			for _, i := range ifaces {
				if m, _ := i.(map[string]any); m["macAddress"] != nil {
					m["macAddress"] = "02:de:ad:00:00:01"
				}
			}
			if err := unstructured.SetNestedSlice(u.Object, ifaces, path...); err != nil {
				return err
			}
			return update(ctx, c, u)
		}},
		{kind: "deleted", eligible: func(u *unstructured.Unstructured) bool {
			// Deleting a namespace or a CRD takes other objects with it.
			return !kindIs("Namespace", "CustomResourceDefinition")(u)
		}, apply: func(ctx context.Context, c client.Client, u *unstructured.Unstructured) error {
			return c.Delete(ctx, u)
		}},
		{kind: "label removed", apply: func(ctx context.Context, c client.Client, u *unstructured.Unstructured) error {
			l := u.GetLabels()
			delete(l, "vmo-cue.dev/cluster")
			u.SetLabels(l)
			return update(ctx, c, u)
		}},
	}
}

// noise is what others write that is not drift: annotations on any object, a VM's status.
func noise(ctx context.Context, c client.Client, u *unstructured.Unstructured, i int) error {
	if u.GetKind() == "VirtualMachine" && i%2 == 0 {
		if err := unstructured.SetNestedField(u.Object, "Stopped", "status", "printableStatus"); err != nil {
			return err
		}
		return c.Status().Update(ctx, u, client.FieldOwner("virt-controller"))
	}
	a := u.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a["kubevirt.io/pci-topology-version"] = "v3"
	a["example.com/seen-by"] = "inventory-scanner"
	u.SetAnnotations(a)
	return c.Update(ctx, u, client.FieldOwner("some-controller"))
}

// BenchmarkDriftExactness induces drifts of every kind the issue lists on random objects, and
// noise that is not drift on others, then checks that a report-mode reconcile finds exactly the
// drifted objects (b.Fatal otherwise), and that correct mode corrects exactly them.
func BenchmarkDriftExactness(b *testing.B) {
	const drifts, noisy = 40, 40
	f := newBenchFleet(b)
	env := testcluster.StartWithCRDs(b, "bench")
	cfg := env.Cluster("bench").Config()
	f.firstApply(b, cfg)
	ctx := context.Background()
	other, err := client.New(cfg, client.Options{})
	if err != nil {
		b.Fatal(err)
	}
	rc, err := reconciler.Connect(cliConfig(cfg))
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(4, 4))
	kinds := benchDrifts()
	var found, induced int
	var wall time.Duration
	var requests int64
	perKind := map[string]int{}
	b.StopTimer()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Induce: each drift kind in turn on a random object not used yet.
		used := map[string]bool{}
		want := map[string]string{}
		order := rng.Perm(len(f.objs))
		for d := 0; len(want) < drifts && d < drifts*len(kinds); d++ {
			k := kinds[d%len(kinds)]
			for _, idx := range order {
				o := f.objs[idx]
				id := idOf(o)
				if used[id] || (k.eligible != nil && !k.eligible(o)) || (k.eligible == nil && kindIs("Namespace", "CustomResourceDefinition")(o)) {
					continue
				}
				live := getObj(b, other, o)
				if err := k.apply(ctx, other, live); err != nil {
					b.Fatalf("inducing %s on %s: %v", k.kind, id, err)
				}
				used[id], want[id] = true, k.kind
				break
			}
		}
		// Noise: others' writes that are not drift, on objects not drifted.
		for n, made := len(order)-1, 0; n >= 0 && made < noisy; n-- {
			o := f.objs[order[n]]
			if used[idOf(o)] || kindIs("CustomResourceDefinition")(o) {
				continue
			}
			if err := noise(ctx, other, getObj(b, other, o), made); err != nil {
				b.Fatalf("noise on %s: %v", idOf(o), err)
			}
			made++
		}

		b.StartTimer()
		start := time.Now()
		res, err := rc.Reconcile(ctx, f.d, reconciler.Options{Revision: "bench", Drift: reconciler.DriftReport})
		wall += time.Since(start)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		requests += res.Requests
		got := map[string]bool{}
		for _, it := range res.Drifted {
			got[it.ID.String()] = true
		}
		var missed, extra []string
		for id, kind := range want {
			if !got[id] {
				missed = append(missed, id+" ("+kind+")")
			}
		}
		for id := range got {
			if _, ok := want[id]; !ok {
				extra = append(extra, id)
			}
		}
		sort.Strings(missed)
		sort.Strings(extra)
		for _, kind := range want {
			perKind[kind]++
		}
		found += len(want) - len(missed)
		induced += len(want)
		if len(missed)+len(extra)+len(res.Applied)+len(res.Corrected)+len(res.OutOfSync) > 0 || res.Written {
			b.Fatalf("drift detection not exact: missed %v, reported without drift %v; applied %d, corrected %d, out of sync %d, written %v",
				missed, extra, len(res.Applied), len(res.Corrected), len(res.OutOfSync), res.Written)
		}

		// Correct, outside the timer: exactly the drifted objects are re-applied.
		cor, err := rc.Reconcile(ctx, f.d, reconciler.Options{Revision: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		if len(cor.Corrected) != len(want) || len(cor.Applied) != 0 {
			b.Fatalf("correct mode: %d corrected, %d applied, want %d corrected", len(cor.Corrected), len(cor.Applied), len(want))
		}
		again, err := rc.Reconcile(ctx, f.d, reconciler.Options{Revision: "bench", Drift: reconciler.DriftReport})
		if err != nil || !again.InSync() {
			b.Fatalf("after correction: in sync %v, %v", again != nil && again.InSync(), err)
		}
	}
	b.ReportMetric(float64(found), "found")
	b.ReportMetric(float64(induced), "induced")
	b.ReportMetric(wall.Seconds()/float64(b.N), "report-s/op")
	b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
	b.Logf("drift exactness: %d/%d induced drifts found (%v), nothing else reported (%d objects with others' non-drift writes per round); report-mode reconcile of %d objects %s, %d requests",
		found, induced, perKind, noisy, len(f.objs), (wall / time.Duration(b.N)).Round(time.Millisecond), requests/int64(b.N))
}

func idOf(u *unstructured.Unstructured) string {
	gvk := u.GroupVersionKind()
	return idFor(gvk, u.GetNamespace(), u.GetName())
}

func getObj(b *testing.B, c client.Client, o *unstructured.Unstructured) *unstructured.Unstructured {
	b.Helper()
	u := getLive(b, c, o.GroupVersionKind(), o.GetNamespace(), o.GetName())
	if u == nil {
		b.Fatalf("%s is not in the cluster", idOf(o))
	}
	return u
}
