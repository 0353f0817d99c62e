// Package wire is the evaluation worker's protocol, written once for both of its readers: the
// worker (internal/evalworker, which links CUE) and the agent (internal/agent, whose binary must
// not). It holds the header the worker sends on stdout, each cluster's answer in a file of the
// worker's --out folder, and the name of that file. Nothing here imports CUE.
package wire

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/reconciler"
)

// Command is the worker's hidden subcommand of vmo-cue.
const Command = "eval-worker"

// Header is the worker's message on stdout, once the revision is evaluated: the revision as the
// rollout plans it.
type Header struct {
	Fleet    string          `json:"fleet"`
	Rollout  json.RawMessage `json:"rollout,omitempty"`
	Shared   diag.List       `json:"shared,omitempty"`
	Clusters []Cluster       `json:"clusters,omitempty"`
	// Rounds is how many times the worker evaluated the fleet (a second round when a check that
	// spans clusters compared clusters of different batches; see evalworker's loadBatched).
	Rounds int `json:"rounds,omitempty"`
	// Error is an I/O or internal failure of the load (nothing else is sent).
	Error string `json:"error,omitempty"`
}

// Cluster is what the rollout needs of a cluster before it is synced (reconciler/fleet's
// LoadedCluster is this type).
type Cluster struct {
	Name string `json:"name"`
	// Context is the kubeconfig context it is reached through.
	Context string            `json:"context"`
	Labels  map[string]string `json:"labels,omitempty"`
	// Mode is how a fleet controller reaches it: "push" or "pull" (its own agent syncs it).
	Mode string `json:"mode,omitempty"`
	// Declared is false when its folder holds no `cluster` declaration.
	Declared bool `json:"declared"`
	// Unevaluated, when set, says why its evaluation was stopped (the budget): its labels are unknown.
	Unevaluated string `json:"unevaluated,omitempty"`
	VMs         int    `json:"vms"`
	// Errors are its findings of severity error (the shared definitions' included): it is not
	// synced when there is any.
	Errors diag.List `json:"errors,omitempty"`
}

// Valid reports whether the cluster has no error: only a valid cluster is rendered and synced.
func (c *Cluster) Valid() bool { return len(c.Errors) == 0 }

// Answer is one cluster's desired state, or why it has none: the file File(out, cluster).
type Answer struct {
	Cluster     string                `json:"cluster"`
	Objects     []json.RawMessage     `json:"objects,omitempty"`
	DriftIgnore map[string][][]string `json:"driftIgnore"`
	// VMs are the owners of each VM's fields (Desired.VMs: derived MACs, power state).
	VMs   map[string]reconciler.VMOwners `json:"vms,omitempty"`
	Prune reconciler.PrunePolicy         `json:"prune"`
	Fleet string                         `json:"fleet"`
	// Error says why the cluster was not rendered (Objects is empty).
	Error string `json:"error,omitempty"`
}

// File is where a cluster's answer is kept in dir: its name hex-encoded (any cluster name is a
// file name).
func File(dir, cluster string) string {
	return filepath.Join(dir, "cluster-"+hex.EncodeToString([]byte(cluster))+".json")
}

// NewAnswer encodes a cluster's desired state.
func NewAnswer(d *reconciler.Desired) (*Answer, error) {
	a := &Answer{Cluster: d.Cluster, Fleet: d.Fleet, DriftIgnore: d.DriftIgnore, Prune: d.Prune, VMs: d.VMs,
		Objects: make([]json.RawMessage, len(d.Objects))}
	for i, o := range d.Objects {
		raw, err := json.Marshal(o.Object)
		if err != nil {
			return nil, fmt.Errorf("encoding %s %s: %w", o.GetKind(), o.GetName(), err)
		}
		a.Objects[i] = raw
	}
	return a, nil
}

// Write writes a cluster's answer to its file of dir.
func Write(dir string, a *Answer) error {
	data, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encoding cluster %s: %w", diag.Name(a.Cluster), err)
	}
	if err := os.WriteFile(File(dir, a.Cluster), data, 0o600); err != nil {
		return fmt.Errorf("writing cluster %s: %w", diag.Name(a.Cluster), err)
	}
	return nil
}

// ErrNotWritten: the cluster has no file in the folder (it is not in the revision, or was not
// asked for).
var ErrNotWritten = errors.New("not in the revision")

// RenderError is a cluster the worker could not render (Answer.Error).
type RenderError struct {
	Cluster, Message string
}

func (e *RenderError) Error() string { return e.Message }

// Read reads a cluster's answer from its file of dir and decodes its desired state. A missing file
// is ErrNotWritten; an answer with an error is a *RenderError.
func Read(dir, cluster string) (*reconciler.Desired, error) {
	data, err := os.ReadFile(File(dir, cluster))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("cluster %s: %w", diag.Name(cluster), ErrNotWritten)
	}
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", diag.Name(cluster), err)
	}
	var a Answer
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("cluster %s: %w", diag.Name(cluster), err)
	}
	if a.Cluster != cluster {
		return nil, fmt.Errorf("asked for cluster %s, got %s", diag.Name(cluster), diag.Name(a.Cluster))
	}
	if a.Error != "" {
		return nil, &RenderError{Cluster: cluster, Message: a.Error}
	}
	d := &reconciler.Desired{Fleet: a.Fleet, Cluster: cluster, DriftIgnore: a.DriftIgnore, Prune: a.Prune, VMs: a.VMs,
		Objects: make([]*unstructured.Unstructured, len(a.Objects))}
	for i, raw := range a.Objects {
		obj := map[string]any{}
		// utiljson keeps integers int64, as rendered objects hold them.
		if err := utiljson.Unmarshal(raw, &obj); err != nil {
			return nil, fmt.Errorf("cluster %s, object %d: %w", diag.Name(cluster), i, err)
		}
		d.Objects[i] = &unstructured.Unstructured{Object: obj}
	}
	return d, nil
}
