// Package clusterstatus is the status a cluster records about its last sync, in the cluster itself
// (ConfigMap vmo-cue-system/vmo-cue-status), so that `vmo-cue status` and a restarted agent read it
// from there. It is apart from reconciler/fleet so that the agent (cmd/vmo-cue-agent) records its
// status without linking the fleet's evaluation (CUE).
package clusterstatus

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vmo-cue/vmo-cue/reconciler"
	"github.com/vmo-cue/vmo-cue/reconciler/inventory"
)

// State is a cluster's state after a sync.
type State string

const (
	InSync  State = "InSync"
	Synced  State = "Synced"
	Drifted State = "Drifted"
	Syncing State = "Syncing"
	// Failed: the cluster refused the revision (an object, the health check) or its prune was
	// refused by the share guard. It holds later waves.
	Failed State = "Failed"
	// Offline: the cluster did not answer before anything was written to it. It never holds the
	// rest of the fleet back, and is retried with backoff.
	Offline State = "Offline"
	// Interrupted: the cluster stopped answering after vmo-cue began writing to it; it is partly at
	// the new revision. A failure, not an offline site: it holds later waves (the revision was not
	// proven there) and the next sync resumes it from the intent inventory, without backoff.
	Interrupted State = "Interrupted"
	// Invalid: the cluster's own definitions do not validate; it was skipped.
	Invalid State = "Invalid"
	// Held: not started because an earlier wave failed.
	Held State = "Held"
)

// Failure reports whether a cluster in this state fails its wave (Failed, Interrupted).
func (s State) Failure() bool { return s == Failed || s == Interrupted }

// OK reports whether a cluster in this state lets a sync succeed: in sync, synced, or offline (not
// reached, nothing written: an edge site that is away is not an error).
func (s State) OK() bool { return s == InSync || s == Synced || s == Offline }

// Name is the ConfigMap (in inventory.Namespace) where a cluster's sync status lives, so that
// `vmo-cue status` reads it from the cluster itself.
const Name = "vmo-cue-status"

// ClusterStatus is what a cluster says about its last sync.
type ClusterStatus struct {
	Cluster  string    `json:"cluster"`
	State    State     `json:"state"`
	Revision string    `json:"revision,omitempty"`
	Synced   time.Time `json:"synced,omitempty"`
	Drifted  int       `json:"drifted"`
	Orphans  int       `json:"orphans"`
	VMs      int       `json:"vms"`
	Message  string    `json:"message,omitempty"`
	// LastSeen is when the cluster last answered (from the local state for an offline cluster).
	LastSeen time.Time `json:"lastSeen,omitempty"`
	// Context is the kubeconfig context it was read through.
	Context string `json:"context,omitempty"`

	// Written by an agent (pull mode, `vmo-cue agent`) only. Agent names the fleet it reports to
	// ("NAMESPACE/NAME", or "standalone"); Released is the revision released to the cluster, which a
	// restarted agent applies while the hub and git cannot be reached; DriftedObjects names drifted
	// objects (at most 50) and Contested the objects another manager keeps changing, which the agent
	// stopped correcting ("kind/namespace/name by MANAGER after N corrections").
	Agent          string   `json:"agent,omitempty"`
	Released       string   `json:"released,omitempty"`
	DriftedObjects []string `json:"driftedObjects,omitempty"`
	Contested      []string `json:"contested,omitempty"`
}

func (s ClusterStatus) data() map[string]string {
	m := map[string]string{
		"cluster": s.Cluster, "state": string(s.State), "revision": s.Revision,
		"synced": s.Synced.UTC().Format(time.RFC3339), "drifted": fmt.Sprint(s.Drifted),
		"orphans": fmt.Sprint(s.Orphans), "vms": fmt.Sprint(s.VMs), "message": s.Message,
	}
	if s.Agent != "" {
		m["agent"], m["released"] = s.Agent, s.Released
		m["driftedObjects"], m["contested"] = strings.Join(s.DriftedObjects, "\n"), strings.Join(s.Contested, "\n")
	}
	return m
}

// Write records the status in the cluster, unless it already says the same (one GET then).
func Write(ctx context.Context, c client.Client, s ClusterStatus) error {
	var cm corev1.ConfigMap
	err := c.Get(ctx, client.ObjectKey{Namespace: inventory.Namespace, Name: Name}, &cm)
	want := s.data()
	if err == nil {
		same := len(cm.Data) == len(want)
		for k, v := range want {
			if k != "synced" && cm.Data[k] != v {
				same = false
			}
		}
		if same {
			return nil
		}
	} else if !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading %s/%s: %w", inventory.Namespace, Name, err)
	}
	ns := &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: inventory.Namespace, Labels: map[string]string{"app.kubernetes.io/managed-by": "vmo-cue"}}}
	if err := inventory.ApplyObject(ctx, c, ns, reconciler.FieldManager); err != nil {
		return fmt.Errorf("writing namespace %s: %w", inventory.Namespace, err)
	}
	out := &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: inventory.Namespace,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "vmo-cue"}},
		Data: want}
	if err := inventory.ApplyObject(ctx, c, out, reconciler.FieldManager); err != nil {
		return fmt.Errorf("writing %s/%s: %w", inventory.Namespace, Name, err)
	}
	return nil
}

// Read reads a cluster's status; found is false when vmo-cue never synced it.
func Read(ctx context.Context, c client.Client) (s ClusterStatus, found bool, err error) {
	var cm corev1.ConfigMap
	err = c.Get(ctx, client.ObjectKey{Namespace: inventory.Namespace, Name: Name}, &cm)
	if apierrors.IsNotFound(err) {
		return s, false, nil
	}
	if err != nil {
		return s, false, err
	}
	d := cm.Data
	s = ClusterStatus{Cluster: d["cluster"], State: State(d["state"]), Revision: d["revision"], Message: d["message"]}
	s.Synced, _ = time.Parse(time.RFC3339, d["synced"])
	fmt.Sscan(d["drifted"], &s.Drifted)
	fmt.Sscan(d["orphans"], &s.Orphans)
	fmt.Sscan(d["vms"], &s.VMs)
	s.Agent, s.Released = d["agent"], d["released"]
	s.DriftedObjects, s.Contested = lines(d["driftedObjects"]), lines(d["contested"])
	return s, true, nil
}

func lines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
