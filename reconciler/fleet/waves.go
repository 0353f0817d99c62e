package fleet

import (
	"math"
	"sort"

	"github.com/vmo-cue/vmo-cue/internal/validate"
)

// Labeled is a cluster with labels, to be placed in a wave.
type Labeled struct {
	Name   string
	Labels map[string]string
}

// WaveSpec is one declared wave (schemas #Wave).
type WaveSpec struct {
	Name     string
	Selector map[string]string
	Share    float64
}

// PlanWaves places clusters in waves: the canary (clusters matching its labels) first, then each
// declared wave takes the remaining clusters matching its selector, or a share of the remaining ones
// (rounded up, in name order); leftovers form a last wave "rest". Waves come in the order WaveNames
// names them, empty ones included.
func PlanWaves(clusters []Labeled, canary map[string]string, specs []WaveSpec) [][]string {
	rest := append([]Labeled(nil), clusters...)
	sort.Slice(rest, func(i, j int) bool { return rest[i].Name < rest[j].Name })
	var waves [][]string
	take := func(keep func(Labeled) bool) []string {
		var names []string
		var left []Labeled
		for _, c := range rest {
			if keep(c) {
				names = append(names, c.Name)
			} else {
				left = append(left, c)
			}
		}
		rest = left
		return names
	}
	if len(canary) > 0 {
		waves = append(waves, take(func(c Labeled) bool { return matches(c.Labels, canary) }))
	} else {
		waves = append(waves, nil)
	}
	for _, w := range specs {
		switch {
		case len(w.Selector) > 0:
			waves = append(waves, take(func(c Labeled) bool { return matches(c.Labels, w.Selector) }))
		case w.Share > 0:
			n := int(math.Ceil(w.Share * float64(len(rest))))
			i := 0
			waves = append(waves, take(func(Labeled) bool { i++; return i <= n }))
		default:
			waves = append(waves, take(func(Labeled) bool { return true }))
		}
	}
	waves = append(waves, take(func(Labeled) bool { return true }))
	return waves
}

// WaveNames names the waves PlanWaves returns, in the same order.
func WaveNames(specs []WaveSpec) []string {
	names := []string{"canary"}
	for _, w := range specs {
		names = append(names, w.Name)
	}
	return append(names, "rest")
}

func matches(labels, selector map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// WavesOf names the wave each declared cluster of a validated fleet is in, as Sync would place it
// (every cluster, valid or not, without a selector).
func WavesOf(res *validate.Result) map[string]string {
	rollout := readRollout(res.Fleet.Rollout)
	var labeled []Labeled
	for _, c := range res.Clusters {
		if c.Declared {
			labeled = append(labeled, Labeled{Name: c.Name, Labels: c.Labels})
		}
	}
	names := WaveNames(rollout.waves)
	out := map[string]string{}
	for i, members := range PlanWaves(labeled, rollout.canary, rollout.waves) {
		for _, n := range members {
			out[n] = names[i]
		}
	}
	return out
}
