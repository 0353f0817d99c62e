package controller

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	fleetv1 "github.com/vmo-cue/vmo-cue/api/v1alpha1"
)

// Metrics are the controller's own Prometheus metrics, beside Flux's gotk_* ones. Their labels are
// per Fleet and per cluster, never per VM or object: a hub serving thousands of clusters keeps a
// bounded number of series.
type Metrics struct {
	// vmocue_clusters{namespace,fleet,state}: the Fleet's clusters per state, every state listed.
	clusters *prometheus.GaugeVec
	// vmocue_drifted_objects{namespace,fleet,cluster}: objects drifted from git and left so at the
	// cluster's last sync (drift: report; corrected drift is not counted).
	drifted *prometheus.GaugeVec
	// vmocue_sync_duration_seconds{namespace,fleet}: one fleet sync (load, validate, rollout).
	syncDuration *prometheus.HistogramVec
}

// NewMetrics makes the metrics; register their Collectors.
func NewMetrics() *Metrics {
	return &Metrics{
		clusters: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vmocue_clusters",
			Help: "The clusters of a Fleet per state (InSync, Drifted, Syncing, Failed, Offline, Pending, Interrupted).",
		}, []string{"namespace", "fleet", "state"}),
		drifted: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vmocue_drifted_objects",
			Help: "Objects of a cluster that drifted from git and were left so at its last sync.",
		}, []string{"namespace", "fleet", "cluster"}),
		syncDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vmocue_sync_duration_seconds",
			Help:    "The duration of a fleet sync: loading and validating the revision and rolling it out.",
			Buckets: prometheus.ExponentialBucketsRange(0.05, 1800, 12),
		}, []string{"namespace", "fleet"}),
	}
}

// Collectors returns the collectors to register.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.clusters, m.drifted, m.syncDuration}
}

var states = []fleetv1.ClusterState{fleetv1.StateInSync, fleetv1.StateDrifted, fleetv1.StateSyncing, fleetv1.StateFailed,
	fleetv1.StateOffline, fleetv1.StatePending, fleetv1.StateInterrupted}

func (m *Metrics) record(namespace, name string, c fleetv1.ClusterCounts, drifted map[string]int) {
	if m == nil {
		return
	}
	n := map[fleetv1.ClusterState]int32{fleetv1.StateInSync: c.InSync, fleetv1.StateDrifted: c.Drifted, fleetv1.StateSyncing: c.Syncing,
		fleetv1.StateFailed: c.Failed, fleetv1.StateOffline: c.Offline, fleetv1.StatePending: c.Pending,
		fleetv1.StateInterrupted: c.Interrupted}
	for _, s := range states {
		m.clusters.WithLabelValues(namespace, name, string(s)).Set(float64(n[s]))
	}
	m.drifted.DeletePartialMatch(prometheus.Labels{"namespace": namespace, "fleet": name})
	for cluster, v := range drifted {
		m.drifted.WithLabelValues(namespace, name, cluster).Set(float64(v))
	}
}

func (m *Metrics) observeSync(namespace, name string, d time.Duration) {
	if m == nil {
		return
	}
	m.syncDuration.WithLabelValues(namespace, name).Observe(d.Seconds())
}

// forget drops the series of a Fleet that is gone.
func (m *Metrics) forget(namespace, name string) {
	if m == nil {
		return
	}
	l := prometheus.Labels{"namespace": namespace, "fleet": name}
	m.clusters.DeletePartialMatch(l)
	m.drifted.DeletePartialMatch(l)
	m.syncDuration.DeletePartialMatch(l)
}
