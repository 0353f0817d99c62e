package validate

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/vmo-cue/vmo-cue/internal/engine"
	"github.com/vmo-cue/vmo-cue/internal/fleetfs"
	"github.com/vmo-cue/vmo-cue/internal/genfleet"
)

// BenchmarkWebhookRules measures the rules of KubeVirt's admission webhook (webhook.go, the gated
// features included) on a generated 10,000-VM fleet, and prints their share of validating it.
func BenchmarkWebhookRules(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "fleet")
	if _, err := genfleet.Generate(dir, genfleet.Options{Clusters: 100, VMs: 10000, Form: genfleet.FormCUE, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	repo, err := fleetfs.Read(dir, fleetfs.Options{})
	if err != nil {
		b.Fatal(err)
	}
	e, err := engine.New(repo, engine.Options{})
	if err != nil {
		b.Fatal(err)
	}
	f, err := e.Evaluate()
	if err != nil {
		b.Fatal(err)
	}
	bi, err := engine.LoadBuiltin()
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	r, err := Fleet(f, bi)
	if err != nil {
		b.Fatal(err)
	}
	whole := time.Since(start)
	b.ResetTimer()
	for b.Loop() {
		for _, c := range r.Clusters {
			for _, vm := range c.VMs {
				checkWebhookRules(c, vm)
			}
		}
	}
	per := b.Elapsed() / time.Duration(b.N)
	b.Logf("webhook rules on 10,000 VMs: %v; validating the fleet: %v (%.1f%%)", per, whole, 100*float64(per)/float64(whole))
}
