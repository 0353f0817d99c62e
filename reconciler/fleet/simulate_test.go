package fleet_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/vmo-cue/vmo-cue/reconciler/clusterstatus"
	"github.com/vmo-cue/vmo-cue/reconciler/fleet"
)

// simulatedCluster is a SIMULATION, not a cluster: a stand-in Target with a set latency and failure
// rate, used only by BenchmarkScheduler to measure the scheduler at a scale no test machine can run
// real API servers for. Nothing here talks to Kubernetes.
//
// Connect sleeps connectLatency, or, for an offline site, the whole connectTimeout and then fails as
// unreachable (what a real target does when nothing answers). Sync sleeps syncTime and answers Synced,
// or Failed for the clusters drawn to fail.
type simulatedCluster struct {
	name           string
	connectLatency time.Duration
	connectTimeout time.Duration
	syncTime       time.Duration
	offline, fails bool
}

func (s *simulatedCluster) Name() string { return s.name }

func (s *simulatedCluster) Connect(ctx context.Context) error {
	if s.offline {
		time.Sleep(s.connectTimeout)
		return &fleet.OfflineError{Err: errors.New("simulated: no answer within the connection timeout")}
	}
	time.Sleep(s.connectLatency)
	return nil
}

func (s *simulatedCluster) Sync(ctx context.Context) fleet.Outcome {
	time.Sleep(s.syncTime)
	if s.fails {
		return fleet.Outcome{State: clusterstatus.Failed, Message: "simulated failure"}
	}
	return fleet.Outcome{State: clusterstatus.Synced, Changed: true}
}

// simulation describes a simulated fleet.
type simulation struct {
	clusters       int
	offline        int // the first clusters of every ten are offline: 1 → 10%
	connectLatency time.Duration
	connectTimeout time.Duration
	syncTime       time.Duration
	failRate       float64 // share of the reachable clusters whose sync fails, drawn with a fixed seed
}

// targets builds the simulated clusters. Offline ones are spread through the fleet (every tenth
// cluster for 10%), not bunched at one end.
func (s simulation) targets() []fleet.Target {
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([]fleet.Target, s.clusters)
	for i := range out {
		out[i] = &simulatedCluster{
			name:           fmt.Sprintf("sim-%04d", i),
			connectLatency: s.connectLatency,
			connectTimeout: s.connectTimeout,
			syncTime:       s.syncTime,
			offline:        i%10 < s.offline,
			fails:          rng.Float64() < s.failRate,
		}
	}
	return out
}
