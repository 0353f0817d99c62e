package yamldoc

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmo-cue/vmo-cue/internal/genfleet"
)

// Benchmarks of decoding the YAML files of a generated fleet (1,000 VMs, 5 a file), as vet does for
// every YAML VM, against yaml.v3 and the converter on the same files:
//
//	go test -run '^$' -bench BenchmarkDecodeFleet -benchtime 5x -cpuprofile cpu.out ./internal/yamldoc
//
// BenchmarkDecodeFleet prints its time per VM and the ratio against yaml.v3's.

func BenchmarkDecodeFleet(b *testing.B) {
	files := fleetYAML(b, 1000)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	n := 0
	for b.Loop() {
		for _, f := range files {
			docs, problems := Decode(f.name, f.data)
			if len(problems) > 0 || len(docs) == 0 {
				b.Fatalf("%s: %v", f.name, problems)
			}
			n += len(docs)
		}
	}
	fast := time.Since(start) / time.Duration(n)
	b.StopTimer()
	// yaml.v3 on the same files, as many times.
	start = time.Now()
	m := 0
	for m < n {
		for _, f := range files {
			docs, _ := decodeV3(f.name, f.data, &lazyFile{data: f.data})
			m += len(docs)
		}
	}
	slow := time.Since(start) / time.Duration(m)
	b.ReportMetric(float64(fast.Nanoseconds()), "ns/VM")
	b.ReportMetric(float64(slow.Nanoseconds()), "yaml.v3-ns/VM")
	b.Logf("decoding a generated VM: %v (yaml.v3 and the converter: %v): %.2f× yaml.v3's time", fast, slow, float64(fast)/float64(slow))
}

type yamlFile struct {
	name string
	data []byte
}

// fleetYAML generates a YAML fleet of that many VMs and returns its VM files.
func fleetYAML(b *testing.B, vms int) []yamlFile {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "fleet")
	if _, err := genfleet.Generate(dir, genfleet.Options{Clusters: 10, VMs: vms, Form: genfleet.FormYAML, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	var files []yamlFile
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") {
			return err
		}
		data, err := os.ReadFile(p)
		files = append(files, yamlFile{p, data})
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return files
}
