package settings_test

import (
	"encoding/json"
	"testing"

	"github.com/vmo-cue/vmo-cue/internal/engine"
	"github.com/vmo-cue/vmo-cue/internal/settings"
)

// BenchmarkDecode: one cluster's settings (the built-in defaults, every component set) decoded from
// the merged map, against the alternative of a JSON round trip into the same types (which would also
// turn the ints of an ipam section into floats). Decode runs once per cluster.
func BenchmarkDecode(b *testing.B) {
	bi, err := engine.LoadBuiltin()
	if err != nil {
		b.Fatal(err)
	}
	merged, _ := engine.Merge(engine.NewLayer(bi.SettingsDefaults))
	b.Run("Decode", func(b *testing.B) {
		for b.Loop() {
			if _, err := settings.Decode(merged, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("JSON", func(b *testing.B) {
		for b.Loop() {
			data, err := json.Marshal(merged)
			if err != nil {
				b.Fatal(err)
			}
			var s settings.Settings
			if err := json.Unmarshal(data, &s); err != nil {
				b.Fatal(err)
			}
		}
	})
}
