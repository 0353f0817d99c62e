package dashboard_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/dashboard"
)

// staticSource is a simulated fleet: status rows as a sync would record them.
type staticSource struct{ rows []dashboard.ClusterRow }

func (s staticSource) Clusters(context.Context) ([]dashboard.ClusterRow, error) { return s.rows, nil }
func (s staticSource) Live(context.Context, string, *dashboard.GitView) (*dashboard.Live, error) {
	return &dashboard.Live{VMs: map[string]*dashboard.LiveVM{}}, nil
}

// simulatedFleet is clusters clusters of vmsPer VMs each, in three waves and every state.
func simulatedFleet(clusters, vmsPer int) ([]dashboard.ClusterRow, *dashboard.GitView) {
	g := &dashboard.GitView{Commit: dashboard.Commit{Hash: "0123456789abcdef0123456789abcdef01234567", Branch: "main", Subject: "simulated"},
		Clusters: map[string]*dashboard.GitCluster{}}
	var rows []dashboard.ClusterRow
	now := time.Now()
	for i := range clusters {
		name := fmt.Sprintf("edge-%04d", i)
		wave := []string{"canary", "edge", "rest"}[min(i%50, 2)]
		gc := &dashboard.GitCluster{Name: name, Wave: wave, Labels: map[string]string{"tier": "edge", "region": fmt.Sprintf("r%d", i%7)}, Valid: true}
		for j := range vmsPer {
			gc.VMs = append(gc.VMs, &dashboard.GitVM{Cluster: name, Namespace: "vms", Name: fmt.Sprintf("vm-%02d", j), File: "clusters/" + name + "/vms.yaml", Line: 1 + j*40,
				RunStrategy: "Always", Interfaces: []dashboard.Interface{{Name: "lan", MAC: fmt.Sprintf("02:00:%02x:%02x:%02x:01", i>>8, i&0xff, j), Network: "vms/lan", VLAN: 100 + j}}})
		}
		g.Clusters[name] = gc
		st := dashboard.States[i%len(dashboard.States)]
		rows = append(rows, dashboard.ClusterRow{Name: name, State: st, Revision: "main@0123456789abcdef0123456789abcdef01234567",
			Synced: now.Add(-time.Duration(i) * time.Second), LastSeen: now.Add(-time.Duration(i) * time.Minute), VMs: vmsPer, Drifted: i % 3})
	}
	return rows, g
}

func fleetPage(tb testing.TB, srv *dashboard.Server) int {
	rec := newRecorder()
	srv.Handler().ServeHTTP(rec, loopbackRequest("GET", "/"))
	if rec.Code != http.StatusOK {
		tb.Fatalf("GET /: %d", rec.Code)
	}
	return rec.Body.Len()
}

// TestFleetPageWeight: with 1,000 clusters and 10,000 VMs the fleet page stays under 500 KB (it is
// paged: 100 clusters at a time, and the wave × state matrix).
func TestFleetPageWeight(t *testing.T) {
	rows, g := simulatedFleet(1000, 10)
	srv, err := dashboard.New(dashboard.Options{Source: staticSource{rows}})
	require.NoError(t, err)
	srv.SetSnapshot(rows, g)
	n := fleetPage(t, srv)
	require.Less(t, n, 500*1024)
	t.Logf("fleet page, 1,000 clusters and 10,000 VMs: %d bytes", n)
}

// BenchmarkFleetPage serves the fleet page of 1,000 clusters and 10,000 VMs (simulated status), and
// prints the server time and the page weight, against the alternative of one unpaged table.
func BenchmarkFleetPage(b *testing.B) {
	rows, g := simulatedFleet(1000, 10)
	srv, err := dashboard.New(dashboard.Options{Source: staticSource{rows}})
	require.NoError(b, err)
	srv.SetSnapshot(rows, g)
	measure := func() (time.Duration, int) {
		const n = 20
		var size int
		start := time.Now()
		for range n {
			size = fleetPage(b, srv)
		}
		return time.Since(start) / n, size
	}
	for b.Loop() {
		fleetPage(b, srv)
	}
	paged, pagedSize := measure()
	defer func(p int) { dashboard.PageSize = p }(dashboard.PageSize)
	dashboard.PageSize = 1 << 20
	whole, wholeSize := measure()
	b.ReportMetric(float64(pagedSize), "bytes/page")
	b.Logf("fleet page, 1,000 clusters, 10,000 VMs: server time %v (target < 100ms), weight %d KB (target < 500 KB); "+
		"one unpaged table instead: %v, %d KB (%.1fx the time, %.1fx the weight)",
		paged.Round(10*time.Microsecond), pagedSize/1024, whole.Round(10*time.Microsecond), wholeSize/1024,
		float64(whole)/float64(paged), float64(wholeSize)/float64(pagedSize))
}
