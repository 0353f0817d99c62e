package desired

import (
	"path/filepath"
	"runtime"
	"testing"

	"github.com/vmo-cue/vmo-cue/internal/genfleet"
)

// Benchmarks of loading a generated fleet (read, evaluate, validate), as `vmo-cue vet` does:
//
//	go test -run '^$' -bench BenchmarkLoad10k -benchtime 3x -cpuprofile cpu.out ./internal/desired
//
// Each benchmark generates its fleet once (b.Loop runs the function body once), outside the timer.

func BenchmarkLoad1k(b *testing.B)      { benchmarkLoad(b, 10, 1000, genfleet.FormCUE) }
func BenchmarkLoad10k(b *testing.B)     { benchmarkLoad(b, 100, 10000, genfleet.FormCUE) }
func BenchmarkLoad10kYAML(b *testing.B) { benchmarkLoad(b, 100, 10000, genfleet.FormYAML) }

func benchmarkLoad(b *testing.B, clusters, vms int, form genfleet.Form) {
	dir := filepath.Join(b.TempDir(), "fleet")
	if _, err := genfleet.Generate(dir, genfleet.Options{Clusters: clusters, VMs: vms, Form: form, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r, err := Load(dir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if errs := r.All().Errors(); len(errs) > 0 {
			b.Fatalf("generated fleet does not validate: %d errors, first: %v", len(errs), errs[0])
		}
	}
	b.ReportMetric(float64(vms)*float64(b.N)/b.Elapsed().Seconds(), "vms/sec")

	// The heap that stays live while the result is held (what a command holds until it exits).
	b.StopTimer()
	r, err := Load(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	runtime.KeepAlive(r)
	b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "live-MiB")
}
