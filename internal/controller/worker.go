package controller

import (
	"context"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	ctrl "sigs.k8s.io/controller-runtime"

	fleetv1 "github.com/vmo-cue/vmo-cue/api/v1alpha1"
	"github.com/vmo-cue/vmo-cue/internal/engine"
	"github.com/vmo-cue/vmo-cue/internal/evalworker"
	"github.com/vmo-cue/vmo-cue/reconciler/fleet"
)

// The evaluation worker's metrics: per Fleet, its last worker's peak resident memory and the time
// its evaluation took, and the workers the controller killed.
var (
	workerPeakRSS = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vmocue_eval_worker_peak_rss_bytes",
		Help: "The peak resident memory of the last evaluation worker of a Fleet (its revision's load, validation and renders).",
	}, []string{"namespace", "fleet"})
	workerEvaluation = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vmocue_eval_worker_evaluation_seconds",
		Help: "How long the last evaluation worker of a Fleet took to load and validate its revision.",
	}, []string{"namespace", "fleet"})
	workerKills = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vmocue_eval_worker_kills_total",
		Help: "Evaluation workers of a Fleet the controller killed (deadline, memory limit, reconciliation ended).",
	}, []string{"namespace", "fleet"})
)

// workerCollectors are the worker's metrics, to register.
func workerCollectors() []prometheus.Collector {
	return []prometheus.Collector{workerPeakRSS, workerEvaluation, workerKills}
}

// forgetWorker drops the worker series of a Fleet that is gone.
func forgetWorker(namespace, name string) {
	l := prometheus.Labels{"namespace": namespace, "fleet": name}
	workerPeakRSS.DeletePartialMatch(l)
	workerEvaluation.DeletePartialMatch(l)
	workerKills.DeletePartialMatch(l)
}

// loader is how a pass loads revision: in an evaluation worker process (Options.Worker), whose
// figures are logged and recorded; in this process when no worker binary is set. The Fleet's last
// evaluation is kept under the cache directory (evalDir): a pass of the same revision starts no
// worker.
func (r *FleetReconciler) loader(ctx context.Context, obj *fleetv1.Fleet, revision string) fleet.Loader {
	if r.Worker.Binary == "" {
		return nil
	}
	log := ctrl.LoggerFrom(ctx)
	o := r.Worker
	if r.CacheDir != "" {
		o.CacheDir, o.Key = r.evalDir(obj.Namespace, obj.Name), revision
	}
	o.Observe = func(s evalworker.Stats) {
		if s.Reused {
			log.Info("evaluation reused", "revision", revision)
			return
		}
		workerPeakRSS.WithLabelValues(obj.Namespace, obj.Name).Set(float64(s.PeakRSS))
		workerEvaluation.WithLabelValues(obj.Namespace, obj.Name).Set(s.Evaluated.Seconds())
		if s.Killed != "" {
			workerKills.WithLabelValues(obj.Namespace, obj.Name).Inc()
		}
		log.Info("evaluation worker ended", "pid", s.PID, "peakRSS", engine.Bytes(s.PeakRSS),
			"evaluation", s.Evaluated.Round(time.Millisecond).String(), "rounds", s.Rounds, "took", s.Took.Round(time.Millisecond).String(), "killed", s.Killed, "peakRSSBytes", s.PeakRSS)
	}
	return evalworker.Loader(o)
}

// evalDir is where a Fleet's last evaluation is kept.
func (r *FleetReconciler) evalDir(namespace, name string) string {
	return filepath.Join(r.CacheDir, "evaluations", namespace, name)
}
